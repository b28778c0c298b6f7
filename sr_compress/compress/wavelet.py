"""Single-level 2D Haar wavelet transform and the wavelet-weighted L1 loss used by PDD.

PDD's supervised term compares SR and GT per Haar sub-band and weights the bands so that the
low-frequency content (LL) dominates while the high-frequency detail bands (HL/LH, HH), which
carry most of the synthetic-vs-real degradation mismatch, are only lightly constrained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def haar_dwt(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Orthonormal one-level Haar DWT of an NCHW tensor → (LL, HL, LH, HH), each (N, C, H/2, W/2).

    Odd sizes are cropped by one pixel (the bands need an even grid).
    """
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w]
    a = x[..., 0::2, 0::2]
    b = x[..., 0::2, 1::2]
    c = x[..., 1::2, 0::2]
    d = x[..., 1::2, 1::2]
    ll = (a + b + c + d) / 2
    hl = (a - b + c - d) / 2  # horizontal detail (differences along W)
    lh = (a + b - c - d) / 2  # vertical detail (differences along H)
    hh = (a - b - c + d) / 2
    return ll, hl, lh, hh


def haar_idwt(ll: torch.Tensor, hl: torch.Tensor, lh: torch.Tensor, hh: torch.Tensor) -> torch.Tensor:
    """Exact inverse of :func:`haar_dwt`."""
    a = (ll + hl + lh + hh) / 2
    b = (ll - hl + lh - hh) / 2
    c = (ll + hl - lh - hh) / 2
    d = (ll - hl - lh + hh) / 2
    n, ch, h, w = ll.shape
    out = ll.new_empty(n, ch, h * 2, w * 2)
    out[..., 0::2, 0::2] = a
    out[..., 0::2, 1::2] = b
    out[..., 1::2, 0::2] = c
    out[..., 1::2, 1::2] = d
    return out


def wavelet_l1(
    pred: torch.Tensor, target: torch.Tensor, weights: tuple[float, float, float] = (1.0, 0.1, 0.01)
) -> torch.Tensor:
    """``w_LL·L1(LL) + w_M·L1(HL ∪ LH) + w_HH·L1(HH)`` (the HL/LH pair is averaged together)."""
    p = haar_dwt(pred)
    t = haar_dwt(target)
    low = F.l1_loss(p[0], t[0])
    mid = 0.5 * (F.l1_loss(p[1], t[1]) + F.l1_loss(p[2], t[2]))
    high = F.l1_loss(p[3], t[3])
    return weights[0] * low + weights[1] * mid + weights[2] * high
