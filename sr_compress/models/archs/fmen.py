"""FMEN — Fast and Memory-Efficient Network (Du et al., NTIRE 2022 ESR, arXiv:2204.08397), deployed form.

Checkpoint layout (``ofsoundof/NTIRE2022_ESR`` ``model_zoo/team03_fmen.pth``): re-parameterised
(``rep_conv`` = the folded 3x3 of each re-parameterisable block). ``head`` 3x3 3->C;
``warmup`` = 3x3 conv + HFAB; then ``down_blocks`` times (BasicBlock: rep-conv, LeakyReLU(0.1),
rep-conv — no skip, the identity is folded in — followed by an HFAB); ``lr_conv`` 3x3 + skip
from ``head``; ``tail`` conv to 3*s^2 + PixelShuffle. HFAB (high-frequency attention): 3x3
squeeze to M, LeakyReLU, BasicBlocks, LeakyReLU, 3x3 expand, sigmoid, multiply the input.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._util import StateDict, conv, count_indexed, has_keys, pixelshuffle_block, scale_from_shuffle, shape

_SLOPE = 0.1


class RepConv(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.rep_conv = conv(nf, nf, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rep_conv(x)


class BasicBlock(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv1 = RepConv(nf)
        self.conv2 = RepConv(nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(nn.functional.leaky_relu(self.conv1(x), _SLOPE))


class HFAB(nn.Module):
    def __init__(self, nf: int, n_convs: int, mid: int) -> None:
        super().__init__()
        self.squeeze = conv(nf, mid, 3)
        self.convs = nn.Sequential(*[BasicBlock(mid) for _ in range(n_convs)])
        self.excitate = conv(mid, nf, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = nn.functional.leaky_relu(self.squeeze(x), _SLOPE)
        out = nn.functional.leaky_relu(self.convs(out), _SLOPE)
        return x * torch.sigmoid(self.excitate(out))


class FMEN(nn.Module):
    def __init__(self, num_feat: int = 50, mid_feat: int = 16, warmup_mid: int = 12,
                 up_blocks: list[int] | tuple[int, ...] = (2, 1, 1, 1, 1), scale: int = 4,
                 img_range: float = 1.0) -> None:
        super().__init__()
        self.img_range = img_range
        up_blocks = list(up_blocks)
        self.head = conv(3, num_feat, 3)
        self.warmup = nn.Sequential(conv(num_feat, num_feat, 3), HFAB(num_feat, up_blocks[0], warmup_mid))
        n = len(up_blocks) - 1
        self.basic_blocks = nn.ModuleList([BasicBlock(num_feat) for _ in range(n)])
        self.hfabs = nn.ModuleList([HFAB(num_feat, up_blocks[i + 1], mid_feat) for i in range(n)])
        self.lr_conv = conv(num_feat, num_feat, 3)
        self.tail = pixelshuffle_block(num_feat, 3, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x * self.img_range)
        h = self.warmup(x)
        for block, hfab in zip(self.basic_blocks, self.hfabs, strict=True):
            h = hfab(block(h))
        return self.tail(self.lr_conv(h) + x) / self.img_range


def _detect(sd: StateDict) -> bool:
    return has_keys(sd, ("head.weight", "warmup.0.weight", "warmup.1.squeeze.weight",
                         "basic_blocks.0.conv1.rep_conv.weight", "hfabs.0.excitate.weight", "lr_conv.weight",
                         "tail.0.weight"))


def _hparams(sd: StateDict) -> dict[str, Any]:
    n = count_indexed(sd, r"^hfabs\.(\d+)\.squeeze\.weight$")
    ups = [count_indexed(sd, r"^warmup\.1\.convs\.(\d+)\.conv1\.rep_conv\.weight$")]
    ups += [count_indexed(sd, rf"^hfabs\.{i}\.convs\.(\d+)\.conv1\.rep_conv\.weight$") for i in range(n)]
    return {
        "num_feat": shape(sd, "head.weight")[0],
        "mid_feat": shape(sd, "hfabs.0.squeeze.weight")[0],
        "warmup_mid": shape(sd, "warmup.1.squeeze.weight")[0],
        "up_blocks": ups,
        "scale": scale_from_shuffle(shape(sd, "tail.0.weight")[0], 3),
        # the NTIRE 2022 weights were trained on RGB in [0, 255] (Set5 x4: 25.4 dB at [0, 1], 32.03 dB at [0, 255])
        "img_range": 255.0,
    }


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return FMEN(**hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="fmen", detect=_detect, build=_build, from_hparams=lambda hp: FMEN(**hp),
    size_requirements=SizeRequirements(minimum=1),
    description="FMEN (Du et al. 2022): high-frequency attention blocks, re-parameterised convs",
))
