"""The frozen SR teacher and the embedding a config asks for."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ...errors import UserInputError
from .config import DataDistillConfig
from .embed import RandomConvEmbed, TeacherFeatureEmbed


def load_teacher(path: str, scale: int) -> nn.Module:
    """Frozen teacher through the model loader (our format, then spandrel)."""
    from ...models.load import load_model

    desc = load_model(path, scale=scale)
    if desc.scale != scale:
        raise UserInputError(f"--teacher {path}: a x{desc.scale} model, but --scale is {scale}")
    return desc.model.eval().requires_grad_(False)


def make_embed(cfg: DataDistillConfig, teacher: nn.Module | None) -> Callable[[torch.Tensor], torch.Tensor]:
    kind = cfg.embed
    if kind == "auto":
        kind = "teacher" if teacher is not None else "random"
    if kind == "teacher":
        if teacher is None:
            raise UserInputError("--embed teacher needs --teacher CKPT")
        return TeacherFeatureEmbed(teacher, cfg.scale)
    return RandomConvEmbed(seed=cfg.seed)
