"""Typed config of dataset distillation (the YAML / CLI options of ``distill-data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MANIFEST = "manifest.json"
IMAGES_DIR = "images"
RELABEL_DIR = "relabel"


@dataclass
class GSDDArgs:
    lr: float = 0.01  # Adam step on the latents (pixel units of the LR image)
    real_batch: int = 32  # real patches per class per iteration
    net_width: int = 32  # ψ: randomly initialised ConvNet (DM's ConvNet, width reduced for CPU)
    net_depth: int = 3
    diversity: float = 0.1  # λ of the latent diversity regulariser (GSDD ablation)
    augment: list[str] = field(default_factory=lambda: ["color", "crop", "cutout", "flip", "scale"])


@dataclass
class PrototypeArgs:
    refine_steps: int = 0  # gradient steps pulling each chosen patch toward its cluster centre
    refine_lr: float = 0.005
    refine_max_change: float = 0.03  # L∞ bound of the refinement, keeps the patch a real photo


@dataclass
class DataDistillConfig:
    method: str = "gsdd"
    data: list[str] = field(default_factory=list)  # HR folders
    scale: int = 4
    patch_size: int = 24  # LR side; distilled HR patches are patch_size * scale
    ipc: int = 4  # images per (pseudo-)class
    classes: int = 4  # k-means pseudo-classes
    teacher: str | None = None
    embed: Literal["auto", "teacher", "random"] = "auto"  # auto: teacher if given, else random conv
    candidates_per_image: int = 16
    informative_fraction: float = 0.5  # prototypes/k-center keep the hardest fraction (bicubic PSNR)
    iterations: int = 200  # gsdd optimisation steps
    seed: int = 0
    relabel_views: int = 0  # >0: store teacher outputs for this many fixed views per image
    gsdd: GSDDArgs = field(default_factory=GSDDArgs)
    prototypes: PrototypeArgs = field(default_factory=PrototypeArgs)

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 3, 4, 8):
            raise ValueError(f"scale must be one of 1, 2, 3, 4, 8, got {self.scale}")
        if self.ipc < 1 or self.classes < 1:
            raise ValueError(f"ipc and classes must be >= 1, got ipc={self.ipc} classes={self.classes}")
        if self.patch_size < 4:
            raise ValueError(f"patch_size must be >= 4, got {self.patch_size}")
        if not 0.0 < self.informative_fraction <= 1.0:
            raise ValueError(f"informative_fraction must be in (0, 1], got {self.informative_fraction}")

    @property
    def hr_size(self) -> int:
        return self.patch_size * self.scale
