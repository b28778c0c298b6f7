"""DFSR: data-free knowledge distillation for SR (Zhang et al., CVPR 2021).

No training images: a generator G synthesises LR inputs from latents, and the teacher's output
on them is the only label. Per the official code (huawei-noah/Efficient-Computing,
Data-Efficient-Model-Compression/DFSR/distillation.py):

* student step (``stu_step`` of them per generator step): ``d(S(G(z)), T(G(z)))`` with G and T
  frozen; sum-reduced MSE by default, gradient clipping from ``train.clip_grad``;
* generator step: ``L_G = w_adv·L_adv + w_rec·L_rec`` with
  ``L_adv = −log(1 + d(S(G(z)), T(G(z))))`` (G seeks inputs where S and T disagree) and
  ``L_rec = d(G(z), clamp(bicubic_down(T(G(z)), 1/s)))`` (a generated LR image must be what the
  teacher's SR image downsamples to, i.e. look like a natural LR image to the teacher).
  Gradients flow through S and T into G; only G is updated (the student is called unwrapped
  with its parameters' ``requires_grad`` off, the teacher is frozen by the engine);
* progressive distillation: the student starts shallow and gains blocks at stage boundaries;
  as the official code (a new optimiser and StepLR per stage), each stage gets a fresh student
  optimiser (the engine's growth) and, with ``stage_lr: restart``, its own LR schedule;
* only the student's gradient is clipped (official ``clip_grad_norm_`` on the model alone);
* ``generator: frozen`` keeps G at its random initialisation (a control: what the adversarial
  generator training adds over a fixed random generator).

One engine iteration = one student update, so iteration budgets compare directly with ``kd``;
the generator updates after every ``stu_step``-th student update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ...data.imresize import imresize
from ...errors import ConfigError
from ..base import DistillMethod, MethodConfig, StepContext, register_method
from ..generators import DFSRGenerator, save_image_grid
from ..schedule import LRSchedule


@dataclass
class DataFreeConfig(MethodConfig):
    """Defaults are the official demo command (``distillation.py --stu_step=50 --reconw=1.0
    --latent=256 --lr_G=1e-5 --input_size=48``) where it applies to an LR-input student."""

    # "noise": uniform-noise inputs (the paper's baseline); "frozen": G kept at its random init
    generator: Literal["gan", "noise", "frozen"] = "gan"
    latent_dim: int = 256
    gen_lr: float = 1e-5
    gen_betas: tuple[float, float] = (0.9, 0.999)  # torch Adam defaults, as the official code
    gen_lr_decay_every: int = 0  # iterations; official StepLR(10 epochs, 0.1) on G; 0 = constant
    gen_lr_gamma: float = 0.1
    w_adv: float = 1.0  # official --gw
    w_rec: float = 1.0  # official --reconw (demo value)
    stu_step: int = 50  # student updates per generator update
    reduction: Literal["sum", "mean"] = "sum"  # official nn.MSELoss(reduction='sum')
    norm: Literal["mse", "l1"] = "mse"  # official --loss_type
    batch_size: int = 16  # official 128 (Y-channel VDSR inputs); scaled for CPU
    lr_size: int = 12  # side of generated LR images; official input_size 48 // scale 4
    # progressive distillation: stage k (1..inc_num) trains k·B//inc_num of the student's B
    # blocks and starts at iteration (k−1)·inc_step (official: epochs; 1 stage = no growth)
    inc_num: int = 1
    inc_step: int = 0
    # restart: every stage runs the whole train.scheduler over its own length (official: a new
    # StepLR per stage; multistep milestones count from the stage start); global: one schedule
    stage_lr: Literal["restart", "global"] = "restart"

    def __post_init__(self) -> None:
        if self.generator not in ("gan", "noise", "frozen"):
            raise ValueError(f"datafree.generator must be 'gan', 'noise' or 'frozen', got {self.generator!r}")
        if self.stage_lr not in ("restart", "global"):
            raise ValueError(f"datafree.stage_lr must be 'restart' or 'global', got {self.stage_lr!r}")
        if self.reduction not in ("sum", "mean"):
            raise ValueError(f"datafree.reduction must be 'sum' or 'mean', got {self.reduction!r}")
        if self.norm not in ("mse", "l1"):
            raise ValueError(f"datafree.norm must be 'mse' or 'l1', got {self.norm!r}")
        for key in ("latent_dim", "stu_step", "batch_size", "inc_num"):
            if getattr(self, key) < 1:
                raise ValueError(f"datafree.{key} must be >= 1, got {getattr(self, key)}")
        if self.lr_size < 4:
            raise ValueError(f"datafree.lr_size must be >= 4, got {self.lr_size}")
        if self.inc_num > 1 and self.inc_step < 1:
            raise ValueError(
                f"datafree.inc_step must be >= 1 iteration when inc_num > 1 (got {self.inc_step}); "
                "set inc_step to the iterations per growth stage"
            )

    def check_budget(self, iterations: int) -> None:
        """Reject a schedule whose last growth stage never starts (called when a config is loaded)."""
        last = (self.inc_num - 1) * self.inc_step
        if self.inc_num > 1 and last >= iterations:
            raise ValueError(
                f"datafree: the last growth stage starts at iteration {last} but train.iterations is "
                f"{iterations}; lower datafree.inc_step or inc_num, or raise train.iterations"
            )


# -- student depth helpers: the EDSR student (models/archs/edsr.py) has ``num_block``,
# ``append_blocks(n)`` (new blocks start as identities) and an ``nn.Sequential`` ``body``
def _num_blocks(student: nn.Module) -> int:
    for attr in ("num_block", "num_blocks"):
        n = getattr(student, attr, None)
        if n is not None:
            return int(n() if callable(n) else n)
    raise TypeError(
        f"progressive distillation needs a student with residual blocks (num_block/append_blocks); "
        f"{type(student).__name__} has none: use an edsr:* student or set datafree.inc_num: 1"
    )


def _set_blocks(student: nn.Module, n: int) -> None:
    cur = _num_blocks(student)
    grow: Any = student  # append_blocks/truncate_blocks are duck-typed student hooks, not nn.Module API
    if n > cur:
        grow.append_blocks(n - cur)
    elif n < cur:
        if hasattr(student, "truncate_blocks"):
            grow.truncate_blocks(n)
        elif isinstance(getattr(student, "body", None), nn.Sequential):
            # the first stage trains the first n blocks; later stages append fresh ones
            grow.body = grow.body[:n]
        else:
            raise TypeError(f"cannot shrink {type(student).__name__} to {n} blocks for progressive distillation")


def stage_blocks(final_blocks: int, inc_num: int) -> list[int]:
    """Blocks per stage. Official: ``min(B, epoch·B // inc_num)`` at epoch ``1 + i·inc_step``,
    which is the intended ``(i+1)·B // inc_num`` only when ``inc_step == 1``; we use the latter."""
    return [max(1, min(final_blocks, (k * final_blocks) // inc_num)) for k in range(1, inc_num + 1)]


@register_method
class DataFreeMethod(DistillMethod[DataFreeConfig]):
    name = "datafree"
    Config = DataFreeConfig
    needs_data = False
    needs_teacher = True

    cfg: DataFreeConfig

    def __init__(self, cfg: DataFreeConfig, scale: int) -> None:
        super().__init__(cfg, scale)
        self.generator: nn.Module | None = None
        self.gen_opt: torch.optim.Optimizer | None = None
        self._stages: list[int] = []
        self._last_g: dict[str, float] = {"g_adv": 0.0, "g_rec": 0.0, "g_loss": 0.0}

    # -- engine hooks -------------------------------------------------------------------------
    def setup(self, student: nn.Module, teacher: nn.Module | None, device: torch.device) -> None:
        c = self.cfg
        if c.inc_num > 1:
            self._stages = stage_blocks(_num_blocks(student), c.inc_num)
            _set_blocks(student, self._stages[0])
        if c.generator in ("gan", "frozen"):
            self.generator = DFSRGenerator(c.latent_dim, c.lr_size, channels=3).to(device)
        if c.generator == "gan":
            assert self.generator is not None
            self.gen_opt = torch.optim.Adam(self.generator.parameters(), lr=c.gen_lr, betas=c.gen_betas)
        elif self.generator is not None:
            self.generator.requires_grad_(False)

    def extra_modules(self) -> dict[str, nn.Module]:
        # a frozen G is no trainable part (DDP refuses modules without trainable parameters);
        # its weights travel in state_dict() instead
        return {"generator": self.generator} if self.gen_opt is not None and self.generator is not None else {}

    def extra_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.gen_opt} if self.gen_opt is not None else {}

    def on_prepared(self, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Take the accelerate-prepared generator/optimizer (DDP-wrapped when multi-process)."""
        if "generator" in modules:
            self.generator = modules["generator"]
        if "generator" in optimizers:
            self.gen_opt = optimizers["generator"]

    def student_hyperparams(self, student: nn.Module, hyperparams: dict[str, Any]) -> dict[str, Any]:
        if self._stages and "num_block" in hyperparams:
            return {**hyperparams, "num_block": _num_blocks(student)}
        return hyperparams

    def lr_at(self, schedule: LRSchedule, iteration: int) -> float:
        """Student LR: with ``stage_lr: restart`` the schedule restarts at every growth stage."""
        starts = [0, *self.growth_iterations()]
        if self.cfg.stage_lr == "global" or len(starts) == 1:
            return schedule.lr_at(iteration)
        k = max(i for i, a in enumerate(starts) if a <= iteration)
        end = starts[k + 1] if k + 1 < len(starts) else schedule.total
        return replace(schedule, total=max(1, end - starts[k])).lr_at(iteration - starts[k])

    def growth_iterations(self) -> list[int]:
        return [k * self.cfg.inc_step for k in range(1, len(self._stages))]

    def grow_student(self, student: nn.Module, iteration: int) -> None:
        its = self.growth_iterations()
        if iteration not in its:
            return
        _set_blocks(student, self._stages[its.index(iteration) + 1])

    # -- losses ------------------------------------------------------------------------------
    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        diff = a - b
        v = diff * diff if self.cfg.norm == "mse" else diff.abs()
        return v.sum() if self.cfg.reduction == "sum" else v.mean()

    def sample_inputs(self, device: torch.device) -> torch.Tensor:
        c = self.cfg
        if c.generator == "noise":
            return torch.rand(c.batch_size, 3, c.lr_size, c.lr_size, device=device)
        assert self.generator is not None
        z = torch.randn(c.batch_size, c.latent_dim, device=device)
        return self.generator(z)

    def generator_losses(
        self, x: torch.Tensor, student: Callable[[torch.Tensor], torch.Tensor],
        teacher: Callable[[torch.Tensor], torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """L_adv, L_rec and L_G for generated ``x``; gradients reach ``x`` through S and T."""
        sr_t = teacher(x)[..., : x.shape[-2] * self.scale, : x.shape[-1] * self.scale]
        sr_s = student(x)
        adv = -torch.log1p(self.distance(sr_s, sr_t))
        t_lr = imresize(sr_t, scale=1.0 / self.scale).clamp(0, 1)  # official clamps too
        rec = self.distance(x, t_lr[..., : x.shape[-2], : x.shape[-1]])
        return {"adv": adv, "rec": rec, "total": self.cfg.w_adv * adv + self.cfg.w_rec * rec}

    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        c = self.cfg
        if ctx.iteration == 0:
            # the saved student's hyper-parameters describe the full depth; a run that ends
            # before the last stage would save a shallower network than its descriptor says
            # (configs from load_distill_config were checked already; a hand-built one is not)
            try:
                c.check_budget(ctx.total_iterations)
            except ValueError as err:
                raise ConfigError(str(err)) from None
        with torch.no_grad():
            x = self.sample_inputs(ctx.device)
        t_out = ctx.teacher_forward(x)
        s_out = ctx.student(x)
        loss = self.distance(s_out, t_out)
        ctx.step(loss)
        logs = {"loss": float(loss.detach()), "mse": float(((s_out.detach() - t_out) ** 2).mean())}
        if self.gen_opt is not None and (ctx.iteration + 1) % c.stu_step == 0:
            self._last_g = self.generator_step(ctx)
        if self.gen_opt is not None:
            logs.update(self._last_g)
        return logs

    def generator_step(self, ctx: StepContext) -> dict[str, float]:
        assert self.generator is not None and self.gen_opt is not None and ctx.teacher is not None
        c = self.cfg
        if c.gen_lr_decay_every > 0:
            # stateless schedule (a function of the iteration) so resume needs no extra state
            lr = c.gen_lr * c.gen_lr_gamma ** ((ctx.iteration + 1) // c.gen_lr_decay_every)
            for g in self.gen_opt.param_groups:
                g["lr"] = lr
        # the unwrapped student: no DDP reducer hooks for a backward that must not touch it
        student = ctx.accelerator.unwrap_model(ctx.student)
        s_params = [p for p in student.parameters() if p.requires_grad]
        for p in s_params:
            p.requires_grad_(False)
        try:
            z = torch.randn(c.batch_size, c.latent_dim, device=ctx.device)
            # teacher_forward without its no_grad: same padding, but gradients reach G(z)
            teacher = partial(StepContext.teacher_forward.__wrapped__, ctx)  # type: ignore[attr-defined]
            losses = self.generator_losses(self.generator(z), student, teacher)
            # official: clip_grad_norm_ on the student only, the generator step is unclipped
            ctx.step(losses["total"], optimizer=self.gen_opt, clip=False)
        finally:
            for p in s_params:
                p.requires_grad_(True)
        return {
            "g_adv": float(losses["adv"].detach()),
            "g_rec": float(losses["rec"].detach()),
            "g_loss": float(losses["total"].detach()),
        }

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"last_g": dict(self._last_g)}
        if self.gen_opt is None and self.generator is not None:
            state["frozen_generator"] = self.generator.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._last_g = dict(state.get("last_g", self._last_g))
        if "frozen_generator" in state and self.generator is not None:
            self.generator.load_state_dict(state["frozen_generator"])

    # -- report ------------------------------------------------------------------------------
    @torch.no_grad()
    def finalize(self, out_dir: Path) -> dict[str, Any]:
        """Save a grid of 64 generated LR images (nearest-zoomed to ~96 px) for the report."""
        c = self.cfg
        rng = torch.Generator().manual_seed(1234)
        if self.generator is not None:
            gen = self.generator
            gen = getattr(gen, "module", gen)
            dev = next(gen.parameters()).device
            z = torch.randn(64, c.latent_dim, generator=rng).to(dev)
            imgs = gen(z)
        else:
            imgs = torch.rand(64, 3, c.lr_size, c.lr_size, generator=rng)
        zoom = max(1, 96 // c.lr_size)
        path = save_image_grid(Path(out_dir) / "generated_grid.png", imgs, nrow=8, zoom=zoom)
        return {"generated_grid": path.name}
