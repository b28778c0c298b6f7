"""``sr-compress train``: train an SR model from scratch on HR images degraded on the fly.

Used for PDD's blind "generalist" (``--degradation realesrgan``). It is the engine's ``scratch``
method (L1 to the ground truth) run on a :class:`~sr_compress.data.degradations.DegradedPairDataset`
(``data.degradation``), so it gets the engine's checkpoints, ``--resume``, EMA, logs and report.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserInputError


@click.command("train")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML recipe (e.g. configs/train/generalist_x4.yaml); flags override it.")
@click.option("--degradation", type=click.Choice(["realesrgan", "bicubic", "resize", "fixed"]), default=None,
              help="How LR inputs are synthesised from HR crops (default realesrgan).")
@click.option("--arch", default=None, help="Network spec, e.g. srvgg:c32b8, edsr:c32b4.")
@click.option("--data", "data", multiple=True, type=click.Path(), help="HR image folder (repeatable).")
@click.option("--scale", type=int, default=None)
@click.option("--iterations", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--patch-size", type=int, default=None, help="LR patch side.")
@click.option("--lr", type=float, default=None, help="Learning rate.")
@click.option("--seed", type=int, default=None)
@click.option("--val", multiple=True, type=click.Path(), help="Benchmark folder for validation (repeatable).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--no-progress", is_flag=True)
def command(config: str | None, degradation: str | None, arch: str | None, data: tuple[str, ...],
            scale: int | None, iterations: int | None, batch_size: int | None, patch_size: int | None,
            lr: float | None, seed: int | None, val: tuple[str, ...], out: str, resume: bool,
            no_progress: bool) -> None:
    """Train a (blind) SR model: sr-compress train --degradation realesrgan --arch srvgg:c32b8 --data HR_DIR."""
    from ..compress.engine import load_distill_config, run_distillation
    from ..config import read_yaml

    base = read_yaml(config) if config else {}
    if base.get("method", "scratch") != "scratch":
        raise UserInputError(f"{config}: 'method' must be scratch for sr-compress train (use sr-compress distill)")
    overrides = {
        "method": "scratch",
        "student": arch,
        "scale": scale,
        "data.path": list(data) or None,
        "data.val": list(val) or None,
        "data.batch_size": batch_size,
        "data.patch_size": patch_size,
        "data.degradation": degradation or (None if base.get("data", {}).get("degradation") else "realesrgan"),
        "train.iterations": iterations,
        "train.lr": lr,
        "train.seed": seed,
    }
    cfg = load_distill_config(config, overrides)
    click.echo(f"train {cfg.student} x{cfg.scale} on {', '.join(cfg.data.path)} "
               f"(degradation {cfg.data.degradation}, {cfg.train.iterations} iterations)")
    result = run_distillation(cfg, Path(out), resume=resume, progress=not no_progress)
    click.echo(f"wrote {result.out_dir / 'student.pth'} ({result.metrics.get('train_time_s', '?')} s)")
