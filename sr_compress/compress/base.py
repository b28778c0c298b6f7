"""The interface every distillation method implements, and the method registry.

A method is one module under ``compress/methods/`` with one :class:`DistillMethod` subclass
decorated with :func:`register_method`. The engine (``compress/engine.py``) owns everything
that is common: data loading, the accelerate loop, the student optimizer and LR schedule,
EMA, checkpoints/resume, validation, logging and the report. A method owns only its losses and
any extra trainable parts (e.g. DFSR's generator), and performs its own optimiser steps through
:class:`StepContext` because several methods step more than once per iteration (DUKD: two
student steps; DFSR: a generator step and ``stu_step`` student steps).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import torch
from torch import nn

from ..models.registry import SizeRequirements
from ..registry import Registry
from .schedule import LRSchedule

if TYPE_CHECKING:
    from accelerate import Accelerator


@dataclass
class MethodConfig:
    """Base for a method's own typed config (the YAML section named after the method)."""

    def check_budget(self, iterations: int) -> None:
        """Raise ValueError when the config cannot work in a run of ``iterations`` (checked when the
        config loads, e.g. DFSR's growth schedule longer than the run). Default: anything fits."""


@dataclass
class StepContext:
    """What a method may use inside ``train_step``. Built fresh by the engine every iteration."""

    accelerator: Accelerator
    student: nn.Module  # possibly wrapped for DDP; call it, don't inspect it
    teacher: nn.Module | None  # frozen, eval mode, requires_grad False
    optimizer: torch.optim.Optimizer  # the student's optimizer
    scale: int
    iteration: int  # 0-based index of the iteration being run
    total_iterations: int
    clip_grad: float | None
    device: torch.device
    # the teacher's input constraints (e.g. RLFN's ESA needs >= 15 px); teacher_forward pads to them
    teacher_size: SizeRequirements | None = None

    def step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer | None = None,
        params: Iterable[torch.nn.Parameter] | None = None,
        zero_grad: bool = True,
        clip: bool = True,
    ) -> None:
        """zero_grad → backward → clip → step, on the student unless told otherwise.

        ``zero_grad=False`` keeps the gradients already stored, so the step applies their sum
        with this loss's gradient (DUKD's official second step: BasicSR zeroes once per
        iteration). ``clip=False`` skips ``train.clip_grad`` (DFSR clips only the student).
        """
        opt = optimizer or self.optimizer
        if zero_grad:
            opt.zero_grad(set_to_none=True)
        self.accelerator.backward(loss)
        if self.clip_grad and clip:
            plist = list(params) if params is not None else [
                p for g in opt.param_groups for p in g["params"]
            ]
            if self.accelerator.sync_gradients:
                self.accelerator.clip_grad_norm_(plist, self.clip_grad)
        opt.step()

    @torch.no_grad()
    def teacher_forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.teacher is None:
            raise RuntimeError("this method needs a teacher but none was loaded")
        h, w = x.shape[-2:]
        pad_b, pad_r = self.teacher_size.padding_for(h, w) if self.teacher_size is not None else (0, 0)
        if pad_b or pad_r:
            # reflect needs pad < size; tiny inputs (DUKD zoom-out of a small patch) replicate
            mode = "reflect" if pad_b < h and pad_r < w else "replicate"
            y = self.teacher(torch.nn.functional.pad(x, (0, pad_r, 0, pad_b), mode=mode))
            return y[..., : h * self.scale, : w * self.scale]
        return self.teacher(x)


ConfigT = TypeVar("ConfigT", bound=MethodConfig)


class DistillMethod(ABC, Generic[ConfigT]):
    """One distillation method, typed by its config: ``class KD(DistillMethod[KDConfig])``.

    Subclasses set ``name`` and ``Config`` (the same class as ``ConfigT``; the engine builds it
    from the YAML section named after the method and hands it to ``__init__``).
    """

    name: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    needs_data: ClassVar[bool] = True
    needs_teacher: ClassVar[bool] = True
    # student spec used when the recipe names none; "teacher" = a trainable copy of the teacher
    # (PDD's specialist starts as the generalist, so it must share its architecture)
    default_student: ClassVar[str | None] = None

    def __init__(self, cfg: ConfigT, scale: int) -> None:
        self.cfg: ConfigT = cfg
        self.scale = scale

    # -- optional hooks -------------------------------------------------------------------
    def setup(self, student: nn.Module, teacher: nn.Module | None, device: torch.device) -> None:  # noqa: B027
        """Create extra modules/optimizers. Called once before ``accelerator.prepare``."""

    def extra_modules(self) -> dict[str, nn.Module]:
        """Trainable parts besides the student (prepared by accelerate, checkpointed)."""
        return {}

    def extra_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimizers of the extra modules (prepared by accelerate, checkpointed)."""
        return {}

    def make_dataset(self, data_cfg: Any, scale: int) -> torch.utils.data.Dataset | None:
        """Training set; ``None`` means the engine's default paired HR-patch dataset."""
        return None

    def growth_iterations(self) -> list[int]:
        """Iterations at whose start ``grow_student`` is called (progressive distillation)."""
        return []

    def grow_student(self, student: nn.Module, iteration: int) -> None:  # noqa: B027
        """Change the (unwrapped) student's structure in place; the engine rebuilds the optimizer."""

    def on_prepared(  # noqa: B027
        self, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
    ) -> None:
        """Receive the accelerate-prepared extra modules/optimizers (device-placed, DDP-wrapped,
        keyed as in ``extra_modules``/``extra_optimizers``). Use these in ``train_step`` so DDP
        syncs their gradients; checkpoints still read the unwrapped ``extra_modules()``."""

    def lr_at(self, schedule: LRSchedule, iteration: int) -> float:
        """The student's LR at ``iteration`` (the engine sets it every iteration). Override to
        reshape the schedule, e.g. DFSR restarts it at every progressive stage."""
        return schedule.lr_at(iteration)

    def student_hyperparams(self, student: nn.Module, hyperparams: dict[str, Any]) -> dict[str, Any]:
        """Hyper-parameters of the final student for ``save_model`` (override after growth)."""
        return hyperparams

    def final_module(self, student: nn.Module) -> nn.Module:
        """The network the run writes as its result, given the (EMA) student; e.g. PDD's EMA
        generalist (``pdd.output: ema``). Default: the student itself."""
        return student

    def state_dict(self) -> dict[str, Any]:
        """Method state that is not a module/optimizer (checkpointed)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027
        pass

    def finalize(self, out_dir: Path) -> dict[str, Any]:
        """After training: write method-specific report extras into ``out_dir`` (e.g. DFSR's
        grid of generated images); return ``{name: relative path or value}`` for the report."""
        return {}

    # -- required -------------------------------------------------------------------------
    @abstractmethod
    def train_step(self, batch: dict[str, torch.Tensor] | None, ctx: StepContext) -> dict[str, float]:
        """Run one iteration (including its optimiser steps); return scalar logs.

        ``batch`` holds float32 NCHW tensors in [0, 1] on ``ctx.device``: ``lr`` and ``hr`` for
        the default dataset (``None`` when ``needs_data`` is False). The returned dict must
        contain ``loss`` (the main student loss, used by the progress bar and tests).
        """


METHODS: Registry[type[DistillMethod[Any]]] = Registry(
    "distillation method", builtins="sr_compress.compress.builtin_methods"
)
register_method = METHODS.add_named  # class decorator: registers ``cls`` under ``cls.name``
get_method = METHODS.get
list_methods = METHODS.sorted_names
