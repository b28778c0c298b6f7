"""D4M-style prototypes without a diffusion model.

D4M (Su et al., CVPR 2024) clusters the latent codes of real images per class and decodes the
cluster centres into images. We have no latent diffusion model offline, so the "decoder" is the
identity on real patches: per pseudo-class, k-means with ``ipc`` clusters over embeddings of
informative candidates (lowest bicubic PSNR), take the real patch nearest each centre, and
optionally refine it a few gradient steps toward the centre in embedding space (bounded, so it
stays a photograph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .clustering import allocate, kmeans
from .pool import informative_subset


def refine_toward(embed, x: torch.Tensor, centre: torch.Tensor, steps: int, lr: float,
                  max_change: float) -> torch.Tensor:
    """Sign-gradient steps on the pixels minimising ‖embed(x) − centre‖², within an L∞ ball."""
    x0 = x.detach()
    x = x0.clone().requires_grad_(True)
    for _ in range(steps):
        loss = ((F.normalize(embed(x), dim=1) - centre) ** 2).sum()
        (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x -= lr * grad.sign()
            x.copy_((x0 + (x - x0).clamp(-max_change, max_change)).clamp(0, 1))
    return x.detach()


@register_distiller
class Prototypes(DatasetDistiller):
    name = "prototypes"

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        cfg = ctx.cfg
        cand = informative_subset(ctx.pool, cfg.informative_fraction)
        emb, labels = ctx.pseudo_classes(cand)
        out: list[Distilled] = []
        groups = [torch.nonzero(labels == c).squeeze(1) for c in range(cfg.classes)]
        for c, (members, k) in enumerate(zip(groups, allocate([len(g) for g in groups], cfg.ipc))):
            if k == 0:
                continue
            centres, _ = kmeans(emb[members], k, seed=cfg.seed + c)
            dist = torch.cdist(centres, emb[members])
            used: set[int] = set()
            for j in range(k):
                # nearest real patch not already taken by another centre
                for m in torch.argsort(dist[j]).tolist():
                    if m not in used:
                        used.add(m)
                        break
                pi = int(cand[members[m]])
                hr = ctx.pool.float([pi])
                if cfg.prototypes.refine_steps > 0:
                    hr = refine_toward(ctx.embed, hr, F.normalize(centres[j : j + 1], dim=1),
                                       cfg.prototypes.refine_steps, cfg.prototypes.refine_lr,
                                       cfg.prototypes.refine_max_change)
                out.append(Distilled(hr[0], c, ctx.origin(pi)))
        return out
