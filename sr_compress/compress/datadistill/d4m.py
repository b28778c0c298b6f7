"""``d4m``: D4M-style prototypes (Su et al., CVPR 2024) in the latent space of a patch VAE.

D4M encodes the real images of each class with a latent diffusion model's VAE encoder, runs
(mini-batch) k-means with ``ipc`` clusters on the latents, and decodes each cluster centre into a
synthetic image (through the diffusion model, guided by the class prompt); a teacher then gives
the soft labels. Here: the toolkit's :class:`~.vae.PatchVAE` (:mod:`.generator`), per
pseudo-class full-batch k-means on the encoder μ of every candidate patch, the centres decoded by
the VAE decoder; teacher labels are ``relabel_views`` (common key). The differences from the
official code (suduo94/D4M ``distillation/gen_prototype.py``) are tabled in
docs/methods/dataset_distillation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .clustering import allocate, kmeans
from .dm import class_groups
from .generator import GeneratorArgs, obtain_generator
from .vae import PatchVAE


@dataclass
class D4MConfig(GeneratorArgs):
    """The ``d4m:`` section: the generator keys and these."""

    kmeans_iters: int = 50  # Lloyd iterations (k-means++ seeding)
    encode_batch: int = 64


def encode_all(vae: PatchVAE, patches: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """Encoder μ of uint8 patches (N, 3, S, S) → (N, C, S/4, S/4) on the CPU."""
    out = []
    with torch.no_grad():
        for i in range(0, len(patches), batch):
            mu, _ = vae.encode(patches[i : i + batch].float().div(255.0).to(device))
            out.append(mu.cpu())
    return torch.cat(out)


@register_distiller
class D4M(DatasetDistiller):
    name = "d4m"
    config_cls = D4MConfig

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        cfg = ctx.cfg
        opts: D4MConfig = self.options(cfg)
        vae, meta = obtain_generator(opts, ctx.pool.source_files, ctx.device)
        self.info = {"generator": meta}
        cand = torch.arange(len(ctx.pool))
        _, labels = ctx.pseudo_classes(cand)
        latents = encode_all(vae, ctx.pool.patches, opts.encode_batch, ctx.device)
        out: list[Distilled] = []
        groups = class_groups(labels, cfg.classes)
        for c, (members, k) in enumerate(zip(groups, allocate([len(m) for m in groups], cfg.ipc))):
            if k == 0:
                continue
            flat = latents[members].flatten(1)
            centres, _ = kmeans(flat, k, iters=opts.kmeans_iters, seed=cfg.seed + c)
            with torch.no_grad():
                hr = vae.decode(centres.view(k, *latents.shape[1:]).to(ctx.device)).clamp(0, 1).cpu()
            nearest = torch.cdist(centres, flat).argmin(1)
            for j in range(k):
                origin = ctx.origin(int(members[nearest[j]]))
                origin["role"] = "decoded k-means centre; nearest real patch in latent space"
                out.append(Distilled(hr[j], c, origin))
        return out
