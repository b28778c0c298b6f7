"""Typed config of a distillation run (``configs/distill/*.yaml``).

Layout of a recipe::

    method: dukd            # a name from compress/methods
    scale: 4
    teacher: path/or/zoo-name   # null for methods that need none
    student: edsr:c32b4         # a student spec (models/students.py)
    data:  {...}   # DataConfig
    train: {...}   # TrainConfig
    dukd:  {...}   # the method's own section, parsed into its Config dataclass

Unknown keys anywhere are rejected with their dotted name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class DataConfig:
    path: list[str] = field(default_factory=list)  # HR folders (LR made on the fly) or HR+LR layouts
    patch_size: int = 48  # LR patch side
    batch_size: int = 16
    augment: bool = True  # random flips / 90° rotations
    num_workers: int = 0
    val: list[str] = field(default_factory=list)  # benchmark folders for periodic validation
    val_max_images: int = 5
    real_lr: list[str] = field(default_factory=list)  # unpaired real LR folders (PDD)
    # null: LR made by MATLAB bicubic (or read from an LR layout); realesrgan | bicubic | fixed:
    # LR synthesised on the fly by data/degradations.py (blind "generalist" training)
    degradation: str | None = None

    def __post_init__(self) -> None:
        if self.patch_size < 4:
            raise ValueError(f"data.patch_size must be >= 4, got {self.patch_size}")
        if self.batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {self.batch_size}")


@dataclass
class TrainConfig:
    iterations: int = 1000
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    scheduler: Literal["cosine", "multistep", "constant"] = "cosine"
    milestones: list[int] = field(default_factory=list)  # multistep, in iterations
    gamma: float = 0.5
    eta_min: float = 1e-7
    clip_grad: float | None = None  # max grad norm; null disables
    ema_decay: float = 0.0  # 0 disables the student EMA
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    seed: int = 0
    checkpoint_every: int = 500
    val_every: int = 500
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"train.iterations must be >= 1, got {self.iterations}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclass
class DistillConfig:
    method: str = "scratch"
    scale: int = 4
    teacher: str | None = None
    student: str = "edsr:c32b4"
    # start the student from this checkpoint's weights (it must be the student's architecture:
    # e.g. rlfn:c48b6 for RLFN-S). Applied before training; a resumed run uses its checkpoint.
    init: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # the method's own section, keyed by method name; validated by the method's Config class
    method_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 3, 4, 8):
            raise ValueError(f"scale must be one of 1, 2, 3, 4, 8, got {self.scale}")
