"""``sr-compress validate``: fidelity of every artifact of an export directory vs PyTorch and GT."""

from __future__ import annotations

from pathlib import Path

import click

from ..backends import runner_choices


def split_paths(text: tuple[str, ...] | str) -> list[str]:
    items = [text] if isinstance(text, str) else list(text)
    return [p.strip() for t in items for p in t.split(",") if p.strip()]


def select_artifacts(directory: Path, artifacts: tuple[str, ...], backends: tuple[str, ...]) -> list[str] | None:
    """--artifact names plus every artifact of the --backend backends (None = all)."""
    if not backends:
        return list(artifacts) or None
    from ..backends import read_manifest
    from ..errors import UserInputError

    manifest = read_manifest(directory)
    names = [*artifacts, *(a.name for a in manifest.artifacts if a.backend in backends)]
    if not names:
        have = ", ".join(sorted({a.backend for a in manifest.artifacts})) or "none"
        raise UserInputError(f"--backend {','.join(backends)}: no such artifact in {directory} (backends: {have})")
    return list(dict.fromkeys(names))


@click.command("validate")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--data", "data", multiple=True, required=True,
              help="Dataset folder(s), comma-separated or repeated (benchmark layout or plain HR images).")
@click.option("--tile", type=int, default=None, help="LR tile size (default: full images).")
@click.option("--overlap", type=int, default=8, show_default=True)
@click.option("--threads", type=int, default=None, help="CPU threads per backend.")
@click.option("--artifact", "artifacts", multiple=True, help="Only these artifact names (default: all).")
@click.option("--backend", "backends", multiple=True, type=click.Choice(runner_choices()),
              help="Only the artifacts of these backends (repeatable).")
@click.option("--compare", "compare", is_flag=True,
              help="Also write validation_compare.html: the worst image's dataset, every artifact side by side.")
def command(directory: Path, data: tuple[str, ...], tile: int | None, overlap: int, threads: int | None,
            artifacts: tuple[str, ...], backends: tuple[str, ...], compare: bool) -> None:
    """Run every artifact in DIRECTORY and the PyTorch reference on --data; write validation.md/json."""
    import torch

    from ..evaluate.compare import write_worst_compare
    from ..evaluate.validate import render_console, validate_export

    if threads:
        torch.set_num_threads(threads)
    only = select_artifacts(directory, artifacts, backends)
    paths: list[str | Path] = [*split_paths(data)]
    res = validate_export(directory, paths, tile, overlap, threads, only=only)
    click.echo(render_console(res))
    page = write_worst_compare(directory, paths, res, tile) if compare else None
    if page is not None:
        click.echo(f"wrote {page} (worst image: {res['worst_image']['compare']})")
    click.echo(f"wrote {Path(directory) / 'validation.md'}, validation.json"
               + (f", {res['worst_image']['png']}" if "worst_image" in res else ""))
