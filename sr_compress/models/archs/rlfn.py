"""RLFN — Residual Local Feature Network (Kong et al., CVPRW 2022, arXiv:2205.07514).

Key layout of the official checkpoints (``bytedance/RLFN`` ``model_zoo/rlfn*_x{2,4}.pth``):
``conv_1`` 3x3 3->C; ``block_1..block_n`` (RLFB: three 3x3 convs ``c1_r`` C->M, ``c2_r`` M->M,
``c3_r`` M->C each followed by LeakyReLU(0.05), local residual, 1x1 ``c5``, ESA with 16
channels); ``conv_2`` 3x3 + global skip; ``upsampler`` 3x3 conv to 3*s^2 + PixelShuffle.
RLFN: C=M=52, RLFN-S: C=M=48, the NTIRE 2022 pruned entry: C=46, M=48, 4 blocks. The official weights were trained on
RGB in [0, 255] (``img_range`` 255, checked against the paper's Set5 PSNR); the module scales
internally so the descriptor convention stays [0, 1].

The same class is the ``rlfn:c{C}b{B}`` student (C=M, ESA 16).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._esa import ESA, ESA_MIN_SIZE
from ._util import StateDict, conv, count_indexed, pixelshuffle_block, scale_from_shuffle, shape


class RLFB(nn.Module):
    def __init__(self, channels: int, mid: int, esa_channels: int = 16) -> None:
        super().__init__()
        self.c1_r = conv(channels, mid, 3)
        self.c2_r = conv(mid, mid, 3)
        self.c3_r = conv(mid, channels, 3)
        self.c5 = nn.Conv2d(channels, channels, 1)
        self.esa = ESA(channels, esa_channels)
        self.act = nn.LeakyReLU(0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.c1_r(x))
        out = self.act(self.c2_r(out))
        out = self.act(self.c3_r(out))
        return self.esa(self.c5(out + x))


class RLFN(nn.Module):
    def __init__(self, num_feat: int = 52, mid_feat: int | None = None, num_blocks: int = 6, scale: int = 4,
                 esa_channels: int = 16, in_ch: int = 3, out_ch: int = 3, img_range: float = 255.0) -> None:
        super().__init__()
        self.img_range = img_range
        mid_feat = mid_feat or num_feat
        self.num_blocks = num_blocks
        self.conv_1 = conv(in_ch, num_feat, 3)
        for i in range(1, num_blocks + 1):
            setattr(self, f"block_{i}", RLFB(num_feat, mid_feat, esa_channels))
        self.conv_2 = conv(num_feat, num_feat, 3)
        self.upsampler = pixelshuffle_block(num_feat, out_ch, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.img_range
        fea = self.conv_1(x)
        h = fea
        for i in range(1, self.num_blocks + 1):
            h = getattr(self, f"block_{i}")(h)
        return self.upsampler(self.conv_2(h) + fea) / self.img_range


def _detect(sd: StateDict) -> bool:
    return all(k in sd for k in ("conv_1.weight", "block_1.c1_r.weight", "block_1.c3_r.weight",
                                 "block_1.esa.conv4.weight", "conv_2.weight", "upsampler.0.weight")) \
        and "block_1.esa.conv_max.weight" not in sd


def _hparams(sd: StateDict) -> dict[str, Any]:
    nf, in_ch = shape(sd, "conv_1.weight")[:2]
    return {
        "num_feat": nf,
        "mid_feat": shape(sd, "block_1.c1_r.weight")[0],
        "num_blocks": count_indexed(sd, r"^block_(\d+)\.c1_r\.weight$"),
        "scale": scale_from_shuffle(shape(sd, "upsampler.0.weight")[0], 3),
        "esa_channels": shape(sd, "block_1.esa.conv1.weight")[0],
        "in_ch": in_ch,
        "out_ch": 3,
        # the official weights were trained on [0, 255] inputs (verified: Set5 PSNR matches the paper)
        "img_range": 255.0,
    }


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return RLFN(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="rlfn",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=ESA_MIN_SIZE),
    description="RLFN / RLFN-S (Kong et al. 2022): residual local feature blocks with ESA",
))
