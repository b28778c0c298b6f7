"""``sr-compress pipeline CONFIG``: teacher → (distill) → (prune → recover) → (qat) → eval → export → validate → bench → gate."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("pipeline")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory (default: runs/<name>). Rerunning reuses finished stages.")
@click.option("--teacher", default=None, help="Teacher checkpoint or zoo name (overrides teacher.checkpoint).")
@click.option("--iterations", type=int, default=None, help="Override the distillation iteration budget.")
@click.option("--force", is_flag=True, help="Redo every stage even if it is up to date.")
def command(config: Path, out: Path | None, teacher: str | None, iterations: int | None, force: bool) -> None:
    """Run a whole pipeline from CONFIG (configs/pipeline/*.yaml) in one run directory."""
    from ..errors import UserInputError
    from ..pipeline.runner import load_pipeline_config, run_pipeline
    from ..recipes import resolve_recipe

    config = resolve_recipe(config, "pipeline", option="CONFIG")
    cfg = load_pipeline_config(config, {"teacher.checkpoint": teacher})
    if iterations is not None:
        if not cfg.distill.enabled:  # never a silent no-op
            raise UserInputError(f"--iterations sets the distill stage's budget, which {config} disables; "
                                 "set qat.iterations or recover.overrides in the config instead")
        cfg.distill.overrides = {**cfg.distill.overrides, "train.iterations": iterations}
    run_dir = out or Path("runs") / cfg.name
    result = run_pipeline(cfg, run_dir, force=force, log=lambda m: click.echo(m, err=True))
    click.echo(result.report_md.read_text() if result.report_md else "")
    click.echo(f"\nrun directory: {run_dir}")
