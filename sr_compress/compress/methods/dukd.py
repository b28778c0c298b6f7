"""``dukd``: Data Upcycling Knowledge Distillation (Zhang et al., arXiv 2309.14162).

Two student optimiser steps per iteration, as in the official ``DUKD.optimize_parameters``:

1. output KD on the real pair (x, y): ``w_pix·‖S(x) − y‖₁ + w_kd·‖S(x) − T(x)‖₁``;
2. data upcycling, the teacher being the only label:

   * zoom-in: the GT patch y is cut into an s×s grid of LR-sized tiles and ``n_gt_sub`` grid
     cells (the same cells for the whole batch, as the official code) are used as extra LR
     inputs u, labelled by T(u);
   * label consistency: per sample, each invertible op (colour inversion, two flips, transpose)
     is drawn with probability q; the student sees F(u), its output is mapped back with F⁻¹ and
     pulled to T(u) with ``w_kd·L1`` (``augment.py``; reverse-order inverse unless
     ``official_inverse_order``);
   * zoom-out: x↓ = MATLAB-bicubic(x, 1/s); ``w_pix·‖S(x↓) − x‖₁ + w_kd·‖S(x↓) − T(x↓)‖₁``.

The loss weights enter exactly as in the official code, where ``cri_pix``/``cri_kd`` carry the
loss weights and every term of step 2 is the plain sum of weighted terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...data.imresize import imresize
from ..augment import apply_ops, draw_ops, invert_ops, official_inverse
from ..base import DistillMethod, MethodConfig, StepContext, register_method
from .kd import output_kd_loss


@dataclass
class DUKDConfig(MethodConfig):
    w_pix: float = 5.0
    w_kd: float = 1.0
    n_gt_sub: int = 2  # zoom-in tiles per GT patch (official option name)
    zoom_out: bool = True
    label_consistency: bool = True  # official "noisy" option
    q: float = 0.3  # probability of each invertible op (official "noisy.prob")
    official_inverse_order: bool = False  # True: re-apply ops in the same order (official code)

    def __post_init__(self) -> None:
        if self.n_gt_sub < 0:
            raise ValueError(f"dukd.n_gt_sub must be >= 0, got {self.n_gt_sub}")
        if not 0.0 <= self.q <= 1.0:
            raise ValueError(f"dukd.q must be in [0, 1], got {self.q}")
        if self.w_pix < 0 or self.w_kd < 0:
            raise ValueError("dukd.w_pix and dukd.w_kd must be >= 0")


def gt_tiles(y: torch.Tensor, lr_size: tuple[int, int], scale: int, n: int) -> torch.Tensor:
    """``n`` random cells of the s×s grid of LR-sized tiles of ``y`` (same cells for every
    sample), concatenated along the batch: shape ``(n·B, C, h, w)``."""
    h, w = lr_size
    cells = torch.randperm(scale * scale)[:n].tolist()
    tiles = [y[..., (c // scale) * h : (c // scale + 1) * h, (c % scale) * w : (c % scale + 1) * w] for c in cells]
    return torch.cat(tiles, 0)


@register_method
class DUKD(DistillMethod):
    name = "dukd"
    Config = DUKDConfig

    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        assert batch is not None
        cfg: DUKDConfig = self.cfg  # type: ignore[assignment]
        x, y = batch["lr"], batch["hr"]
        s = ctx.scale

        # step 1: output KD on the real pair
        t_sr = ctx.teacher_forward(x).float()
        sr = ctx.student(x).float()
        loss1, l_pix, l_kd = output_kd_loss(sr, y, t_sr, cfg.w_pix, cfg.w_kd)
        ctx.step(loss1)
        logs = {"loss": float(loss1.detach()), "l_pix": float(l_pix.detach()), "l_kd": float(l_kd.detach())}

        # step 2: data upcycling
        terms: list[torch.Tensor] = []
        n = min(cfg.n_gt_sub, s * s)
        if n > 0:
            u = gt_tiles(y, (x.shape[-2], x.shape[-1]), s, n)
            t_u = ctx.teacher_forward(u).float()
            if cfg.label_consistency and cfg.q > 0:
                masks = draw_ops(u.shape[0], cfg.q, device=u.device)
                back = official_inverse if cfg.official_inverse_order else invert_ops
                s_u = back(ctx.student(apply_ops(u, masks)).float(), masks)
            else:
                s_u = ctx.student(u).float()
            l_zoom_in = F.l1_loss(s_u, t_u)
            terms.append(cfg.w_kd * l_zoom_in)
            logs["l_zoom_in"] = float(l_zoom_in.detach())
        hh, ww = (x.shape[-2] // s) * s, (x.shape[-1] // s) * s
        if cfg.zoom_out and hh > 0 and ww > 0:
            x = x[..., :hh, :ww]  # the zoomed-out label must be exactly s x its input
            x_down = imresize(x, size=(hh // s, ww // s))
            s_down = ctx.student(x_down).float()
            t_down = ctx.teacher_forward(x_down).float()
            l_zo_pix = F.l1_loss(s_down, x)
            l_zo_kd = F.l1_loss(s_down, t_down)
            terms += [cfg.w_pix * l_zo_pix, cfg.w_kd * l_zo_kd]
            logs["l_zoom_out_pix"] = float(l_zo_pix.detach())
            logs["l_zoom_out_kd"] = float(l_zo_kd.detach())
        if terms:
            loss2 = torch.stack(terms).sum()
            ctx.step(loss2)
            logs["loss_upcycle"] = float(loss2.detach())
        return logs
