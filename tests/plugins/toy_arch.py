"""A toy architecture: conv → ReLU → conv → pixel shuffle, recognised by its own key names."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sr_compress.models.registry import ArchSpec, SizeRequirements, StateDict, register_arch


class ToyNet(nn.Module):
    def __init__(self, num_feat: int = 8, scale: int = 2) -> None:
        super().__init__()
        self.toy_head = nn.Conv2d(3, num_feat, 3, padding=1)
        self.toy_up = nn.Conv2d(num_feat, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.toy_up(torch.relu(self.toy_head(x))))


def _hparams(sd: StateDict) -> dict[str, Any]:
    return {"num_feat": int(sd["toy_head.weight"].shape[0]),
            "scale": int(round((sd["toy_up.weight"].shape[0] // 3) ** 0.5))}


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return ToyNet(**hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="toy",
    detect=lambda sd: "toy_head.weight" in sd and "toy_up.weight" in sd,
    build=_build,
    from_hparams=lambda hp: ToyNet(**hp),
    size_requirements=SizeRequirements(minimum=1),
    description="a two-conv toy network (tests/plugins)",
))
