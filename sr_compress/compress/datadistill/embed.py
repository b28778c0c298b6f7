"""Patch embeddings: a fixed random conv net, or the frozen teacher's features."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ...data.imresize import imresize
from ...errors import UserInputError
from .pool import PatchPool


class RandomConvEmbed(nn.Module):
    """A fixed, randomly initialised conv net; (mean, std) of its features per channel."""

    def __init__(self, width: int = 32, depth: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        layers: list[nn.Module] = []
        c = 3
        for _ in range(depth):
            conv = nn.Conv2d(c, width, 3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (c * 9)))
                if conv.bias is not None:
                    conv.bias.zero_()
            layers += [conv, nn.ReLU(inplace=False), nn.AvgPool2d(2)]
            c = width
        self.net = nn.Sequential(*layers).requires_grad_(False).eval()

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        f = self.net(hr)
        return torch.cat([f.mean((2, 3)), f.std((2, 3))], 1)


class TeacherFeatureEmbed(nn.Module):
    """Teacher features through a forward hook: the last conv output still at LR resolution
    (the deepest body feature, before upsampling), pooled to (mean, std) per channel."""

    def __init__(self, teacher: nn.Module, scale: int) -> None:
        super().__init__()
        self.teacher = teacher
        self.scale = scale
        # body convs only: the sub-pixel conv (3*s^2 outputs) is also at LR resolution but holds
        # the RGB output in shuffled form, not features
        self._convs = [m for m in teacher.modules() if isinstance(m, nn.Conv2d)
                       and m.out_channels not in (1, 3, 3 * scale * scale)]
        if not self._convs:
            raise UserInputError("teacher has no conv layers to embed with; use --embed random")

    def forward(self, hr: torch.Tensor) -> torch.Tensor:
        lr = imresize(hr, 1.0 / self.scale).clamp(0, 1)
        lr = lr.to(next(self.teacher.parameters()).device)
        lr_hw = lr.shape[-2:]
        last: list[torch.Tensor] = []

        def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            if out.shape[-2:] == lr_hw:
                last[:] = [out]

        handles = [m.register_forward_hook(hook) for m in self._convs]
        try:
            self.teacher(lr)
        finally:
            for h in handles:
                h.remove()
        if not last:
            raise UserInputError("teacher exposes no LR-resolution features; use --embed random")
        f = last[0]
        return torch.cat([f.mean((2, 3)), f.std((2, 3))], 1)


def embed_patches(embed: Callable[[torch.Tensor], torch.Tensor], pool: PatchPool, idx: torch.Tensor,
                  batch: int = 64) -> torch.Tensor:
    """L2-normalised embeddings of the pool patches ``idx``."""
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, len(idx), batch), desc="embedding", leave=False):
            out.append(embed(pool.float(idx[i : i + batch])))
    return F.normalize(torch.cat(out), dim=1)
