"""A toy distillation method: the student copies the teacher's output (L1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sr_compress.compress.base import DistillMethod, MethodConfig, StepContext, register_method


@dataclass
class ToyConfig(MethodConfig):
    w_teacher: float = 1.0  # the YAML section ``toy:`` / ``--set toy.w_teacher=...``


@register_method
class ToyMethod(DistillMethod[ToyConfig]):
    name = "toy"
    Config = ToyConfig
    needs_teacher = True

    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        assert batch is not None
        loss = self.cfg.w_teacher * F.l1_loss(ctx.student(batch["lr"]), ctx.teacher_forward(batch["lr"]))
        ctx.step(loss)
        return {"loss": float(loss.detach())}
