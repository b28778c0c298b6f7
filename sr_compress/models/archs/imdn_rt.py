"""IMDN-RTC and IMDN-RTE: the real-time variants shipped with IMDN (``Zheng222/IMDN``, checkpoints
``model_RTC.pth`` / ``model_RTE.pth``; AIM 2019 constrained-SR / real-time entries).

IMDN-RTC (keys ``model.N``): 3x3 conv 3->nf; a shortcut around (n IMDB blocks *without* CCA:
c1..c4 progressive distillation with LeakyReLU(0.05), 1x1 ``c5`` fusion + residual, then a
1x1 conv); 3x3 conv to 3*s^2 + PixelShuffle. nf=12, 5 blocks, x2.

IMDN-RTE (keys ``fea_conv/blockK/LR_conv/upsampler``): ``fea_conv`` = 3x3 conv, ReLU, bias-free
3x3 conv with stride 2 (works at half resolution); six bias-free "large" distillation blocks
(five progressive 3x3 stages peeling off nf/4 channels each, ReLU, the six distilled parts
fused by a 1x1 ``c7`` + residual); bias-free 1x1 ``LR_conv`` + skip; the upsampler undoes the
stride: conv to 3*(2s)^2 + PixelShuffle(2s). The shipped file has a PixelShuffle(4) head on a
stride-2 body, i.e. x2. Needs even input sizes. RTC takes RGB in [0, 1]; the RTE weights work
on [0, 255] (Set5 x2: 17.5 dB at [0, 1], 35.41 dB at [0, 255]; scaled inside the module). No
published Set5 figure exists for either; RTE looks trained for a different degradation than
MATLAB bicubic (it stays well below RTC on bicubic Set5).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._util import (
    StateDict,
    conv,
    count_indexed,
    has_keys,
    indices,
    pixelshuffle_block,
    scale_from_shuffle,
    shape,
)


class IMDBSpeed(nn.Module):
    """IMDB without the channel attention."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.d = nf // 4
        self.r = nf - self.d
        self.c1 = conv(nf, nf, 3)
        self.c2 = conv(self.r, nf, 3)
        self.c3 = conv(self.r, nf, 3)
        self.c4 = conv(self.r, self.d, 3)
        self.c5 = nn.Conv2d(self.d * 4, nf, 1)
        self.act = nn.LeakyReLU(0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = [self.d, self.r]
        d1, r1 = torch.split(self.act(self.c1(x)), split, dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), split, dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), split, dim=1)
        return self.c5(torch.cat([d1, d2, d3, self.c4(r3)], dim=1)) + x


class _Shortcut(nn.Module):
    def __init__(self, sub: nn.Sequential) -> None:
        super().__init__()
        self.sub = sub

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sub(x)


class IMDNRTC(nn.Module):
    def __init__(self, num_feat: int = 12, num_blocks: int = 5, scale: int = 2) -> None:
        super().__init__()
        body = nn.Sequential(*[IMDBSpeed(num_feat) for _ in range(num_blocks)], nn.Conv2d(num_feat, num_feat, 1))
        self.model = nn.Sequential(conv(3, num_feat, 3), _Shortcut(body), *pixelshuffle_block(num_feat, 3, scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class IMDBLarge(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        d = self.d = nf // 4
        r = nf - d
        self.c1 = conv(nf, nf, 3, bias=False)
        self.c2 = conv(r, nf, 3, bias=False)
        self.c3 = conv(r, nf, 3, bias=False)
        self.c4 = conv(r, r, 3, bias=False)
        self.c5 = conv(r - d, r - d, 3, bias=False)
        self.c6 = conv(d, d, 3, bias=False)
        self.c7 = nn.Conv2d(d * 6, nf, 1, bias=False)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.d
        parts = []
        h = x
        for layer in (self.c1, self.c2, self.c3, self.c4, self.c5):
            out = self.act(layer(h))
            parts.append(out[:, :d])
            h = out[:, d:]
        parts.append(self.act(self.c6(h)))
        return self.c7(torch.cat(parts, dim=1)) + x


class IMDNRTE(nn.Module):
    def __init__(self, num_feat: int = 20, num_blocks: int = 6, scale: int = 2, img_range: float = 255.0) -> None:
        super().__init__()
        self.img_range = img_range
        self.num_blocks = num_blocks
        self.fea_conv = nn.Sequential(conv(3, num_feat, 3), nn.ReLU(inplace=True),
                                      conv(num_feat, num_feat, 3, bias=False, stride=2))
        for i in range(1, num_blocks + 1):
            setattr(self, f"block{i}", IMDBLarge(num_feat))
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 1, bias=False)
        self.upsampler = pixelshuffle_block(num_feat, 3, scale * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(x * self.img_range)
        h = fea
        for i in range(1, self.num_blocks + 1):
            h = getattr(self, f"block{i}")(h)
        return self.upsampler(self.LR_conv(h) + fea) / self.img_range


def _detect_rtc(sd: StateDict) -> bool:
    return has_keys(sd, ("model.0.weight", "model.1.sub.0.c1.weight", "model.1.sub.0.c5.weight")) \
        and "model.1.sub.0.cca.conv_du.0.weight" not in sd


def _hparams_rtc(sd: StateDict) -> dict[str, Any]:
    n = count_indexed(sd, r"^model\.1\.sub\.(\d+)\.c1\.weight$")
    last = indices(sd, r"^model\.(\d+)\.weight$")[-1]
    return {"num_feat": shape(sd, "model.0.weight")[0], "num_blocks": n,
            "scale": scale_from_shuffle(shape(sd, f"model.{last}.weight")[0], 3)}


def _detect_rte(sd: StateDict) -> bool:
    return has_keys(sd, ("fea_conv.0.weight", "fea_conv.2.weight", "block1.c7.weight", "LR_conv.weight",
                         "upsampler.0.weight"))


def _hparams_rte(sd: StateDict) -> dict[str, Any]:
    up = scale_from_shuffle(shape(sd, "upsampler.0.weight")[0], 3)
    return {"num_feat": shape(sd, "fea_conv.0.weight")[0],
            "num_blocks": count_indexed(sd, r"^block(\d+)\.c1\.weight$"), "scale": up // 2,
            "img_range": 255.0}


def _builder(hparams, cls):  # noqa: ANN001, ANN202 - tiny local factory
    def build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
        hp = hparams(sd)
        return cls(**hp), hp, hp["scale"]
    return build


register_arch(ArchSpec(
    name="imdn_rtc", detect=_detect_rtc, build=_builder(_hparams_rtc, IMDNRTC),
    from_hparams=lambda hp: IMDNRTC(**hp), size_requirements=SizeRequirements(minimum=1),
    description="IMDN-RTC: 12-channel real-time IMDN without CCA",
))
register_arch(ArchSpec(
    name="imdn_rte", detect=_detect_rte, build=_builder(_hparams_rte, IMDNRTE),
    from_hparams=lambda hp: IMDNRTE(**hp), size_requirements=SizeRequirements(minimum=2, multiple_of=2),
    description="IMDN-RTE: stride-2 real-time IMDN with large distillation blocks",
))
