"""MATLAB-compatible bicubic ``imresize`` in torch (batched, differentiable).

MATLAB's ``imresize(img, s, 'bicubic')`` uses the Keys cubic kernel (a = -0.5), widens the
kernel by ``1/s`` when shrinking (antialiasing), maps output pixel ``x`` (1-based) to input
coordinate ``u = x/s + 0.5*(1 - 1/s)``, and mirrors out-of-range taps symmetrically. Each
dimension is therefore a fixed linear map, which we build once as a dense matrix and apply
with two matmuls: ``out = W_h @ img @ W_w.T``. That is exact (no per-pixel loops), works on
any batch shape and lets gradients flow (DFSR's reconstruction loss needs that).

Verified against the ``LR_bicubic`` images of Set5/Set14/B100 (tests/integration).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=256)
def _weight_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool) -> np.ndarray:
    """Dense (out_len, in_len) float64 matrix of MATLAB's bicubic contributions."""
    kernel_width = 4.0
    kernel: Callable[[np.ndarray], np.ndarray]
    if scale < 1 and antialiasing:
        kernel_width /= scale

        def kernel(v: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * v)
    else:
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    # symmetric mirroring of out-of-range indices, as MATLAB's aux = [1:n, n:-1:1]
    aux = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    mirrored = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), taps)
    np.add.at(mat, (rows, mirrored.ravel()), w.ravel())
    return mat


def imresize(
    img: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialiasing: bool = True,
) -> torch.Tensor:
    """Resize like MATLAB ``imresize(..., 'bicubic')``.

    ``img``: (..., H, W) float tensor (any leading dims, e.g. NCHW). Give ``scale`` (output is
    ``ceil(H*scale) x ceil(W*scale)``, as MATLAB) or ``size`` = (out_h, out_w). Values are not
    clipped or rounded; do that at the I/O edge.
    """
    if not torch.is_floating_point(img):
        raise TypeError("imresize expects a float tensor; convert uint8 images with to_float first")
    in_h, in_w = img.shape[-2], img.shape[-1]
    if size is not None:
        out_h, out_w = size
        sh, sw = out_h / in_h, out_w / in_w
    elif scale is not None:
        sh = sw = float(scale)
        out_h, out_w = math.ceil(in_h * sh), math.ceil(in_w * sw)
    else:
        raise ValueError("imresize needs scale or size")
    dtype = img.dtype if img.dtype in (torch.float32, torch.float64) else torch.float32
    wh = torch.from_numpy(_weight_matrix(in_h, out_h, sh, antialiasing)).to(img.device, dtype)
    ww = torch.from_numpy(_weight_matrix(in_w, out_w, sw, antialiasing)).to(img.device, dtype)
    x = img.to(dtype)
    out = torch.matmul(torch.matmul(wh, x), ww.transpose(0, 1))
    return out.to(img.dtype)


def modcrop(img: torch.Tensor | np.ndarray, scale: int, channels_last: bool = False):
    """Crop the bottom/right so H and W are multiples of ``scale`` (top-left kept)."""
    if channels_last:
        h, w = img.shape[0], img.shape[1]
        return img[: h - h % scale, : w - w % scale]
    h, w = img.shape[-2], img.shape[-1]
    return img[..., : h - h % scale, : w - w % scale]


def bicubic_degrade_uint8(hr: np.ndarray, scale: int) -> np.ndarray:
    """The standard SR LR image: modcrop, MATLAB bicubic x1/scale, round to uint8. HWC uint8 in/out."""
    hr = modcrop(hr, scale, channels_last=True)
    t = torch.from_numpy(hr.astype(np.float64)).permute(2, 0, 1)
    lr = imresize(t, 1.0 / scale)
    return np.clip(np.round(lr.permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8)


def bicubic_upscale_uint8(lr: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline: MATLAB bicubic x``scale`` of an LR image, rounded to uint8."""
    t = torch.from_numpy(lr.astype(np.float64)).permute(2, 0, 1)
    sr = imresize(t, float(scale))
    return np.clip(np.round(sr.permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8)
