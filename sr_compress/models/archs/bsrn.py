"""BSRN — Blueprint Separable Residual Network (Li et al., CVPRW 2022, arXiv:2205.05996), the NTIRE 2022
ESR entry (``ofsoundof/NTIRE2022_ESR`` ``model_zoo/team18_bsrn.pth``, wrapped as ``{'params': ...}``).

Blueprint-separable conv (BSConv-U): a pointwise projection (stored as an ``nn.Linear`` applied
over channels, hence 2-D ``pw`` weights) followed by a depthwise 3x3. Network: the RGB input
repeated 4x along channels -> BSConv ``fea_conv``; ``B1..Bn`` ESDB blocks (RFDB-style
distillation with 1x1 ``ci_d`` and BSConv ``ci_r`` + residual, GELU, 1x1 ``c5`` fusion, ESA
built from BSConvs and 1x1 linears, a learnt per-channel weight ``cw``, 1x1 ``conv_out``,
block residual); 1x1 ``c1`` over all block outputs + GELU; BSConv ``c2`` + long skip; one conv
+ PixelShuffle upsampler. Input [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._esa import ESA_MIN_SIZE
from ._util import StateDict, conv, count_indexed, has_keys, scale_from_shuffle, shape


def _channels_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution stored as ``nn.Linear`` (NCHW in and out)."""
    return layer(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class BSConvU(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.pw = nn.Linear(in_ch, out_ch)
        self.dw = conv(out_ch, out_ch, 3, groups=out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(_channels_linear(self.pw, x))


class BSESA(nn.Module):
    def __init__(self, nf: int, f: int) -> None:
        super().__init__()
        self.conv1 = nn.Linear(nf, f)
        self.conv_f = nn.Linear(f, f)
        self.conv_max = BSConvU(f, f)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = BSConvU(f, f)
        self.conv3_ = BSConvU(f, f)
        self.conv4 = nn.Linear(f, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = _channels_linear(self.conv1, x)
        pooled = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        c3 = self.conv3_(F.gelu(self.conv3(F.gelu(self.conv_max(pooled)))))
        c3 = F.interpolate(c3, size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        return x * torch.sigmoid(_channels_linear(self.conv4, c3 + _channels_linear(self.conv_f, c1_)))


class ESDB(nn.Module):
    def __init__(self, nf: int, esa_channels: int) -> None:
        super().__init__()
        dc = nf // 2
        self.c1_d = nn.Linear(nf, dc)
        self.c1_r = BSConvU(nf, nf)
        self.c2_d = nn.Linear(nf, dc)
        self.c2_r = BSConvU(nf, nf)
        self.c3_d = nn.Linear(nf, dc)
        self.c3_r = BSConvU(nf, nf)
        self.c4 = BSConvU(nf, dc)
        self.c5 = nn.Linear(dc * 4, nf)
        self.esa = BSESA(nf, esa_channels)
        self.cw = nn.Parameter(torch.ones(1, nf))
        self.conv_out = nn.Linear(nf, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = F.gelu(_channels_linear(self.c1_d, x))
        r1 = F.gelu(self.c1_r(x) + x)
        d2 = F.gelu(_channels_linear(self.c2_d, r1))
        r2 = F.gelu(self.c2_r(r1) + r1)
        d3 = F.gelu(_channels_linear(self.c3_d, r2))
        r3 = F.gelu(self.c3_r(r2) + r2)
        d4 = F.gelu(self.c4(r3))
        out = self.esa(_channels_linear(self.c5, torch.cat([d1, d2, d3, d4], dim=1)))
        out = out * self.cw.view(1, -1, 1, 1)
        return _channels_linear(self.conv_out, out) + x


class _OneStep(nn.Module):
    def __init__(self, nf: int, scale: int) -> None:
        super().__init__()
        self.upsampleOneStep = nn.Sequential(conv(nf, 3 * scale * scale, 3), nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsampleOneStep(x)


class BSRN(nn.Module):
    def __init__(self, num_feat: int = 48, num_blocks: int = 5, scale: int = 4, esa_channels: int | None = None,
                 img_range: float = 1.0) -> None:
        super().__init__()
        self.img_range = img_range
        self.num_blocks = num_blocks
        self.fea_conv = BSConvU(3 * 4, num_feat)
        for i in range(1, num_blocks + 1):
            setattr(self, f"B{i}", ESDB(num_feat, esa_channels or num_feat // 4))
        self.c1 = nn.Linear(num_feat * num_blocks, num_feat)
        self.c2 = BSConvU(num_feat, num_feat)
        self.upsampler = _OneStep(num_feat, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.img_range
        fea = self.fea_conv(torch.cat([x, x, x, x], dim=1))
        outs = []
        h = fea
        for i in range(1, self.num_blocks + 1):
            h = getattr(self, f"B{i}")(h)
            outs.append(h)
        trunk = F.gelu(_channels_linear(self.c1, torch.cat(outs, dim=1)))
        return self.upsampler(self.c2(trunk) + fea) / self.img_range


def _detect(sd: StateDict) -> bool:
    return has_keys(sd, ("fea_conv.pw.weight", "fea_conv.dw.weight", "B1.c1_d.weight", "B1.cw",
                         "B1.esa.conv_max.pw.weight", "c1.weight", "c2.pw.weight",
                         "upsampler.upsampleOneStep.0.weight"))


def _hparams(sd: StateDict) -> dict[str, Any]:
    return {
        "num_feat": shape(sd, "fea_conv.pw.weight")[0],
        "num_blocks": count_indexed(sd, r"^B(\d+)\.cw$"),
        "scale": scale_from_shuffle(shape(sd, "upsampler.upsampleOneStep.0.weight")[0], 3),
        "esa_channels": shape(sd, "B1.esa.conv1.weight")[0],
        "img_range": 1.0,
    }


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return BSRN(**hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="bsrn", detect=_detect, build=_build, from_hparams=lambda hp: BSRN(**hp),
    size_requirements=SizeRequirements(minimum=ESA_MIN_SIZE),
    description="BSRN (Li et al. 2022): blueprint-separable residual network (NTIRE 2022 ESR)",
))
