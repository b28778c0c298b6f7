"""``sr-compress bench``: latency/throughput of every artifact vs PyTorch eager."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..backends import runner_choices


@click.command("bench")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--size", "sizes", multiple=True, default=("256x256",), show_default=True,
              help="LR input HEIGHTxWIDTH (repeatable).")
@click.option("--batch", default="1,4", show_default=True, help="Batch sizes, comma-separated.")
@click.option("--runs", type=int, default=10, show_default=True, help="Timed runs per setting.")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed warm-up runs.")
@click.option("--threads", type=int, default=None, help="CPU threads per backend (default: all cores).")
@click.option("--compile/--no-compile", "use_compile", default=False, show_default=True,
              help="Also time torch.compile (slow: compiling can take minutes on a small CPU; skipped with a "
                   "note if it fails or times out).")
@click.option("--compile-timeout", type=float, default=240.0, show_default=True)
@click.option("--artifact", "artifacts", multiple=True, help="Only these artifact names.")
@click.option("--backend", "backends", multiple=True, type=click.Choice(runner_choices()),
              help="Only the artifacts of these backends (repeatable).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, help="Write results here.")
def command(directory: Path, sizes: tuple[str, ...], batch: str, runs: int, warmup: int, threads: int | None,
            use_compile: bool, compile_timeout: float, artifacts: tuple[str, ...], backends: tuple[str, ...],
            json_path: Path | None) -> None:
    """Time every artifact in DIRECTORY and PyTorch eager on the same inputs."""
    from ..errors import UserInputError
    from ..evaluate.bench import bench_export, parse_batches, parse_size, render_table
    from .validate import select_artifacts

    if runs < 1 or warmup < 0:
        raise UserInputError("--runs must be >= 1 and --warmup >= 0")
    res = bench_export(directory, [parse_size(s) for s in sizes], parse_batches(batch), runs, warmup, threads,
                       use_compile, select_artifacts(directory, artifacts, backends), compile_timeout=compile_timeout)
    click.echo(render_table(res))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(res, indent=2, default=str) + "\n")
        click.echo(f"wrote {json_path}")
