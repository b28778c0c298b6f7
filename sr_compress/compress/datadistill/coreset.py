"""Selection baselines: a random subset and a k-center coreset of the candidate patches."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .clustering import allocate, kcenter_greedy
from .pool import informative_subset


@register_distiller
class RandomSubset(DatasetDistiller):
    """``ipc * classes`` candidate patches drawn uniformly (no embedding, no class structure)."""

    name = "random"

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        n = ctx.cfg.ipc * ctx.cfg.classes
        g = torch.Generator().manual_seed(ctx.cfg.seed)
        if n > len(ctx.pool):
            from ...errors import UserInputError

            raise UserInputError(f"asked for {n} patches but only {len(ctx.pool)} candidates exist")
        idx = torch.randperm(len(ctx.pool), generator=g)[:n]
        return [Distilled(ctx.pool.float([int(i)])[0], -1, ctx.origin(int(i))) for i in idx]


@dataclass
class KCenterConfig:
    """The ``kcenter:`` section."""

    informative_fraction: float = 0.5  # keep the fraction of candidates bicubic reconstructs worst

    def __post_init__(self) -> None:
        if not 0.0 < self.informative_fraction <= 1.0:
            raise ValueError(f"informative_fraction must be in (0, 1], got {self.informative_fraction}")


@register_distiller
class KCenterCoreset(DatasetDistiller):
    """Greedy farthest-point k-center per pseudo-class, on the same embeddings as feature_medoids."""

    name = "kcenter"
    config_cls = KCenterConfig

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        opts: KCenterConfig = self.options(ctx.cfg)
        cand = informative_subset(ctx.pool, opts.informative_fraction)
        emb, labels = ctx.pseudo_classes(cand)
        out: list[Distilled] = []
        groups = [torch.nonzero(labels == c).squeeze(1) for c in range(ctx.cfg.classes)]
        for c, (members, k) in enumerate(zip(groups, allocate([len(g) for g in groups], ctx.cfg.ipc))):
            if k == 0:
                continue
            chosen = members[kcenter_greedy(emb[members], k, seed=ctx.cfg.seed + c)]
            for j in chosen:
                pi = int(cand[j])
                out.append(Distilled(ctx.pool.float([pi])[0], c, ctx.origin(pi)))
        return out
