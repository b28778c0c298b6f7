"""PDD — Pairwise Distance Distillation (Zhang, Lee, Yao; ECCV 2024) for unsupervised real-world SR.

A Specialist S (the student, trained) adapts to an unpaired real-LR domain with help from a
Generalist G (a blind SR model). Every iteration sees a synthetic pair ``(x_s, y_s)`` (an HR crop
degraded by the synthetic pipeline) and a real LR crop ``x_t`` paired with it by batch index.

Losses (φ_k: the k-th map of a frozen feature extractor, see ``compress/features.py``):

* inter-model ``Σ_k ‖Gram(φ_k(S x_t) − φ_k(G x_t)) − Gram(φ_k(S x_s) − φ_k(G x_s))‖_F`` — the gap
  between S and G on real inputs must equal their gap on synthetic inputs;
* intra-model: ``d_S = |φ_k(S x_t) − φ_k(S x_s)|``, ``d_G`` likewise; cross-entropy between the
  channel-softmaxed ``d_G`` (target) and ``d_S`` averaged over positions. We subtract the
  target's entropy (i.e. use the KL divergence): same gradient for S, and the loss is 0 when
  S == G, which makes its value readable in logs;
* supervised on synthetic data: wavelet-weighted L1 (Haar LL 1, HL/LH 0.1, HH 0.01) + L1 on φ,
  and an optional GAN term with a spectral-norm U-Net discriminator (off by default). As the
  official ``SRGANRefModel``: the discriminator learns real = y_s, fake = S(x_s); the student's
  adversarial term scores S(x_s) and, once the distances are on, S(x_t) too; with the GAN on,
  the first ``d_init_iters`` iterations train the discriminator alone (``net_d_init_iters``).

``domain_detach`` (official ``domain_opt_detach``; default true in static mode, false in EMA
mode as the two official recipes) detaches S(x_s) inside the distance terms, so they pull only
S(x_t). ``seed: null`` (default) takes every RNG of the method — φ's random init, the synthetic
degradations and crops — from ``train.seed``, so a seed sweep re-draws all of them.

Configurations: ``ema`` (the authors' best; S and G start from the same generalist, G is an EMA of
S, decay 0.999) and ``static`` (G frozen). The distillation terms start after ``warmup``
iterations. G only ever runs under ``no_grad``; gradients reach S alone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ...errors import ConfigError
from ..base import DistillMethod, MethodConfig, StepContext, register_method
from ..features import build_features
from ..wavelet import wavelet_l1


@dataclass
class PDDConfig(MethodConfig):
    mode: Literal["ema", "static"] = "ema"
    ema_decay: float = 0.999  # G ← decay·G + (1−decay)·S after every step (mode ema)
    warmup: int = 5  # iterations of supervised-only training before the distances (official: 5)
    init_from_teacher: bool = True  # S starts from the teacher (the generalist checkpoint)
    # which network the run writes as student.pth. The official EMA recipe tests and saves the
    # EMA network (BasicSR's params_ema), i.e. G; "student" writes S. auto: ema in mode ema,
    # student in mode static. At CPU budgets of a few hundred iterations the EMA (decay 0.999)
    # is still mostly the starting generalist.
    output: Literal["auto", "student", "ema"] = "auto"
    generalist: str | None = None  # static mode: a different frozen G (default: the teacher)
    # degradation of x_s; "resize" (random bicubic/bilinear/area) is the official recipes' choice
    synthetic: Literal["resize", "realesrgan", "bicubic", "fixed"] = "resize"
    # φ init + synthetic pipeline + crop seed; null: train.seed (the engine seeds torch with it)
    seed: int | None = None
    # official domain_opt_detach: S(x_s) detached in the distance terms; null: true in static
    # mode, false in ema mode (the official static / EMA recipes)
    domain_detach: bool | None = None
    features: Literal["random", "generalist", "vgg19"] = "random"
    feature_weights: str | None = None  # local VGG19 state_dict for features: vgg19
    vgg_layers: list[str] | None = None  # features vgg19: layer names (default conv1_2 … conv5_4)
    w_pix: float = 0.5  # official: WeightedWvtLoss loss_weight 0.5
    wavelet_weights: tuple[float, float, float] = (1.0, 0.1, 0.01)
    w_percep: float = 1.0
    w_inter: float = 1.0
    w_intra: float = 1.0
    intra_tau: float = 1.0  # softmax temperature of the intra term (1 = official, for VGG19 scale)
    inter_layer_weights: list[float] | None = None  # per φ map; default 1/K each (official 0.25 x 4)
    intra_layer_weights: list[float] | None = None  # per φ map; default 1 each
    percep_layer_weights: list[float] | None = None  # per φ map; default 1 each
    gan: bool = False
    w_gan: float = 0.01  # official vanilla GAN weight 1e-2
    d_lr: float = 1e-4
    d_channels: int = 32
    d_init_iters: int = 300  # gan only: discriminator-only iterations first (official net_d_init_iters)

    def __post_init__(self) -> None:
        if self.feature_weights and self.features == "random":
            self.features = "vgg19"  # --feature-weights alone means "use VGG19 with these weights"
        if self.d_init_iters < 0:
            raise ValueError(f"pdd.d_init_iters must be >= 0, got {self.d_init_iters}")
        if self.output == "ema" and self.mode != "ema":
            raise ValueError("pdd.output: ema needs pdd.mode: ema (the static generalist is not trained)")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"pdd.ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.warmup < 0:
            raise ValueError(f"pdd.warmup must be >= 0, got {self.warmup}")
        self.wavelet_weights = tuple(float(w) for w in self.wavelet_weights)  # type: ignore[assignment]
        if len(self.wavelet_weights) != 3:
            raise ValueError("pdd.wavelet_weights needs three numbers (LL, HL/LH, HH)")


# ---------------------------------------------------------------------------------------------
# losses (pure functions, tested on their own)
# ---------------------------------------------------------------------------------------------
def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    v = f.reshape(n, c, h * w)
    return v @ v.transpose(1, 2) / (c * h * w)


def _fro(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    # sqrt(Σx² + ε) − sqrt(ε): equals 0 at x = 0 and keeps a finite gradient there (EMA mode starts
    # with S == G, where a plain norm's gradient is NaN)
    return torch.sqrt(x.pow(2).flatten(1).sum(1) + eps) - eps**0.5


def _weights(weights: Sequence[float] | None, n: int, default: float) -> list[float]:
    if weights is None:
        return [default] * n
    if len(weights) != n:
        raise ConfigError(f"pdd: {len(weights)} layer weights given but φ returns {n} feature maps")
    return [float(w) for w in weights]


def inter_loss(
    fs_t: list[torch.Tensor], fg_t: list[torch.Tensor], fs_s: list[torch.Tensor], fg_s: list[torch.Tensor],
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Σ_k w_k ‖Gram(S_t − G_t) − Gram(S_s − G_s)‖_F (norm over the whole batch, as the official code)."""
    total = fs_t[0].new_zeros(())
    for w, a, b, c, d in zip(_weights(weights, len(fs_t), 1.0 / len(fs_t)), fs_t, fg_t, fs_s, fg_s, strict=True):
        total = total + w * _fro((gram(a - b.detach()) - gram(c - d.detach())).reshape(1, -1))[0]
    return total


