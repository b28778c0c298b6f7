"""A small convolutional VAE of HR patches: the generative space of ``gsdd`` and ``d4m``.

Sized for a CPU: fully convolutional, latent = (latent_channels, H/4, W/4), trained on random
``patch`` x ``patch`` crops of the source images for a few minutes. Being convolutional, it
encodes and decodes any patch whose side is a multiple of 4 (the distilled HR patches are
``patch_size * scale`` px). Loss: L1 reconstruction + ``kl_weight`` x KL(q(z|x) ‖ N(0, I)), both
per element, so the latent stays a regular space in which k-means and optimisation make sense.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

DOWN = 4  # spatial reduction of the latent (two stride-2 stages)


@dataclass
class VAEConfig:
    """The generator's ``vae:`` subsection (part of the cache key)."""

    patch: int = 32  # HR training crop side (a multiple of 4)
    latent_channels: int = 8
    width: int = 32
    steps: int = 1500
    batch: int = 16
    lr: float = 2e-3
    kl_weight: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.patch % DOWN or self.patch < 8:
            raise ValueError(f"vae.patch must be a multiple of {DOWN} and >= 8, got {self.patch}")
        if min(self.latent_channels, self.width, self.batch) < 1 or self.steps < 0:
            raise ValueError("vae.latent_channels, width and batch must be >= 1 and steps >= 0")


class _Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PatchVAE(nn.Module):
    """Encoder: conv → 2 x (stride-2 conv) → residual block → (μ, log σ²). Decoder: the mirror
    with pixel-shuffle upsampling; output in [0, 1] up to a final clamp by the caller."""

    def __init__(self, latent_channels: int = 8, width: int = 48) -> None:
        super().__init__()
        w, c = width, latent_channels
        act = nn.LeakyReLU(0.2)
        self.encoder = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), act, nn.Conv2d(w, w, 4, stride=2, padding=1), act,
            nn.Conv2d(w, w, 4, stride=2, padding=1), act, _Res(w), nn.Conv2d(w, 2 * c, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv2d(c, w, 3, padding=1), act, _Res(w), nn.Conv2d(w, 4 * w, 3, padding=1), nn.PixelShuffle(2), act,
            nn.Conv2d(w, 4 * w, 3, padding=1), nn.PixelShuffle(2), act, nn.Conv2d(w, 3, 3, padding=1))
        self.latent_channels = c

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²), each (N, C, H/4, W/4), of images in [0, 1]."""
        mu, logvar = self.encoder(x * 2 - 1).chunk(2, dim=1)
        return mu, logvar.clamp(-10, 10)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z) * 0.5 + 0.5

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar


def vae_loss(model: PatchVAE, x: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    rec, mu, logvar = model(x)
    l1 = (rec - x).abs().mean()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean()
    return l1 + kl_weight * kl, {"l1": l1.item(), "kl": kl.item()}


def random_crops(images: Sequence[np.ndarray], n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """``n`` random ``size`` crops (float (n, 3, size, size) in [0, 1]) of HWC uint8 images."""
    out = []
    big = [im for im in images if min(im.shape[:2]) >= size]
    for i in torch.randint(len(big), (n,), generator=g).tolist():
        im = big[i]
        top = int(torch.randint(im.shape[0] - size + 1, (1,), generator=g))
        left = int(torch.randint(im.shape[1] - size + 1, (1,), generator=g))
        out.append(torch.from_numpy(np.ascontiguousarray(im[top : top + size, left : left + size])))
    x = torch.stack(out).permute(0, 3, 1, 2).float() / 255.0
    flip = torch.rand(n, generator=g) < 0.5  # horizontal flips: free extra data for the prior
    x[flip] = x[flip].flip(-1)
    return x


def train_vae(images: Sequence[np.ndarray], cfg: VAEConfig, device: str | torch.device = "cpu",
              progress: bool = True) -> tuple[PatchVAE, dict[str, Any]]:
    """Train a :class:`PatchVAE` on random crops of ``images`` (HWC uint8). Returns (model, log)."""
    if not any(min(im.shape[:2]) >= cfg.patch for im in images):
        from ...errors import UserInputError

        raise UserInputError(f"no source image is at least {cfg.patch}x{cfg.patch} px: lower vae.patch")
    g = torch.Generator().manual_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = PatchVAE(cfg.latent_channels, cfg.width).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.steps, 1))
    t0, hist = time.perf_counter(), []
    model.train()
    for _ in tqdm(range(cfg.steps), desc="vae", leave=False, disable=not progress):
        x = random_crops(images, cfg.batch, cfg.patch, g).to(device)
        loss, rec = vae_loss(model, x, cfg.kl_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        hist.append(rec)
    model.eval().requires_grad_(False)
    tail = hist[-50:] or [{"l1": float("nan"), "kl": float("nan")}]
    log = {"train_s": round(time.perf_counter() - t0, 1), "steps": cfg.steps,
           "final_l1": float(np.mean([h["l1"] for h in tail])), "final_kl": float(np.mean([h["kl"] for h in tail]))}
    return model, log


def invert(model: PatchVAE, x: torch.Tensor, steps: int, lr: float) -> torch.Tensor:
    """Latents z with decode(z) ≈ x: start at the encoder's μ, then Adam on the MSE (VAE inversion,
    the analogue of GSDD's GAN inversion). The model is not changed."""
    with torch.no_grad():
        z0, _ = model.encode(x)
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        loss = F.mse_loss(model.decode(z), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return z.detach()
