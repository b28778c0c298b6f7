"""``dukd``: Data Upcycling Knowledge Distillation (Zhang et al., arXiv 2309.14162).

Two student optimiser steps per iteration, as in the official ``DUKD.optimize_parameters``
(yun224/DUKD, models/dukd_model.py), which zeroes the gradients once per iteration: the second
``optimizer.step()`` therefore applies the step-1 gradient (computed at the pre-step-1 weights)
*plus* the upcycling gradient. That is ``grad_mode: official`` (the default);
``grad_mode: separate`` zeroes before step 2, so it applies the upcycling gradient alone.

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

import logging
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...data.imresize import imresize
from ...errors import ConfigError
from ..augment import apply_ops, draw_ops, invert_ops, official_inverse
from ..base import DistillMethod, MethodConfig, StepContext, register_method
from .kd import output_kd_loss

log = logging.getLogger(__name__)

# official dukd_opt.n_gt_sub per scale (EDSR/RCAN/SwinIR recipes): [2] at x2, [1] at x3 and x4
OFFICIAL_N_GT_SUB = {2: 2, 3: 1, 4: 1}


@dataclass
class DUKDConfig(MethodConfig):
    w_pix: float = 5.0
    w_kd: float = 1.0
    # zoom-in tiles per GT patch (official option name); null = the official value for the scale
    n_gt_sub: int | None = None
    # official: one zero_grad per iteration, step 2 applies grad(step 1) + grad(upcycling);
    # separate: step 2 applies the upcycling gradient alone
    grad_mode: Literal["official", "separate"] = "official"
    # start from a checkpoint of another scale, loading every tensor whose name and shape match
    # (official x4 recipe: the x2 DUKD student with strict_load_g: false); same-scale: use --init
    init_from: str | None = None
    zoom_out: bool = True
    label_consistency: bool = True  # official "noisy" option
    q: float = 0.3  # probability of each invertible op (official "noisy.prob")
    official_inverse_order: bool = False  # True: re-apply ops in the same order (official code)

    def __post_init__(self) -> None:
        if self.grad_mode not in ("official", "separate"):
            raise ValueError(f"dukd.grad_mode must be 'official' or 'separate', got {self.grad_mode!r}")
        if self.n_gt_sub is not None and self.n_gt_sub < 0:
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


def n_gt_sub_for(cfg: DUKDConfig, scale: int) -> int:
    """Zoom-in tiles per GT patch: the configured value, else the official one for ``scale``."""
    n = cfg.n_gt_sub if cfg.n_gt_sub is not None else OFFICIAL_N_GT_SUB.get(scale, 1)
    return min(n, scale * scale)


def load_matching(student: nn.Module, path: str) -> tuple[int, int]:
    """Copy every tensor of checkpoint ``path`` whose name and shape match into ``student``
    (BasicSR ``strict_load_g: false``: mismatched ones are ignored). Returns (loaded, total)."""
    from ...models.load import load_model

    src = load_model(path).model.state_dict()
    own = student.state_dict()
    match = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    if len(match) < len(own) // 2:
        raise ConfigError(
            f"dukd.init_from: {path} shares only {len(match)} of {len(own)} tensors with the student; "
            "use a checkpoint of the same student family and width (e.g. the x2 DUKD student)"
        )
    student.load_state_dict(match, strict=False)
    return len(match), len(own)


@register_method
class DUKD(DistillMethod[DUKDConfig]):
    name = "dukd"
    Config = DUKDConfig

    def setup(self, student: nn.Module, teacher: nn.Module | None, device: torch.device) -> None:
        init = self.cfg.init_from
        if init:
            got, total = load_matching(student, init)
            log.info("dukd.init_from: loaded %d of %d student tensors from %s", got, total, init)

    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        assert batch is not None
        cfg = self.cfg
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
        n = n_gt_sub_for(cfg, s)
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
            ctx.step(loss2, zero_grad=cfg.grad_mode == "separate")
            logs["loss_upcycle"] = float(loss2.detach())
        return logs
