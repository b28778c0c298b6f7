"""The per-image operations degradation pipelines chain: filter, resize, noise, JPEG, uint8 quantisation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .io import to_uint8


def filter2d(img: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Depth-wise convolution with reflect padding (same size output)."""
    k = torch.as_tensor(kernel, dtype=img.dtype, device=img.device)
    pad = k.shape[-1] // 2
    c = img.shape[0]
    x = F.pad(img[None], (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(x, k.expand(c, 1, *k.shape), groups=c)[0]


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    size = (max(1, size[0]), max(1, size[1]))
    if mode == "area":
        return F.interpolate(img[None], size=size, mode="area")[0]
    return F.interpolate(img[None], size=size, mode=mode, align_corners=False)[0]


def gaussian_noise(img: torch.Tensor, sigma: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    shape = (1, *img.shape[1:]) if gray else img.shape
    noise = torch.randn(shape, generator=gen, dtype=img.dtype) * sigma
    return img + noise.expand_as(img)


def poisson_noise(img: torch.Tensor, scale: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    if gray:
        ref = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    else:
        ref = img
    ref = ref.clamp(0, 1)
    q = torch.round(ref * 255)
    vals = len(torch.unique(q))
    vals = 2 ** math.ceil(math.log2(max(vals, 2)))
    out = torch.poisson(ref * vals, generator=gen) / vals
    noise = (out - ref) * scale
    return img + noise.expand_as(img)


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """OpenCV JPEG round trip; ``quality`` must be an int (OpenCV rejects floats)."""
    arr = to_uint8(img)
    ok, buf = cv2.imencode(".jpg", arr[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("cv2.imencode failed to write a JPEG")
    raw = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if raw is None:
        raise RuntimeError("cv2.imdecode failed to read back the JPEG it wrote")
    dec = raw[..., ::-1].copy()
    return torch.from_numpy(dec).permute(2, 0, 1).to(img.dtype) / 255.0


def quantize_uint8(img: torch.Tensor) -> torch.Tensor:
    return torch.round(img.clamp(0, 1) * 255.0) / 255.0
