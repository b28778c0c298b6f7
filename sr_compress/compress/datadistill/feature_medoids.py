"""``feature_medoids``: a feature-medoid coreset (formerly called "prototypes").

Per pseudo-class, k-means with ``ipc`` clusters over feature embeddings of the informative
candidates (lowest bicubic PSNR); the real patch nearest each centre is kept, optionally refined a
few bounded gradient steps toward the centre in embedding space (so it stays a photograph).
This borrows D4M's "one sample per cluster centre" idea but has no generative latent space and
decodes nothing; the D4M-style method is :mod:`.d4m`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .clustering import allocate, kmeans
from .pool import informative_subset


@dataclass
class FeatureMedoidsConfig:
    """The ``feature_medoids:`` section."""

    informative_fraction: float = 0.5  # keep the fraction of candidates bicubic reconstructs worst
    refine_steps: int = 0  # gradient steps pulling each chosen patch toward its cluster centre
    refine_lr: float = 0.005
    refine_max_change: float = 0.03  # L∞ bound of the refinement, keeps the patch a real photo

    def __post_init__(self) -> None:
        if not 0.0 < self.informative_fraction <= 1.0:
            raise ValueError(f"informative_fraction must be in (0, 1], got {self.informative_fraction}")


def refine_toward(embed: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, centre: torch.Tensor, steps: int, lr: float,
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
class FeatureMedoids(DatasetDistiller):
    name = "feature_medoids"
    config_cls = FeatureMedoidsConfig

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        cfg = ctx.cfg
        opts: FeatureMedoidsConfig = self.options(cfg)
        cand = informative_subset(ctx.pool, opts.informative_fraction)
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
                if opts.refine_steps > 0:
                    hr = refine_toward(ctx.embed, hr, F.normalize(centres[j : j + 1], dim=1),
                                       opts.refine_steps, opts.refine_lr,
                                       opts.refine_max_change)
                out.append(Distilled(hr[0], c, ctx.origin(pi)))
        return out
