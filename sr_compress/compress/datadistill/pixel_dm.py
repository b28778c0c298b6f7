"""``pixel_dm``: teacher-relabelled pixel-space distribution matching (formerly called "gsdd").

The synthetic HR patch is S = T(z) with T the frozen SR *teacher* and z an LR-sized image,
initialised from real LR patches of the class (MATLAB bicubic of real HR patches) and optimised
by distribution matching (:mod:`.dm`, random ψ per iteration, λ = 0.1 diversity term). There is
no generative prior: z is a pixel image and T is an SR network, not a model of natural images,
which is why it is not GSDD (:mod:`.gsdd` is). Phase 2 (LR from the distilled HR by MATLAB
bicubic) happens in the training data loader.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...data.imresize import imresize
from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .clustering import allocate
from .dm import DMArgs, class_groups, optimise_latents


@dataclass
class PixelDMConfig(DMArgs):
    """The ``pixel_dm:`` section: the DM keys (:class:`~.dm.DMArgs`), nothing else."""


@register_distiller
class PixelDM(DatasetDistiller):
    name = "pixel_dm"
    needs_teacher = True
    config_cls = PixelDMConfig

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        cfg = ctx.cfg
        opts: PixelDMConfig = self.options(cfg)
        assert ctx.teacher is not None
        # the real distribution is the whole candidate pool (not only the informative part)
        _, labels = ctx.pseudo_classes(torch.arange(len(ctx.pool)))
        g = torch.Generator().manual_seed(cfg.seed)
        real_by_class, z_init, init_idx, class_ids = [], [], [], []
        groups = class_groups(labels, cfg.classes)
        for c, (members, k) in enumerate(zip(groups, allocate([len(m) for m in groups], cfg.ipc))):
            if k == 0:
                continue
            class_ids.append(c)
            real_by_class.append(ctx.pool.patches[members])
            pick = members[torch.randperm(len(members), generator=g)[:k]]
            init_idx.append(pick)
            z_init.append(imresize(ctx.pool.float(pick), 1.0 / cfg.scale).clamp(0, 1))
        zs, self.history = optimise_latents(ctx.teacher, real_by_class, z_init, opts, seed=cfg.seed,
                                            device=ctx.device)
        out: list[Distilled] = []
        with torch.no_grad():
            for c, z, idx in zip(class_ids, zs, init_idx):
                hr = ctx.teacher(z).clamp(0, 1).cpu()
                for j in range(len(z)):
                    origin = ctx.origin(int(idx[j]))
                    origin["role"] = "latent initialised from this patch"
                    out.append(Distilled(hr[j], c, origin))
        return out
