"""``sr-compress distill``: train a compact student with a distillation method."""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

import click

from ..config import parse_set
from ..errors import ConfigError
from ._choices import RegistryChoice, methods


def _split_paths(values: tuple[str, ...]) -> list[str] | None:
    out = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return out or None


def _method_name(method: str | None, config: str | None) -> str:
    if method:
        return method
    if config:
        from ..config import read_yaml

        return str(read_yaml(config).get("method", "scratch"))
    return "scratch"


@click.command("distill")
@click.option("--method", "-m", type=RegistryChoice(methods), default=None,
              help="Distillation method (default: the config's).")
@click.option("--config", "-c", type=click.Path(dir_okay=False), default=None,
              help="Recipe YAML or shipped recipe name (e.g. dukd_x4); every flag below overrides it.")
@click.option("--teacher", "-t", default=None, help="Teacher checkpoint path or zoo name.")
@click.option("--student", "-s", default=None, help="Student spec, e.g. edsr:c32b4, rlfn:c32b4, srvgg:c32b8, or 'teacher' (a trainable copy of it; PDD's default).")
@click.option("--init", "init", default=None,
              help="Start from this checkpoint; without --student it IS the student (e.g. a pruned network).")
@click.option("--scale", type=int, default=None, help="Upscaling factor (2, 3, 4).")
@click.option("--data", "-d", multiple=True, help="Training HR folder(s); repeat or comma-separate.")
@click.option("--val", multiple=True, help="Validation benchmark folder(s) (HR + LR_bicubic layout or HR only).")
@click.option("--real-lr", multiple=True, help="Unpaired real LR folder(s) (PDD).")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Run directory (default: runs/distill/<method>-x<scale>-<time>).")
@click.option("--iterations", "-n", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--patch-size", type=int, default=None, help="LR patch side in pixels.")
@click.option("--lr", type=float, default=None, help="Student learning rate.")
@click.option("--seed", type=int, default=None)
@click.option("--ema", type=float, default=None, help="EMA decay of the student (0 disables).")
@click.option("--scheduler", type=click.Choice(["cosine", "multistep", "constant"]), default=None)
@click.option("--clip-grad", type=float, default=None)
@click.option("--mixed-precision", type=click.Choice(["no", "fp16", "bf16"]), default=None)
@click.option("--checkpoint-every", type=int, default=None)
@click.option("--val-every", type=int, default=None)
@click.option("--num-workers", type=int, default=None)
@click.option("--generator", default=None, help="Data-free generator kind (datafree: 'gan', 'noise' or 'frozen').")
@click.option("--feature-weights", default=None, help="Local VGG19 weights for PDD's feature extractor.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any other config value, dotted (repeatable): --set dukd.q=0.5 --set train.gamma=0.5")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def command(method: str | None, config: str | None, teacher: str | None, student: str | None, init: str | None,
            scale: int | None,
            data: tuple[str, ...], val: tuple[str, ...], real_lr: tuple[str, ...], out: str | None,
            iterations: int | None, batch_size: int | None, patch_size: int | None, lr: float | None,
            seed: int | None, ema: float | None, scheduler: str | None, clip_grad: float | None,
            mixed_precision: str | None, checkpoint_every: int | None, val_every: int | None,
            num_workers: int | None, generator: str | None, feature_weights: str | None,
            sets: tuple[str, ...], resume: bool, no_progress: bool) -> None:
    """Distill a teacher into a compact student (one accelerate loop; works with `accelerate launch`)."""
    from ..compress.engine import load_distill_config, run_distillation

    if resume and config is None and out is not None and (Path(out) / "config.yaml").is_file():
        config = str(Path(out) / "config.yaml")
    if config is not None:
        from ..recipes import resolve_recipe

        config = str(resolve_recipe(config, "distill"))
    name = _method_name(method, config)
    overrides: dict[str, Any] = {
        "method": method,
        "teacher": teacher,
        "student": student or ("init" if init else None),
        "init": init,
        "scale": scale,
        "data.path": _split_paths(data),
        "data.val": _split_paths(val),
        "data.real_lr": _split_paths(real_lr),
        "data.batch_size": batch_size,
        "data.patch_size": patch_size,
        "data.num_workers": num_workers,
        "train.iterations": iterations,
        "train.lr": lr,
        "train.seed": seed,
        "train.ema_decay": ema,
        "train.scheduler": scheduler,
        "train.clip_grad": clip_grad,
        "train.mixed_precision": mixed_precision,
        "train.checkpoint_every": checkpoint_every,
        "train.val_every": val_every,
        f"{name}.generator": generator,
        f"{name}.feature_weights": feature_weights,
    }
    overrides.update(parse_set(sets))
    if resume and out is None:
        raise ConfigError("--resume needs --out DIR (the run directory to continue)")
    if resume and config is None and (Path(out) / "config.yaml").is_file():  # type: ignore[arg-type]
        # the run directory's resolved config is itself a valid recipe
        config = str(Path(out) / "config.yaml")  # type: ignore[arg-type]
    cfg = load_distill_config(config, overrides)
    if out is None:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            # a per-process timestamp could differ between the processes of one launch
            raise ConfigError("--out DIR is required under accelerate launch / torchrun "
                              "(every process must write the same run directory)")
        out = f"runs/distill/{cfg.method}-x{cfg.scale}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        result = run_distillation(cfg, Path(out), resume=resume, progress=not no_progress)
    except KeyboardInterrupt:
        _resume_hint(Path(out))
        raise
    if not result.main_process:
        return
    if not result.completed:
        click.echo(f"stopped at iteration {result.metrics.get('stopped_at')}; continue with --resume --out {out}")
        return
    m = result.metrics
    click.echo(f"student: {result.out_dir / 'student.pth'}  ({result.student.params:,} params, "
               f"{m['iterations']} iterations in {m['train_time_s']:.1f} s)")
    for model, sets_ in (m.get("final") or {}).items():
        cells = "  ".join(f"{n} {r['psnr']:.2f} dB / {r['ssim']:.4f}" for n, r in sets_.items())
        click.echo(f"  {model:8s} {cells}")
    click.echo(f"report: {result.out_dir / 'report.md'}")



def _resume_hint(out: Path) -> None:
    """After Ctrl-C: the exact command that continues the run (its config.yaml has every option)."""
    from ..compress.checkpoint import list_checkpoints

    if os.environ.get("RANK", "0") != "0":  # one message per launch, not one per process
        return
    found = list_checkpoints(out / "checkpoints")
    if not found:
        click.echo(f"\ninterrupted: no checkpoint yet in {out}; run the same command again to start over", err=True)
        return
    click.echo(f"\ninterrupted; the last checkpoint is at iteration {found[-1][0]}. Continue with:\n"
               f"  sr-compress distill --resume --out {shlex.quote(str(out))}", err=True)
