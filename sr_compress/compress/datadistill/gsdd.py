"""``gsdd``: generative-space dataset distillation (Zhang et al., AAAI 2024), in a patch VAE.

GSDD distils in the latent space of a pretrained generator: real images are inverted into it
(GAN inversion), the latents are then optimised by distribution matching in an informative
feature space, plus a diversity regulariser, and the distilled set is decoded from them. Here the
generator is the toolkit's own :class:`~.vae.PatchVAE` (trained on the source images and cached,
:mod:`.generator`), inversion is encoder-μ + Adam on the MSE (:func:`~.vae.invert`), and the
feature space is the frozen teacher's (``features: teacher``; ``random`` uses DM's random ψ). The
official repository (eric930711/GSDD) holds a README only, so the table of differences in
docs/methods/dataset_distillation.md is against the paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .base import DatasetDistiller, DistillContext, Distilled, register_distiller
from .dm import DMArgs, class_starts, decoded, optimise_latents
from .embed import TeacherFeatureEmbed
from .generator import GeneratorArgs, obtain_generator
from .vae import invert


@dataclass
class GSDDConfig(GeneratorArgs, DMArgs):
    """The ``gsdd:`` section: the DM keys, the generator keys and these."""

    lr: float = 0.02  # Adam step on the VAE latents (unit-variance space, not pixels)
    features: Literal["teacher", "random"] = "teacher"  # DM feature space: teacher features or random ψ
    inversion_steps: int = 50  # Adam steps of latent inversion after the encoder's μ
    inversion_lr: float = 0.05
    latent_clamp: float = 4.0  # |z| bound during DM (the prior has unit variance); 0 = none

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inversion_steps < 0 or self.latent_clamp < 0:
            raise ValueError("inversion_steps and latent_clamp must be >= 0")


@register_distiller
class GSDD(DatasetDistiller):
    name = "gsdd"
    needs_teacher = True
    config_cls = GSDDConfig

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.info: dict[str, Any] = {}

    def distill(self, ctx: DistillContext) -> list[Distilled]:
        cfg = ctx.cfg
        opts: GSDDConfig = self.options(cfg)
        assert ctx.teacher is not None
        vae, meta = obtain_generator(opts, ctx.pool.source_files, ctx.device)
        self.info = {"generator": meta}
        starts = class_starts(ctx, lambda pick: invert(vae, ctx.pool.float(pick).to(ctx.device),
                                                       opts.inversion_steps, opts.inversion_lr))
        features = TeacherFeatureEmbed(ctx.teacher, cfg.scale) if opts.features == "teacher" else None
        bound = (-opts.latent_clamp, opts.latent_clamp) if opts.latent_clamp > 0 else None
        zs, self.history = optimise_latents(vae.decode, starts.real, starts.latents, opts, seed=cfg.seed,
                                            device=ctx.device, features=features, clamp=bound)
        return decoded(ctx, starts, zs, vae.decode, "latent inverted from this patch")
