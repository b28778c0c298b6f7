"""``sr-compress validate``: fidelity of every artifact of an export directory vs PyTorch and GT."""

from __future__ import annotations

from pathlib import Path

import click


def split_paths(text: tuple[str, ...] | str) -> list[str]:
    items = [text] if isinstance(text, str) else list(text)
    return [p.strip() for t in items for p in t.split(",") if p.strip()]


@click.command("validate")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--data", "data", multiple=True, required=True,
              help="Dataset folder(s), comma-separated or repeated (benchmark layout or plain HR images).")
@click.option("--tile", type=int, default=None, help="LR tile size (default: full images).")
@click.option("--overlap", type=int, default=8, show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads per backend.")
@click.option("--artifact", "artifacts", multiple=True, help="Only these artifact names (default: all).")
def command(directory: Path, data: tuple[str, ...], tile: int | None, overlap: int, threads: int | None,
            artifacts: tuple[str, ...]) -> None:
    """Run every artifact in DIRECTORY and the PyTorch reference on --data; write validation.md/json."""
    import torch

    from ..evaluate.validate import render_console, validate_export

    if threads:
        torch.set_num_threads(threads)
    res = validate_export(directory, split_paths(data), tile, overlap, threads, only=list(artifacts) or None)
    click.echo(render_console(res))
    click.echo(f"wrote {Path(directory) / 'validation.md'}, validation.json"
               + (f", {res['worst_image']['png']}" if "worst_image" in res else ""))
