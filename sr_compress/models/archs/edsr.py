"""EDSR (Lim et al., CVPRW 2017, arXiv:1707.02921) in BasicSR's key layout; also the ``edsr:c{C}b{B}`` student.

``conv_first`` 3x3 -> ``body.N`` residual blocks without BatchNorm (``conv1`` 3x3, ReLU,
``conv2`` 3x3, times ``res_scale``, + input) -> ``conv_after_body`` 3x3 + global skip ->
``upsample`` (log2(s) stages of conv to 4C + PixelShuffle(2), or one conv to 9C +
PixelShuffle(3)) -> ``conv_last`` 3x3. Like BasicSR's EDSR, the network subtracts the DIV2K
RGB mean and multiplies by ``img_range`` (255) internally, so BasicSR checkpoints
(``EDSR_Mx4_f64b16``, ``EDSR_Lx4_f256b32``, res_scale 0.1) load unchanged; the descriptor
convention stays RGB [0, 1] in and out.

``body`` is an ``nn.Sequential``; :meth:`EDSR.append_blocks` grows it (DFSR-style progressive
growth) with blocks whose last conv is zero-initialised, so the function is unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..registry import ArchSpec, SizeRequirements, register_arch
from ._util import StateDict, conv, count_indexed, indices, shape

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class ResidualBlockNoBN(nn.Module):
    def __init__(self, num_feat: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = conv(num_feat, num_feat, 3)
        self.conv2 = conv(num_feat, num_feat, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


def _upsample(scale: int, num_feat: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    if scale & (scale - 1) == 0:
        for _ in range(int(math.log2(scale))):
            layers += [conv(num_feat, 4 * num_feat, 3), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [conv(num_feat, 9 * num_feat, 3), nn.PixelShuffle(3)]
    else:
        raise ValueError(f"EDSR upsampler supports scales 2^n and 3, not {scale}")
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    mean: torch.Tensor  # a (non-persistent) buffer

    def __init__(self, num_feat: int = 64, num_block: int = 16, scale: int = 4, res_scale: float = 1.0,
                 img_range: float = 255.0, in_ch: int = 3, out_ch: int = 3) -> None:
        super().__init__()
        self.num_feat = num_feat
        self.res_scale = res_scale
        self.img_range = img_range
        # not persistent: BasicSR checkpoints do not store it, and it is a constant
        self.register_buffer("mean", torch.tensor(DIV2K_RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        self.conv_first = conv(in_ch, num_feat, 3)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat, res_scale) for _ in range(num_block)])
        self.conv_after_body = conv(num_feat, num_feat, 3)
        self.upsample = _upsample(scale, num_feat)
        self.conv_last = conv(num_feat, out_ch, 3)

    @property
    def num_block(self) -> int:
        return len(self.body)

    def live_hparams(self) -> dict[str, int]:
        """Hyper-parameters that change after construction (read by ``save_model``)."""
        return {"num_block": len(self.body)}

    def append_blocks(self, n: int) -> list[nn.Module]:
        """Append ``n`` residual blocks at the end of ``body`` that leave the network function unchanged.

        Each new block's ``conv2`` (weight and bias) starts at zero, so the block is an exact
        identity until trained; ``conv1`` keeps PyTorch's default init so gradients flow into
        ``conv2`` at once. New blocks are created on the device/dtype of the existing ones.
        Returns the new blocks (e.g. to add their parameters to an optimizer).
        """
        ref = next(self.parameters())
        new: list[nn.Module] = []
        for _ in range(n):
            blk = ResidualBlockNoBN(self.num_feat, self.res_scale)
            nn.init.zeros_(blk.conv2.weight)
            if blk.conv2.bias is not None:
                nn.init.zeros_(blk.conv2.bias)
            blk.to(device=ref.device, dtype=ref.dtype)
            self.body.append(blk)
            new.append(blk)
        return new

    def truncate_blocks(self, n: int) -> None:
        """Keep only the first ``n`` residual blocks (the first stage of progressive growth)."""
        if not 1 <= n <= len(self.body):
            raise ValueError(f"cannot keep {n} of {len(self.body)} blocks")
        del self.body[n:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) * self.img_range
        x = self.conv_first(x)
        res = self.conv_after_body(self.body(x)) + x
        x = self.conv_last(self.upsample(res))
        return x / self.img_range + self.mean


def _detect(sd: StateDict) -> bool:
    return all(k in sd for k in ("conv_first.weight", "body.0.conv1.weight", "body.0.conv2.weight",
                                 "conv_after_body.weight", "upsample.0.weight", "conv_last.weight"))


def _hparams(sd: StateDict) -> dict[str, Any]:
    nf, in_ch = shape(sd, "conv_first.weight")[:2]
    stages = indices(sd, r"^upsample\.(\d+)\.weight$")
    first = shape(sd, "upsample.0.weight")[0]
    scale = 3 if first == 9 * nf else 2 ** len(stages)
    return {
        "num_feat": nf,
        "num_block": count_indexed(sd, r"^body\.(\d+)\.conv1\.weight$"),
        "scale": scale,
        # not stored in the weights; BasicSR's large EDSR (256 features) is the only one using 0.1
        "res_scale": 0.1 if nf >= 256 else 1.0,
        "img_range": 255.0,
        "in_ch": in_ch,
        "out_ch": shape(sd, "conv_last.weight")[0],
    }


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return EDSR(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="edsr",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=1),
    description="EDSR (Lim et al. 2017), BasicSR key layout; the edsr:cCbB student",
))
