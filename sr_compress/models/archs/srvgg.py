"""SRVGGNetCompact (Wang et al., Real-ESRGAN, ICCVW 2021) — also the ``srvgg:c{C}b{B}`` student.

A plain VGG-style body at LR resolution: ``body.0`` 3x3 conv 3->C, ``body.1`` PReLU(C), then
B times (3x3 conv C->C, PReLU), a last 3x3 conv C->3*s^2, PixelShuffle, plus the
nearest-neighbour upsampled input (so the body learns a residual). Same keys as the official
``realesr-general-x4v3.pth`` / ``realesr-animevideov3.pth`` (their ``params`` wrapper is
unwrapped by the loader). Input/output [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import GENERIC, ArchSpec, SizeRequirements, register_arch
from ._util import StateDict, conv, indices, scale_from_shuffle, shape


class SRVGGNetCompact(nn.Module):
    def __init__(self, num_feat: int = 64, num_conv: int = 16, scale: int = 4, in_ch: int = 3,
                 out_ch: int = 3) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [conv(in_ch, num_feat, 3), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [conv(num_feat, num_feat, 3), nn.PReLU(num_feat)]
        layers.append(conv(num_feat, out_ch * scale * scale, 3))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def _detect(sd: StateDict) -> bool:
    if "body.0.weight" not in sd or "body.1.weight" not in sd:
        return False
    idx = indices(sd, r"^body\.(\d+)\.weight$")
    if len(idx) < 3 or idx != list(range(idx[-1] + 1)) or idx[-1] % 2:
        return False
    # even entries are convs (4-D), odd ones PReLU slopes (1-D), nothing else in the dict
    ok = all(sd[f"body.{i}.weight"].dim() == (4 if i % 2 == 0 else 1) for i in idx)
    extra = [k for k in sd if not k.startswith("body.")]
    return ok and not extra


def _hparams(sd: StateDict) -> dict[str, Any]:
    nf, in_ch = shape(sd, "body.0.weight")[:2]
    last = indices(sd, r"^body\.(\d+)\.weight$")[-1]
    return {
        "num_feat": nf,
        "num_conv": (last - 2) // 2,
        "scale": scale_from_shuffle(shape(sd, f"body.{last}.weight")[0], 3),
        "in_ch": in_ch,
        "out_ch": 3,
    }


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return SRVGGNetCompact(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="srvgg",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=1),
    description="SRVGGNetCompact (Real-ESRGAN compact); the srvgg:cCbB student",
    priority=GENERIC,  # "only body.N convs + PReLUs" is a pattern, not a family signature
))
