"""IMDN — Information Multi-Distillation Network (Hui et al., ACM MM 2019, arXiv:1909.11856).

Layout follows the official checkpoints (``Zheng222/IMDN`` ``checkpoints/IMDN_x{2,3,4}.pth``,
saved from DataParallel so keys start with ``module.``; the loader strips that):

* ``fea_conv`` 3x3 conv 3 -> nf
* ``IMDB1..IMDBn``: progressive refinement: c1 (nf->nf), split d|r with d = nf/4 distilled
  channels, c2/c3 (r->nf), c4 (r->d); LeakyReLU(0.05) after c1..c3; concat of the four
  distilled parts -> contrast-aware channel attention (CCA: per-channel std + mean,
  1x1 squeeze/excite) -> 1x1 ``c5`` -> + block input
* ``c``: 1x1 over the concatenation of every block output + LeakyReLU(0.05)
* ``LR_conv`` 3x3 + global skip from ``fea_conv``; ``upsampler``: 3x3 conv to 3*s^2 + PixelShuffle.

Input/output range [0, 1] (the official test script divides by 255).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..hooks import run_with_pre_hooks
from ..registry import ArchSpec, SizeRequirements, register_arch
from ._util import StateDict, conv, count_indexed, pixelshuffle_block, scale_from_shuffle, shape


def _channel_std(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True)
    # sqrt's gradient is infinite at 0: a channel that fake-quantization makes constant within a
    # patch (QAT) turned every gradient of IMDN x4 into NaN at its second iteration. The clamp only
    # changes such channels (std 1e-6 instead of 0) and gives them a zero gradient instead.
    return var.clamp_min(1e-12).sqrt()


class CCALayer(nn.Module):
    """Contrast-aware channel attention: (std + mean) per channel -> 1x1 -> ReLU -> 1x1 -> sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _channel_std(x) + x.mean(dim=(2, 3), keepdim=True)
        return x * self.conv_du(y)


class IMDModule(nn.Module):
    def __init__(self, channels: int, distill_ratio: float = 0.25, reduction: int = 16) -> None:
        super().__init__()
        self.distilled = int(channels * distill_ratio)
        self.remaining = channels - self.distilled
        self.c1 = conv(channels, channels, 3)
        self.c2 = conv(self.remaining, channels, 3)
        self.c3 = conv(self.remaining, channels, 3)
        self.c4 = conv(self.remaining, self.distilled, 3)
        self.act = nn.LeakyReLU(0.05)
        self.c5 = nn.Conv2d(self.distilled * 4, channels, 1)
        self.cca = CCALayer(self.distilled * 4, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = [self.distilled, self.remaining]
        d1, r1 = torch.split(self.act(self.c1(x)), split, dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), split, dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), split, dim=1)
        d4 = self.c4(r3)
        out = torch.cat([d1, d2, d3, d4], dim=1)
        return self.c5(self.cca(out)) + x

    def concat_sizes(self) -> list[int]:
        """Channels of each of the four distilled parts, in concat order (pruning makes them differ)."""
        return [self.distilled] * 3 + [self.c4.out_channels]


