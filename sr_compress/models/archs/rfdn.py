"""RFDN — Residual Feature Distillation Network (Liu et al., ECCVW 2020 / AIM 2020 ESR winner).

Checkpoint layout (``njulj/RFDN`` ``trained_model/RFDN_AIM.pth``): ``fea_conv`` 3x3 3->C;
``B1..Bn`` RFDB blocks: three stages each with a 1x1 distillation conv ``ci_d`` (C->C/2) and a
3x3 refinement conv ``ci_r`` with a shallow residual (act(conv(x) + x)), a last 3x3 ``c4``
(C->C/2), LeakyReLU(0.05) everywhere, concat of the four C/2 parts -> 1x1 ``c5`` -> ESA
(RFDN style, f=C/4); ``c`` 1x1 over the concatenated block outputs + LeakyReLU(0.05);
``LR_conv`` 3x3 + global skip; ``upsampler`` conv + PixelShuffle. Trained on RGB in [0, 255]
(``img_range`` 255, scaled inside the module; descriptor convention [0, 1]).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._esa import ESA, ESA_MIN_SIZE
from ._util import StateDict, conv, count_indexed, pixelshuffle_block, scale_from_shuffle, shape


class RFDB(nn.Module):
    def __init__(self, channels: int, distilled: int, esa_channels: int) -> None:
        super().__init__()
        self.c1_d = nn.Conv2d(channels, distilled, 1)
        self.c1_r = conv(channels, channels, 3)
        self.c2_d = nn.Conv2d(channels, distilled, 1)
        self.c2_r = conv(channels, channels, 3)
        self.c3_d = nn.Conv2d(channels, distilled, 1)
        self.c3_r = conv(channels, channels, 3)
        self.c4 = conv(channels, distilled, 3)
        self.act = nn.LeakyReLU(0.05)
        self.c5 = nn.Conv2d(distilled * 4, channels, 1)
        self.esa = ESA(channels, esa_channels, rfdn_style=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.act(self.c1_d(x))
        r1 = self.act(self.c1_r(x) + x)
        d2 = self.act(self.c2_d(r1))
        r2 = self.act(self.c2_r(r1) + r1)
        d3 = self.act(self.c3_d(r2))
        r3 = self.act(self.c3_r(r2) + r2)
        d4 = self.act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, d4], dim=1)))


class RFDN(nn.Module):
    def __init__(self, num_feat: int = 50, num_blocks: int = 4, scale: int = 4, distilled: int | None = None,
                 esa_channels: int | None = None, in_ch: int = 3, out_ch: int = 3, img_range: float = 255.0) -> None:
        super().__init__()
        self.img_range = img_range
        distilled = distilled or num_feat // 2
        esa_channels = esa_channels or num_feat // 4
        self.num_blocks = num_blocks
        self.fea_conv = conv(in_ch, num_feat, 3)
        for i in range(1, num_blocks + 1):
            setattr(self, f"B{i}", RFDB(num_feat, distilled, esa_channels))
        self.c = nn.Sequential(nn.Conv2d(num_feat * num_blocks, num_feat, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv(num_feat, num_feat, 3)
        self.upsampler = pixelshuffle_block(num_feat, out_ch, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.img_range
        fea = self.fea_conv(x)
        outs = []
        h = fea
        for i in range(1, self.num_blocks + 1):
            h = getattr(self, f"B{i}")(h)
            outs.append(h)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea) / self.img_range


def _detect(sd: StateDict) -> bool:
    return all(k in sd for k in ("fea_conv.weight", "B1.c1_d.weight", "B1.c1_r.weight", "B1.esa.conv_max.weight",
                                 "c.0.weight", "LR_conv.weight", "upsampler.0.weight"))


def _hparams(sd: StateDict) -> dict[str, Any]:
    nf, in_ch = shape(sd, "fea_conv.weight")[:2]
    return {
        "num_feat": nf,
        "num_blocks": count_indexed(sd, r"^B(\d+)\.c1_d\.weight$"),
        "scale": scale_from_shuffle(shape(sd, "upsampler.0.weight")[0], 3),
        "distilled": shape(sd, "B1.c1_d.weight")[0],
        "esa_channels": shape(sd, "B1.esa.conv1.weight")[0],
        "in_ch": in_ch,
        "out_ch": 3,
        # the official weights were trained on [0, 255] inputs (verified: Set5 PSNR matches the paper)
        "img_range": 255.0,
    }


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return RFDN(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="rfdn",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=ESA_MIN_SIZE),
    description="RFDN (Liu et al. 2020): residual feature distillation blocks with ESA",
))
