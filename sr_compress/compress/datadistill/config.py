"""Typed config of dataset distillation: a common section plus one section per distiller.

A YAML recipe (or ``distill-data`` options) holds the keys every distiller shares at the top
level and the chosen distiller's own keys under a section named after it::

    method: gsdd
    ipc: 8
    gsdd: {iterations: 200, generator: train}

:func:`~.loading.load_datadistill_config` validates the section against the dataclass the distiller
declares (``DatasetDistiller.config_cls``), so an unknown key, or a section meant for another
method, is one line naming it. A top-level key that is not common but belongs to the chosen
method's config (``iterations: 200``) is read as that method's key: the CLI's ``--iterations``
and older recipes use this shorthand.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

MANIFEST = "manifest.json"
IMAGES_DIR = "images"
RELABEL_DIR = "relabel"

# Old method names. "prototypes" was a feature-medoid coreset, not D4M's decoded latent prototypes;
# it keeps working with a DeprecationWarning. The name "gsdd" now means the latent-space method
# (the former pixel-space one is "pixel_dm"), so it is not an alias (see docs/methods/).
ALIASES: dict[str, str] = {"prototypes": "feature_medoids"}


@dataclass
class DataDistillConfig:
    """The keys every distiller shares; ``options`` is the chosen distiller's own config."""

    method: str = "pixel_dm"
    data: list[str] = field(default_factory=list)  # HR folders
    scale: int = 4
    patch_size: int = 24  # LR side; distilled HR patches are patch_size * scale
    ipc: int = 4  # images per (pseudo-)class
    classes: int = 4  # k-means pseudo-classes
    teacher: str | None = None
    embed: Literal["auto", "teacher", "random"] = "auto"  # auto: teacher if given, else random conv
    candidates_per_image: int = 16
    seed: int = 0
    relabel_views: int = 0  # >0: store teacher outputs for this many fixed views per image
    options: Any = None  # the distiller's config dataclass (None: its defaults)

    def __post_init__(self) -> None:
        if self.method in ALIASES:
            new = ALIASES[self.method]
            warnings.warn(f"dataset-distillation method {self.method!r} is deprecated: use {new!r}",
                          FutureWarning, stacklevel=3)  # FutureWarning: shown to end users by default
            self.method = new
        if self.scale not in (1, 2, 3, 4, 8):
            raise ValueError(f"scale must be one of 1, 2, 3, 4, 8, got {self.scale}")
        if self.ipc < 1 or self.classes < 1:
            raise ValueError(f"ipc and classes must be >= 1, got ipc={self.ipc} classes={self.classes}")
        if self.patch_size < 4:
            raise ValueError(f"patch_size must be >= 4, got {self.patch_size}")

    @property
    def hr_size(self) -> int:
        return self.patch_size * self.scale