class IMDN(nn.Module):
    def __init__(self, num_feat: int = 64, num_blocks: int = 6, scale: int = 4, in_ch: int = 3,
                 out_ch: int = 3, reduction: int = 16) -> None:
        super().__init__()
        self.num_blocks = num_blocks
        self.fea_conv = conv(in_ch, num_feat, 3)
        for i in range(1, num_blocks + 1):
            setattr(self, f"IMDB{i}", IMDModule(num_feat, reduction=reduction))
        self.c = nn.Sequential(nn.Conv2d(num_feat * num_blocks, num_feat, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv(num_feat, num_feat, 3)
        self.upsampler = pixelshuffle_block(num_feat, out_ch, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.fea_conv(x)
        outs = []
        h = fea
        for i in range(1, self.num_blocks + 1):
            h = getattr(self, f"IMDB{i}")(h)
            outs.append(h)
        body = self.c(torch.cat(outs, dim=1))
        return self.upsampler(self.LR_conv(body) + fea)


def concat_ranges(model: IMDN, calib: list[torch.Tensor]) -> list[torch.Tensor]:
    """Per-channel max |x| of each block's concat (CCA's input) over ``calib``."""
    ranges: list[torch.Tensor | None] = [None] * model.num_blocks

    def record(i: int) -> Any:
        def hook(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            m = args[0].abs().amax(dim=(0, 2, 3))
            prev = ranges[i]
            ranges[i] = m if prev is None else torch.maximum(prev, m)
        return hook

    blocks = [getattr(model, f"IMDB{i + 1}") for i in range(model.num_blocks)]
    run_with_pre_hooks(model, [(b.cca, record(i)) for i, b in enumerate(blocks)], calib)
    return [r for r in ranges if r is not None]


def equalize_concat(model: nn.Module, calib: list[torch.Tensor], alpha: float) -> int:
    """Scale channel j of every block's concat by ``s_j = (max r / r_j) ** alpha`` (r: its range).

    The four concat inputs share one INT8 interval (``--placement ptq``), set by the widest channel,
    so narrow channels get few levels. The scale goes into the producer (c1-c3's distilled rows,
    through LeakyReLU, which commutes with positive scales; c4) and ``1 / s_j`` into both consumers
    (CCA's first 1x1 sees ``std + mean``, which scale with the channel; c5 sees CCA's output), so
    the FP32 function is unchanged. ``alpha`` 1 equalizes the ranges fully; 0.5 splits the
    resolution cost between the activations and c5's weights (whose small columns shrink).
    """
    assert isinstance(model, IMDN)
    model.eval()
    ranges = concat_ranges(model, calib)
    with torch.no_grad():
        for i, r in enumerate(ranges):
            blk = getattr(model, f"IMDB{i + 1}")
            s = (r.max() / r.clamp_min(1e-8 * float(r.max()))) ** alpha
            start = 0
            for layer, d in zip((blk.c1, blk.c2, blk.c3, blk.c4), blk.concat_sizes()):
                sk = s[start:start + d]
                layer.weight[:d] *= sk.view(-1, 1, 1, 1)
                layer.bias[:d] *= sk
                start += d
            blk.cca.conv_du[0].weight /= s.view(1, -1, 1, 1)
            blk.c5.weight /= s.view(1, -1, 1, 1)
    return sum(int(r.numel()) for r in ranges)


def _detect(sd: StateDict) -> bool:
    return "fea_conv.weight" in sd and "IMDB1.c1.weight" in sd and "IMDB1.cca.conv_du.0.weight" in sd \
        and "LR_conv.weight" in sd and "upsampler.0.weight" in sd


def _hparams(sd: StateDict) -> dict[str, Any]:
    nf, in_ch = shape(sd, "fea_conv.weight")[:2]
    squeeze = shape(sd, "IMDB1.cca.conv_du.0.weight")[0]
    up = shape(sd, "upsampler.0.weight")[0]
    return {
        "num_feat": nf,
        "num_blocks": count_indexed(sd, r"^IMDB(\d+)\.c1\.weight$"),
        "scale": scale_from_shuffle(up, 3),
        "in_ch": in_ch,
        "out_ch": 3,
        "reduction": nf // squeeze,
    }


def _from_hparams(hp: dict[str, Any]) -> nn.Module:
    return IMDN(**hp)


def _build(sd: StateDict) -> tuple[nn.Module, dict[str, Any], int]:
    hp = _hparams(sd)
    return _from_hparams(hp), hp, hp["scale"]


register_arch(ArchSpec(
    name="imdn",
    detect=_detect,
    build=_build,
    from_hparams=_from_hparams,
    size_requirements=SizeRequirements(minimum=1),
    description="IMDN (Hui et al. 2019): information multi-distillation blocks with CCA",
    # the contrast (channel std) of each CCA: quantizing its sub/pow/mean/sqrt rounds a small
    # variance to 0, whose sqrt gradient made every gradient NaN at QAT's second iteration
    quant_float_scopes=(r".*cca/.*",),
    # --placement ptq: only the variance path (pow -> mean -> clamp -> sqrt) and the squeeze-excite
    # stay float, so the block features' quantizer sits on the convolution outputs before the
    # channel splits (split/concat on INT8, as in PTQ's IR; with all of CCA float they run on FP32:
    # 0.89-0.94 of PTQ's speed). OpenVINO's INT8 concat has one interval, so the four concat inputs
    # of a block share one quantizer during QAT (trained apart, the IR lost 0.3 dB more than the
    # fake-quant model). Names follow the forward's call order (mean/1: the variance's mean).
    quant_ptq_float_scopes=(r".*cca/(pow|mean/1|clamp_min|sqrt|add|conv_du)(/.*)?$",),
    quant_shared=(r"^post_hooks\.(?P<g>IMDB\d+)/(act/leaky_relu/\d+|c4/conv2d/0)__0\.0$",),
    quant_equalize=equalize_concat,
))
