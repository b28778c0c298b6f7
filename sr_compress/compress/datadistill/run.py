"""The driver: config → pool → distiller → output folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...errors import UserInputError
from .base import DistillContext, get_distiller
from .config import DataDistillConfig
from .output import write_output
from .pool import build_pool, source_files
from .teacher import load_teacher, make_embed


def run_data_distillation(cfg: DataDistillConfig, out: str | Path, device: str = "cpu",
                          teacher: nn.Module | None = None) -> dict[str, Any]:
    """Distil ``cfg.data`` into ``out`` (images/ + manifest.json); returns the manifest.

    ``teacher`` overrides loading ``cfg.teacher`` (for callers that already hold the module)."""
    out = Path(out)
    method = get_distiller(cfg.method)()
    if method.needs_teacher and not cfg.teacher and teacher is None:
        raise UserInputError(f"--method {cfg.method} needs --teacher CKPT (the frozen SR generator)")
    torch.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    dev = torch.device(device)
    if teacher is None and cfg.teacher:
        teacher = load_teacher(cfg.teacher, cfg.scale)
    if teacher is not None:
        teacher = teacher.to(dev).eval().requires_grad_(False)
    files = source_files(cfg.data)
    pool = build_pool(cfg, files)
    ctx = DistillContext(cfg, pool, teacher, make_embed(cfg, teacher), dev)
    items = method.distill(ctx)
    wall = time.perf_counter() - t0
    return write_output(out, items, cfg, files, wall, teacher, extra=getattr(method, "info", None))
