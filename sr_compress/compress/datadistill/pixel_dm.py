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

from ...data.imresize import imresize
from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .dm import DMArgs, class_starts, decoded, optimise_latents


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
        starts = class_starts(ctx, lambda pick: imresize(ctx.pool.float(pick), 1.0 / cfg.scale).clamp(0, 1))
        zs, self.history = optimise_latents(ctx.teacher, starts.real, starts.latents, opts, seed=cfg.seed,
                                            device=ctx.device)
        return decoded(ctx, starts, zs, ctx.teacher, "latent initialised from this patch")
