"""RRDBNet (ESRGAN, Wang et al., ECCVW 2018; the Real-ESRGAN x4plus generator) in BasicSR's key layout.

``conv_first`` 3x3 -> ``body.N`` Residual-in-Residual Dense Blocks (three dense blocks
``rdb1..3`` of five 3x3 convs ``conv1..5``, growth ``num_grow_ch``, LeakyReLU 0.2 after
conv1-4, output scaled by 0.2 and added to the block input; the RRDB adds 0.2 x its result to its
own input) -> ``conv_body`` + global skip -> two (nearest x2, ``conv_up1``/``conv_up2``,
LeakyReLU) stages -> ``conv_hr`` (LeakyReLU) -> ``conv_last``. x2 and x1 models first
pixel-unshuffle the input (``conv_first`` then sees 4x / 16x the channels), as BasicSR does
(odd sizes are edge-padded to a multiple of the factor and the output cropped back), so
``RealESRGAN_x4plus.pth`` / ``RealESRGAN_x2plus.pth`` load unchanged. Input/output RGB [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._util import StateDict, conv, has_keys, indices, shape

_UNSHUFFLE = {4: 1, 2: 2, 1: 4}  # scale -> pixel-unshuffle factor of the input


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = conv(num_feat, num_grow_ch, 3)
        self.conv2 = conv(num_feat + num_grow_ch, num_grow_ch, 3)
        self.conv3 = conv(num_feat + 2 * num_grow_ch, num_grow_ch, 3)
        self.conv4 = conv(num_feat + 3 * num_grow_ch, num_grow_ch, 3)
        self.conv5 = conv(num_feat + 4 * num_grow_ch, num_feat, 3)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(self.lrelu(layer(torch.cat(feats, 1))))
        return self.conv5(torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32, scale: int = 4,
                 in_ch: int = 3, out_ch: int = 3) -> None:
        super().__init__()
        if scale not in _UNSHUFFLE:
            raise ValueError(f"RRDBNet supports scales 1, 2, 4, not {scale}")
        self.scale = scale
        self.unshuffle = _UNSHUFFLE[scale]
        self.conv_first = conv(in_ch * self.unshuffle ** 2, num_feat, 3)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = conv(num_feat, num_feat, 3)
        self.conv_up1 = conv(num_feat, num_feat, 3)
        self.conv_up2 = conv(num_feat, num_feat, 3)
        self.conv_hr = conv(num_feat, num_feat, 3)
        self.conv_last = conv(num_feat, out_ch, 3)
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.unshuffle > 1:
            # pad to a multiple of the unshuffle factor so any size works; cropped again below
            r = self.unshuffle
            x = F.pad(x, (0, (-w) % r, 0, (-h) % r), mode="replicate")
            x = F.pixel_unshuffle(x, r)
        out = self._trunk(self.conv_first(x))
        return out[..., :h * self.scale, :w * self.scale]

    def _trunk(self, feat: torch.Tensor) -> torch.Tensor:
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


_KEYS = ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_up1.weight",
         "conv_up2.weight", "conv_hr.weight", "conv_last.weight")


def _detect(sd: StateDict) -> bool:
    return has_keys(sd, _KEYS) and "body.0.rdb3.conv5.weight" in sd


def _hparams(sd: StateDict) -> dict[str, Any]:
    num_feat, first_in = shape(sd, "conv_first.weight")[:2]
    out_ch = shape(sd, "conv_last.weight")[0]
    factor, rem = divmod(first_in, out_ch)
    scale = {1: 4, 4: 2, 16: 1}.get(factor) if not rem else None
    if scale is None:
        raise ValueError(f"conv_first takes {first_in} channels for {out_ch} output channels: not x1/x2/x4")
    return {
        "num_feat": num_feat,
        "num_block": len(indices(sd, r"^body\.(\d+)\.rdb1\.conv1\.weight$")),
        "num_grow_ch": shape(sd, "body.0.rdb1.conv1.weight")[0],
        "scale": scale,
        "in_ch": out_ch,
        "out_ch": out_ch,
    }


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return RRDBNet(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="rrdbnet",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=1),
    description="RRDBNet (ESRGAN / Real-ESRGAN x4plus generator, BasicSR keys)",
    tile_hint=192,
))