def intra_loss(
    fs_t: list[torch.Tensor], fs_s: list[torch.Tensor], fg_t: list[torch.Tensor], fg_s: list[torch.Tensor],
    weights: Sequence[float] | None = None, tau: float = 1.0,
) -> torch.Tensor:
    """Σ_k w_k mean_positions KL(softmax_c(|G_t − G_s|/τ) ‖ softmax_c(|S_t − S_s|/τ)).

    τ = 1 is the official setting (VGG19 features); a φ with smaller activations needs a smaller τ
    for the channel softmax to be as peaked as with VGG.
    """
    total = fs_t[0].new_zeros(())
    for w, a, b, c, d in zip(_weights(weights, len(fs_t), 1.0), fs_t, fs_s, fg_t, fg_s, strict=True):
        d_s = (a - b).abs() / tau
        d_g = (c - d).abs().detach() / tau
        log_ps = F.log_softmax(d_s, dim=1)
        log_pg = F.log_softmax(d_g, dim=1)
        total = total + w * (log_pg.exp() * (log_pg - log_ps)).sum(1).mean()
    return total


def color_correct(sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Match each channel's mean/std of ``sr`` to those of ``lr`` (NCHW, [0, 1])."""
    dims = (-2, -1)
    s_mean, s_std = sr.mean(dims, keepdim=True), sr.std(dims, keepdim=True)
    l_mean, l_std = lr.mean(dims, keepdim=True), lr.std(dims, keepdim=True)
    return ((sr - s_mean) / (s_std + 1e-6) * l_std + l_mean).clamp(0, 1)


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, decay: float) -> None:
    """``target ← decay·target + (1−decay)·source`` for parameters; buffers copied."""
    src = dict(source.named_parameters())
    for name, p in target.named_parameters():
        p.mul_(decay).add_(src[name].detach(), alpha=1 - decay)
    src_b = dict(source.named_buffers())
    for name, b in target.named_buffers():
        b.copy_(src_b[name])


