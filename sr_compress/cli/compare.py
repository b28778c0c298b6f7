"""``sr-compress compare``: one self-contained HTML page comparing models image by image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    from ..data.datasets import dataset_name, load_benchmark
    from ..evaluate.compare import collect, render_page
    from ..evaluate.sr_eval import load_upscaler
    from ..metrics.sr import PROTOCOL

    upscalers: list[tuple[str, Any]] = []
    for spec in models:
        label, sep, path = spec.partition("=")
        if not sep or "/" in label:
            label, path = "", spec
        fn, s, info = load_upscaler(path, scale, device, tile)
        scale = scale or s
        label = label or Path(path).stem or path
        taken = {lb for lb, _ in upscalers} | {"bicubic", "HR"}
        base, k = label, 2
        while label in taken:  # two models with one name would share a column
            label, k = f"{base}-{k}", k + 1
        upscalers.append((label, fn))
    assert scale is not None
    bench = load_benchmark(data, scale)
    items = collect(upscalers, bench, scale, max_images=max_images)
    page = render_page(items, f"{dataset_name(data)} x{scale}: {', '.join(lb for lb, _ in upscalers)}",
                       f"PSNR/SSIM: {PROTOCOL.describe(scale)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    click.echo(f"wrote {out} ({len(items)} images, {out.stat().st_size / 1e6:.1f} MB); open it in a browser")
