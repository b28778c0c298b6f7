"""``kd``: classic output distillation, ``w_pix·‖S(x) − y‖₁ + w_kd·‖S(x) − T(x)‖₁``.

The "KD" row of the DUKD paper's tables. Defaults are the official kd config (yun224/DUKD
``kd_edsr_x4c256b32_c64b32.yml``: pixel/KD weights 1/1); DUKD's first step is the same loss with
its own weights (official 5/1), so ``--set kd.w_pix=5`` makes kd exactly DUKD without upcycling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..base import DistillMethod, MethodConfig, StepContext, register_method


@dataclass
class KDConfig(MethodConfig):
    w_pix: float = 1.0
    w_kd: float = 1.0

    def __post_init__(self) -> None:
        if self.w_pix < 0 or self.w_kd < 0:
            raise ValueError("kd.w_pix and kd.w_kd must be >= 0")


def output_kd_loss(sr: torch.Tensor, hr: torch.Tensor, t_sr: torch.Tensor, w_pix: float,
                   w_kd: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, l_pix, l_kd) with unweighted L1 terms returned for logging."""
    l_pix = F.l1_loss(sr, hr)
    l_kd = F.l1_loss(sr, t_sr)
    return w_pix * l_pix + w_kd * l_kd, l_pix, l_kd


@register_method
class KD(DistillMethod[KDConfig]):
    name = "kd"
    Config = KDConfig

    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        assert batch is not None
        x, y = batch["lr"], batch["hr"]
        t_sr = ctx.teacher_forward(x).float()
        sr = ctx.student(x)
        loss, l_pix, l_kd = output_kd_loss(sr.float(), y, t_sr, self.cfg.w_pix, self.cfg.w_kd)
        ctx.step(loss)
        return {"loss": float(loss.detach()), "l_pix": float(l_pix.detach()), "l_kd": float(l_kd.detach())}
