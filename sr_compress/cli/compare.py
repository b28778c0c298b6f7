"""``sr-compress compare``: one self-contained HTML page comparing models image by image."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("compare")
@click.argument("models", nargs=-1, required=True)
@click.option("--data", "data", required=True, help="Benchmark folder (HR/ + LR_bicubic/X<s>/, or HR images only).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="HTML file to write.")
@click.option("--scale", type=int, default=None, help="Upscaling factor (default: the first model's).")
@click.option("--max-images", type=int, default=12, show_default=True, help="Images on the page (size grows with each).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--tile", type=int, default=None, help="Tile size for exported models.")
def command(models: tuple[str, ...], data: str, out: Path, scale: int | None, max_images: int, device: str,
            tile: int | None) -> None:
    """Compare MODELS (checkpoints, export directories, artifacts; NAME=PATH to label one) on --data.

    \b
        sr-compress compare student.pth exports/rlfn_x4 --data ../shared/data/benchmarks/Set5 --out view.html
    """
    from ..evaluate.compare import load_labelled, write_compare_page

    upscalers, scale = load_labelled(models, scale, device, tile)
    assert scale is not None
    n = write_compare_page(upscalers, data, scale, out, max_images)
    click.echo(f"wrote {out} ({n} images, {out.stat().st_size / 1e6:.1f} MB); open it in a browser")
