"""``scratch``: the student alone, L1 to the ground truth — the no-teacher baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..base import DistillMethod, MethodConfig, StepContext, register_method


@dataclass
class ScratchConfig(MethodConfig):
    w_pix: float = 1.0


@register_method
class Scratch(DistillMethod[ScratchConfig]):
    name = "scratch"
    Config = ScratchConfig
    needs_teacher = False

    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        assert batch is not None
        sr = ctx.student(batch["lr"])
        l_pix = F.l1_loss(sr, batch["hr"])
        loss = self.cfg.w_pix * l_pix
        ctx.step(loss)
        return {"loss": float(loss.detach()), "l_pix": float(l_pix.detach())}
