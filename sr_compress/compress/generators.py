"""The DFSR image generator (Zhang et al., CVPR 2021) and helpers to look at what it makes.

The official generator (``GeneratorINE1`` in huawei-noah/Efficient-Computing, DFSR/zsnet.py)
maps a latent ``z ~ N(0, I)`` through a linear layer to a 128-channel map of a quarter of the
output side, then: InstanceNorm → 2× nearest upsample → conv 128→128 → InstanceNorm(eps 0.8) →
LeakyReLU(0.2) → 2× upsample → conv 128→64 → InstanceNorm(eps 0.8) → LeakyReLU(0.2) →
conv 64→C → tanh, mapped to [0, 1] by ``(x + 1) / 2``; Kaiming-normal init of convs/linear.

We keep that design. Differences: RGB output of the *LR* patch size (our students take LR
input; the original produced a Y-channel LR image that was bicubic-upsampled for VDSR), and any
output side is accepted (the latent map is ``ceil(side / 4)`` and the result is cropped).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import init


class DFSRGenerator(nn.Module):
    """``z (N, latent_dim)`` → images ``(N, channels, out_size, out_size)`` in [0, 1]."""

    def __init__(self, latent_dim: int = 256, out_size: int = 12, channels: int = 3, width: int = 128) -> None:
        super().__init__()
        if out_size < 4:
            raise ValueError(f"generator out_size must be >= 4, got {out_size}")
        self.latent_dim = latent_dim
        self.out_size = out_size
        self.width = width
        self.init_size = math.ceil(out_size / 4)
        self.l1 = nn.Linear(latent_dim, width * self.init_size**2)
        self.blocks0 = nn.InstanceNorm2d(width, affine=True)
        self.blocks1 = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            # eps 0.8 is the official value; it keeps the norm from amplifying near-constant maps
            nn.InstanceNorm2d(width, eps=0.8, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.blocks2 = nn.Sequential(
            nn.Conv2d(width, width // 2, 3, padding=1),
            nn.InstanceNorm2d(width // 2, eps=0.8, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width // 2, channels, 3, padding=1),
            nn.Tanh(),
        )
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                init.kaiming_normal_(m.weight)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.l1(z.flatten(1)).view(z.shape[0], self.width, self.init_size, self.init_size)
        img = self.blocks0(out)
        img = nn.functional.interpolate(img, scale_factor=2)
        img = self.blocks1(img)
        img = nn.functional.interpolate(img, scale_factor=2)
        img = self.blocks2(img)
        img = img[..., : self.out_size, : self.out_size]
        return (img + 1) * 0.5

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from fresh latents (``generator`` makes them reproducible)."""
        dev = self.l1.weight.device
        z = torch.randn(n, self.latent_dim, generator=generator, device="cpu").to(dev)
        return self(z)


def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2, zoom: int = 1) -> np.ndarray:
    """NCHW [0, 1] images → one HWC uint8 grid (white padding; ``zoom`` = nearest upscale)."""
    imgs = images.detach().float().clamp(0, 1).cpu()
    if zoom > 1:
        imgs = imgs.repeat_interleave(zoom, dim=-2).repeat_interleave(zoom, dim=-1)
    n, c, h, w = imgs.shape
    if c == 1:
        imgs = imgs.expand(n, 3, h, w)
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    grid = torch.ones(3, nrows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y : y + h, x : x + w] = imgs[i, :3]
    return (grid.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


def save_image_grid(path: str | Path, images: torch.Tensor, nrow: int = 8, zoom: int = 1) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(images, nrow=nrow, zoom=zoom)).save(path)
    return path
