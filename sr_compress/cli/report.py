"""``sr-compress report PATHS... --out DIR``: the quality-speed Pareto table (Markdown, JSON) and PNG."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click


@click.command("report")
@click.argument("paths", nargs=-1, required=True)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--dataset", default=None, help="Dataset whose PSNR decides the front (default: the first, e.g. Set5).")
@click.option("--macs-size", type=int, default=256, show_default=True,
              help="LR side at which the MACs of evaluated checkpoints are counted (bench's default size).")
def command(paths: tuple[str, ...], out: Path, dataset: str | None, macs_size: int) -> None:
    """Join validate/bench results of export DIRS and `eval --json` files into pareto.md/json/png."""
    from ..errors import UserInputError
    from ..evaluate.pareto import collect, datasets_of, pareto_front
    from ..evaluate.pareto_plot import markdown, plot

    pts = collect(list(paths), macs_size=macs_size)
    sets = datasets_of(pts)
    ds = dataset or (sets[0] if sets else None)
    if ds is None or ds not in sets:
        raise UserInputError(f"--dataset {dataset}: the results cover {', '.join(sets) or 'no dataset'}")
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(pts, ds)
    (out / "pareto.md").write_text(md)
    front = [p.name for p in pareto_front(pts, ds)]
    (out / "pareto.json").write_text(json.dumps({"dataset": ds, "points": [asdict(p) for p in pts],
                                                 "front_latency": front}, indent=2))
    png = plot(pts, ds, out / "pareto.png")
    click.echo(md)
    click.echo(f"wrote {out / 'pareto.md'}, pareto.json" + (f", {png.name}" if png else " (no matplotlib: no PNG)"))
