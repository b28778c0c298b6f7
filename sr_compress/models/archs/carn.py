"""CARN-M — Cascading Residual Network, mobile variant (Ahn et al., ECCV 2018, arXiv:1803.08664).

Checkpoint layout (``nmhkahn/CARN-pytorch`` ``checkpoint/carn_m.pth``): ``sub_mean``/``add_mean``
1x1 mean-shift convs (DIV2K RGB mean, stored as weights), ``entry`` 3x3 3->64; three cascading
blocks ``b1..b3``, each applying ONE shared efficient residual block ``bK.b1`` (grouped 3x3,
ReLU, grouped 3x3, ReLU, 1x1, + input, ReLU) three times with 1x1 fusion convs ``bK.c1..c3``
over the growing concatenation; global cascade fusions ``c1..c3``; a multi-scale upsampler
with one head per scale (``upsample.up2/up3/up4``: grouped conv + ReLU + PixelShuffle, twice
for x4); ``exit`` 3x3 64->3. Input [0, 1] (the mean shift works in that range).

One checkpoint serves x2, x3 and x4: the loader's ``scale`` (or x4 by default) selects the head
via :meth:`CARNM.set_scale`; only the selected head runs, so exports contain just that one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._util import StateDict, conv, has_keys, indices, shape


class MeanShift(nn.Module):
    def __init__(self, sign: float, mean: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)) -> None:
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.shifter.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            if self.shifter.bias is not None:
                self.shifter.bias.copy_(sign * torch.tensor(mean))
        for p in self.shifter.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class _ConvReLU(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class EResidualBlock(nn.Module):
    def __init__(self, nf: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(nf, nf, 3, groups=groups), nn.ReLU(inplace=True),
            conv(nf, nf, 3, groups=groups), nn.ReLU(inplace=True),
            nn.Conv2d(nf, nf, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class CascadingBlock(nn.Module):
    def __init__(self, nf: int, groups: int) -> None:
        super().__init__()
        self.b1 = EResidualBlock(nf, groups)  # shared by the three stages (CARN-M's recursion)
        self.c1 = _ConvReLU(nf * 2, nf)
        self.c2 = _ConvReLU(nf * 3, nf)
        self.c3 = _ConvReLU(nf * 4, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat = x
        out = x
        for fuse in (self.c1, self.c2, self.c3):
            cat = torch.cat([cat, self.b1(out)], dim=1)
            out = fuse(cat)
        return out


class _UpHead(nn.Module):
    def __init__(self, nf: int, scale: int, groups: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if scale == 3:
            layers += [conv(nf, 9 * nf, 3, groups=groups), nn.ReLU(inplace=True), nn.PixelShuffle(3)]
        else:
            for _ in range({2: 1, 4: 2, 8: 3}[scale]):
                layers += [conv(nf, 4 * nf, 3, groups=groups), nn.ReLU(inplace=True), nn.PixelShuffle(2)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _MultiUp(nn.Module):
    def __init__(self, nf: int, scales: tuple[int, ...], groups: int) -> None:
        super().__init__()
        for s in scales:
            setattr(self, f"up{s}", _UpHead(nf, s, groups))


class CARNM(nn.Module):
    def __init__(self, num_feat: int = 64, groups: int = 4, scales: tuple[int, ...] | list[int] = (2, 3, 4),
                 scale: int = 4) -> None:
        super().__init__()
        self.scales = tuple(int(s) for s in scales)
        self.scale = scale
        self.sub_mean = MeanShift(-1.0)
        self.add_mean = MeanShift(1.0)
        self.entry = conv(3, num_feat, 3)
        self.b1 = CascadingBlock(num_feat, groups)
        self.b2 = CascadingBlock(num_feat, groups)
        self.b3 = CascadingBlock(num_feat, groups)
        self.c1 = _ConvReLU(num_feat * 2, num_feat)
        self.c2 = _ConvReLU(num_feat * 3, num_feat)
        self.c3 = _ConvReLU(num_feat * 4, num_feat)
        self.upsample = _MultiUp(num_feat, self.scales, groups)
        self.exit = conv(num_feat, 3, 3)
        self.set_scale(scale)

    @property
    def supported_scales(self) -> tuple[int, ...]:
        return self.scales

    def set_scale(self, scale: int) -> None:
        if scale not in self.scales:
            raise ValueError(f"this CARN-M has heads for x{'/x'.join(map(str, self.scales))}, not x{scale}")
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry(self.sub_mean(x))
        cat = x
        out = x
        for block, fuse in ((self.b1, self.c1), (self.b2, self.c2), (self.b3, self.c3)):
            cat = torch.cat([cat, block(out)], dim=1)
            out = fuse(cat)
        out = getattr(self.upsample, f"up{self.scale}")(out)
        return self.add_mean(self.exit(out))


def _detect(sd: StateDict) -> bool:
    return has_keys(sd, ("sub_mean.shifter.weight", "add_mean.shifter.weight", "entry.weight",
                         "b1.b1.body.0.weight", "b1.c1.body.0.weight", "exit.weight")) \
        and any(k.startswith("upsample.up") for k in sd) and "b1.b2.body.0.weight" not in sd


def _hparams(sd: StateDict) -> dict[str, Any]:
    nf = shape(sd, "entry.weight")[0]
    per_group_in = shape(sd, "b1.b1.body.0.weight")[1]
    scales = indices(sd, r"^upsample\.up(\d+)\.body\.0\.weight$")
    return {"num_feat": nf, "groups": nf // per_group_in, "scales": scales,
            "scale": 4 if 4 in scales else scales[-1]}


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return CARNM(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="carn_m",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=1),
    description="CARN-M (Ahn et al. 2018): cascading residual network, mobile, multi-scale heads",
))
