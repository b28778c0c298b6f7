"""Small helpers shared by the architecture modules: state-dict probing and common layers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import torch
from torch import nn

StateDict = Mapping[str, torch.Tensor]


def has_keys(sd: StateDict, keys: Iterable[str]) -> bool:
    return all(k in sd for k in keys)


def shape(sd: StateDict, key: str) -> tuple[int, ...]:
    return tuple(sd[key].shape)


def count_indexed(sd: StateDict, pattern: str) -> int:
    """Number of distinct integers N for which some key matches ``pattern`` (a regex with one group).

    e.g. ``count_indexed(sd, r"^body\\.(\\d+)\\.conv1\\.weight$")``.
    """
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in sd if (m := rx.match(k))}
    return len(found)


def indices(sd: StateDict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd if (m := rx.match(k))})


def scale_from_shuffle(out_channels: int, colors: int = 3) -> int:
    """Scale of a conv + PixelShuffle upsampler from its output channels (``colors * s**2``)."""
    s2, rem = divmod(out_channels, colors)
    s = round(s2**0.5)
    if rem or s * s != s2:
        raise ValueError(f"{out_channels} output channels is not {colors} * s^2")
    return s


def conv(in_ch: int, out_ch: int, k: int, bias: bool = True, groups: int = 1, stride: int = 1) -> nn.Conv2d:
    """'same' convolution (odd kernel)."""
    return nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2, bias=bias, groups=groups)


def pixelshuffle_block(in_ch: int, out_ch: int, scale: int, k: int = 3) -> nn.Sequential:
    """conv to ``out_ch * scale**2`` channels then PixelShuffle (keys ``0.weight``, ``0.bias``)."""
    return nn.Sequential(conv(in_ch, out_ch * scale * scale, k), nn.PixelShuffle(scale))