class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm (per-pixel real/fake logits)."""

    def __init__(self, in_ch: int = 3, nf: int = 32) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(in_ch, nf, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        x0 = act(self.conv0(x), 0.2)
        x1 = act(self.conv1(x0), 0.2)
        x2 = act(self.conv2(x1), 0.2)
        x3 = act(self.conv3(x2), 0.2)

        def up(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)

        x4 = act(self.conv4(up(x3, x2)), 0.2) + x2
        x5 = act(self.conv5(up(x4, x1)), 0.2) + x1
        x6 = act(self.conv6(up(x5, x0)), 0.2) + x0
        out = act(self.conv7(x6), 0.2)
        out = act(self.conv8(out), 0.2)
        return self.conv9(out)


# ---------------------------------------------------------------------------------------------
# the method
# ---------------------------------------------------------------------------------------------
@register_method
class PDD(DistillMethod[PDDConfig]):
    name = "pdd"
    Config = PDDConfig
    needs_data = True
    needs_teacher = True
    default_student = "teacher"

    def __init__(self, cfg: PDDConfig, scale: int) -> None:
        super().__init__(cfg, scale)
        self.generalist: nn.Module | None = None
        self.phi: nn.Module | None = None
        self.disc: nn.Module | None = None
        self.d_opt: torch.optim.Optimizer | None = None
        # build_method runs right after the engine's set_seed(train.seed), so initial_seed() is
        # train.seed there: a seed sweep over train.seed re-draws φ and the synthetic data too
        self.seed = cfg.seed if cfg.seed is not None else int(torch.initial_seed())

    @property
    def output(self) -> str:
        if self.cfg.output == "auto":
            return "ema" if self.cfg.mode == "ema" else "student"
        return self.cfg.output

    @property
    def domain_detach(self) -> bool:
        return self.cfg.domain_detach if self.cfg.domain_detach is not None else self.cfg.mode == "static"

    # -- setup ------------------------------------------------------------------------------
    def setup(self, student: nn.Module, teacher: nn.Module | None, device: torch.device) -> None:
        cfg = self.cfg
        if teacher is None:
            raise ConfigError("pdd needs the generalist checkpoint: pass --teacher CKPT")
        if cfg.init_from_teacher:
            try:
                student.load_state_dict(teacher.state_dict())
            except RuntimeError:
                raise ConfigError(
                    "pdd.init_from_teacher: the student spec is not the teacher's architecture; "
                    "set --student to the generalist's arch (e.g. srvgg:c32b8) or init_from_teacher: false"
                ) from None
        src = teacher
        if cfg.mode == "static" and cfg.generalist:
            from ...models.load import load_model

            src = load_model(cfg.generalist, self.scale).model
        self.generalist = copy.deepcopy(src).to(device).eval()
        for p in self.generalist.parameters():
            p.requires_grad_(False)
        self.phi = build_features(cfg.features, generalist=teacher, weights=cfg.feature_weights, seed=self.seed,
                                  layers=tuple(cfg.vgg_layers) if cfg.vgg_layers else None)
        self.phi.to(device)
        if cfg.gan:
            self.disc = UNetDiscriminatorSN(nf=cfg.d_channels).to(device)
            self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.d_lr, betas=(0.9, 0.99))

    def extra_modules(self) -> dict[str, nn.Module]:
        return {"discriminator": self.disc} if self.disc is not None else {}

    def extra_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"discriminator": self.d_opt} if self.d_opt is not None else {}

    def on_prepared(self, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Optional engine hook: swap in the accelerate-prepared discriminator/optimizer."""
        self.disc = modules.get("discriminator", self.disc)
        self.d_opt = optimizers.get("discriminator", self.d_opt)

    def make_dataset(self, data_cfg: Any, scale: int) -> torch.utils.data.Dataset:
        from ...data.degrade_pipelines import make_pipeline
        from ...data.degraded_datasets import PDDDataset

        return PDDDataset(
            data_cfg.path,
            data_cfg.real_lr,
            scale,
            data_cfg.patch_size,
            make_pipeline(self.cfg.synthetic, scale),
            augment=data_cfg.augment,
            seed=self.seed,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"generalist": self.generalist.state_dict()} if self.generalist is not None else {}

    def final_module(self, student: nn.Module) -> nn.Module:
        """Engine hook: the network written as the run's student.pth (see ``PDDConfig.output``)."""
        if self.output == "ema" and self.generalist is not None:
            return self.generalist
        return student

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "generalist" in state and self.generalist is not None:
            self.generalist.load_state_dict(state["generalist"])

    # -- step -------------------------------------------------------------------------------
    def losses(
        self, student: nn.Module, x_s: torch.Tensor, y_s: torch.Tensor, x_t: torch.Tensor, distill: bool
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor | None]:
        """All student losses of one iteration (weighted), plus S(x_s) and S(x_t)."""
        cfg = self.cfg
        assert self.phi is not None and self.generalist is not None
        use_inter = distill and cfg.w_inter > 0
        use_intra = distill and cfg.w_intra > 0
        sr_s = student(x_s)
        out: dict[str, torch.Tensor] = {"pix": cfg.w_pix * wavelet_l1(sr_s, y_s, cfg.wavelet_weights)}
        f_ss = self.phi(sr_s)
        if cfg.w_percep > 0:
            with torch.no_grad():
                f_y = self.phi(y_s)
            lw = _weights(cfg.percep_layer_weights, len(f_ss), 1.0)
            out["percep"] = cfg.w_percep * torch.stack(
                [w * F.l1_loss(a, b) for w, a, b in zip(lw, f_ss, f_y, strict=True)]).sum()
        sr_t = None
        if use_inter or use_intra or cfg.gan:
            sr_t = student(x_t)
        if use_inter or use_intra:
            with torch.no_grad():
                f_gs = self.phi(self.generalist(x_s))
                f_gt = self.phi(self.generalist(x_t))
            f_st = self.phi(sr_t)
            if self.domain_detach:  # official domain_opt_detach: only S(x_t) is pulled
                f_ss = [f.detach() for f in f_ss]
            if use_inter:
                out["inter"] = cfg.w_inter * inter_loss(f_st, f_gt, f_ss, f_gs, cfg.inter_layer_weights)
            if use_intra:
                out["intra"] = cfg.w_intra * intra_loss(f_st, f_ss, f_gt, f_gs, cfg.intra_layer_weights, cfg.intra_tau)
        return out, sr_s, sr_t

    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        assert batch is not None
        cfg = self.cfg
        x_s, y_s, x_t = batch["lr"], batch["hr"], batch["real_lr"]
        d_only = self.disc is not None and ctx.iteration < cfg.d_init_iters
        # official: the domain warm-up counts from the end of the discriminator-only phase
        distill = ctx.iteration >= cfg.warmup + (cfg.d_init_iters if self.disc is not None else 0)
        logs: dict[str, float] = {}
        if d_only:
            with torch.no_grad():
                sr_s = ctx.student(x_s)
            logs["loss"] = 0.0
        else:
            parts, sr_s, sr_t = self.losses(ctx.student, x_s, y_s, x_t, distill)
            if self.disc is not None:
                for p in self.disc.parameters():
                    p.requires_grad_(False)
                # official: S(x_s) alone during the warm-up, S(x_s) and S(x_t) after it
                fakes = torch.cat([sr_s, sr_t]) if distill and sr_t is not None else sr_s
                logits = self.disc(fakes)
                parts["gan"] = cfg.w_gan * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            loss = torch.stack(list(parts.values())).sum()
            ctx.step(loss)
            logs = {k: float(v.detach()) for k, v in parts.items()}
            logs["loss"] = float(loss.detach())
        if self.disc is not None and self.d_opt is not None:
            logs["d_loss"] = self.discriminator_step(ctx, y_s, sr_s)
        if cfg.mode == "ema" and self.generalist is not None:
            ema_update(self.generalist, ctx.accelerator.unwrap_model(ctx.student), cfg.ema_decay)
        return logs

    def discriminator_step(self, ctx: StepContext, y_s: torch.Tensor, sr_s: torch.Tensor) -> float:
        """Official ``SRGANRefModel``: real = the synthetic GT y_s, fake = S(x_s) (not S(x_t))."""
        assert self.disc is not None and self.d_opt is not None
        for p in self.disc.parameters():
            p.requires_grad_(True)
        real = self.disc(y_s)
        fake = self.disc(sr_s.detach())
        d_loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + (
            F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        )
        ctx.step(d_loss, optimizer=self.d_opt, params=self.disc.parameters())
        return float(d_loss.detach())


__all__ = ["PDD", "PDDConfig", "gram", "inter_loss", "intra_loss", "color_correct", "ema_update",
           "UNetDiscriminatorSN"]
