"""PAN — Pixel Attention Network (Zhao et al., ECCVW 2020, arXiv:2010.01073).

Checkpoint layout (``zhaohengyuan1/PAN`` ``experiments/pretrained_models/PANx{2,3,4}_DF2K.pth``,
mmsr/BasicSR style): ``conv_first`` 3x3 3->nf; ``SCPA_trunk.N`` self-calibrated blocks with
pixel attention (two 1x1 branches to nf/2; branch a: 3x3 ``k1``; branch b: PAConv = 3x3 ``k3``
gated by sigmoid(1x1 ``k2``) then 3x3 ``k4``; LeakyReLU(0.2); 1x1 ``conv3`` back to nf +
residual); ``trunk_conv`` 3x3 + skip; upsampling by nearest interpolation then
``upconvK`` 3x3 -> pixel attention ``attK`` (sigmoid(1x1) gate) -> ``HRconvK`` 3x3 (one stage
of factor s for x2/x3, two x2 stages for x4); ``conv_last`` unf->3; plus the bilinearly
upsampled input. Input [0, 1].

x2 and x3 weights have identical shapes, so the scale cannot be read from the state dict: the
loader passes ``--scale`` or the ``x2``/``x3`` hint in the file name to :meth:`PAN.set_scale`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._util import StateDict, conv, count_indexed, has_keys, shape


class PAConv(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.k2 = nn.Conv2d(nf, nf, 1)
        self.k3 = conv(nf, nf, 3, bias=False)
        self.k4 = conv(nf, nf, 3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    def __init__(self, nf: int, reduction: int = 2) -> None:
        super().__init__()
        gw = nf // reduction
        self.conv1_a = nn.Conv2d(nf, gw, 1, bias=False)
        self.conv1_b = nn.Conv2d(nf, gw, 1, bias=False)
        self.k1 = nn.Sequential(conv(gw, gw, 3, bias=False))
        self.PAConv = PAConv(gw)
        self.conv3 = nn.Conv2d(gw * reduction, nf, 1, bias=False)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.lrelu(self.k1(self.lrelu(self.conv1_a(x))))
        b = self.lrelu(self.PAConv(self.lrelu(self.conv1_b(x))))
        return self.conv3(torch.cat([a, b], dim=1)) + x


class PA(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(nf, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class PAN(nn.Module):
    def __init__(self, num_feat: int = 40, up_feat: int = 24, num_blocks: int = 16, scale: int = 4,
                 in_ch: int = 3, out_ch: int = 3) -> None:
        super().__init__()
        self.scale = scale
        self.two_stage = scale == 4
        self.conv_first = conv(in_ch, num_feat, 3)
        self.SCPA_trunk = nn.Sequential(*[SCPA(num_feat) for _ in range(num_blocks)])
        self.trunk_conv = conv(num_feat, num_feat, 3)
        self.upconv1 = conv(num_feat, up_feat, 3)
        self.att1 = PA(up_feat)
        self.HRconv1 = conv(up_feat, up_feat, 3)
        if self.two_stage:
            self.upconv2 = conv(up_feat, up_feat, 3)
            self.att2 = PA(up_feat)
            self.HRconv2 = conv(up_feat, up_feat, 3)
        self.conv_last = conv(up_feat, out_ch, 3)
        self.lrelu = nn.LeakyReLU(0.2)

    @property
    def supported_scales(self) -> tuple[int, ...]:
        return (4,) if self.two_stage else (2, 3)

    def set_scale(self, scale: int) -> None:
        if scale not in self.supported_scales:
            raise ValueError(f"these PAN weights support x{'/x'.join(map(str, self.supported_scales))}, not x{scale}")
        self.scale = scale

    def _stage(self, fea: torch.Tensor, factor: int, i: int) -> torch.Tensor:
        fea = getattr(self, f"upconv{i}")(F.interpolate(fea, scale_factor=factor, mode="nearest"))
        fea = self.lrelu(getattr(self, f"att{i}")(fea))
        return self.lrelu(getattr(self, f"HRconv{i}")(fea))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        if self.two_stage:
            fea = self._stage(self._stage(fea, 2, 1), 2, 2)
        else:
            fea = self._stage(fea, self.scale, 1)
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.conv_last(fea) + base


def _detect(sd: StateDict) -> bool:
    return has_keys(sd, ("conv_first.weight", "SCPA_trunk.0.conv1_a.weight", "SCPA_trunk.0.PAConv.k2.weight",
                         "trunk_conv.weight", "upconv1.weight", "att1.conv.weight", "conv_last.weight"))


def _hparams(sd: StateDict) -> dict[str, Any]:
    nf, in_ch = shape(sd, "conv_first.weight")[:2]
    return {
        "num_feat": nf,
        "up_feat": shape(sd, "upconv1.weight")[0],
        "num_blocks": count_indexed(sd, r"^SCPA_trunk\.(\d+)\.conv1_a\.weight$"),
        # x2 and x3 weights are indistinguishable; x2 unless the loader is told otherwise
        "scale": 4 if "upconv2.weight" in sd else 2,
        "in_ch": in_ch,
        "out_ch": shape(sd, "conv_last.weight")[0],
    }


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return PAN(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="pan",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=1),
    description="PAN (Zhao et al. 2020): self-calibrated blocks with pixel attention",
))
