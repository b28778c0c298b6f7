"""``sr-compress train``: train an SR model from scratch on HR images degraded on the fly.

Used for PDD's blind "generalist" (``--degradation realesrgan``). It is the engine's ``scratch``
method (L1 to the ground truth) run on a :class:`~sr_compress.data.degradations.DegradedPairDataset`
(``data.degradation``), so it gets the engine's checkpoints, ``--resume``, EMA, logs and report.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserInputError
from ._choices import RegistryChoice, degradations


@click.command("train")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML recipe (e.g. configs/train/generalist_x4.yaml); flags override it.")
@click.option("--degradation", type=RegistryChoice(degradations), default=None,
              help="How LR inputs are synthesised from HR crops (default realesrgan).")
@click.option("--arch", default=None, help="Network spec, e.g. srvgg:c32b8, edsr:c32b4.")
@click.option("--init", "init", default=None, type=click.Path(dir_okay=False),
              help="Start from this checkpoint's weights (e.g. a bicubic-trained RLFN-S); "
                   "--arch defaults to its architecture.")
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
def command(config: str | None, degradation: str | None, arch: str | None, init: str | None, data: tuple[str, ...],
            scale: int | None, iterations: int | None, batch_size: int | None, patch_size: int | None,
            lr: float | None, seed: int | None, val: tuple[str, ...], out: str, resume: bool,
            no_progress: bool) -> None:
    """Train a (blind) SR model: sr-compress train --degradation realesrgan --arch srvgg:c32b8 --data HR_DIR."""
    from ..compress.engine import load_distill_config, run_distillation
    from ..config import read_yaml

    base = read_yaml(config) if config else {}
    if base.get("method", "scratch") != "scratch":
        raise UserInputError(f"{config}: 'method' must be scratch for sr-compress train (use sr-compress distill)")
    if init and not arch:
        arch = _arch_of(init, scale or int(base.get("scale", 4)))
    overrides = {
        "method": "scratch",
        "student": arch,
        "init": init,
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


def _arch_of(init: str, scale: int) -> str:
    from ..models.load import load_model
    from ..models.students import STUDENT_FAMILIES, student_spec_for

    desc = load_model(init, scale)
    spec = student_spec_for(desc)
    if spec is None:
        raise UserInputError(
            f"--init {init}: a {desc.arch} network is not one of the trainable families "
            f"({', '.join(STUDENT_FAMILIES)}) "
            "with matching settings; pass --arch with a student spec that has its weights' shapes"
        )
    return spec
