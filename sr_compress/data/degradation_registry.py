"""The :class:`Degradation` interface and its registry (HR crop → synthetic LR image).

A degradation is built from the SR scale and then called once per training crop with a numpy
generator, so a seeded generator reproduces the same LR image. The built-in pipelines live in
``data/degradations.py``; ``data/builtin_degradations.py`` registers them. Adding one = a class
with this interface (in its own file) + one ``DEGRADATIONS.add(...)`` line in the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..registry import Registry


@runtime_checkable
class Degradation(Protocol):
    """HR float32 CHW in [0, 1] → LR float32 CHW in [0, 1], ``scale`` times smaller, quantised."""

    scale: int

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor: ...


DegradationFactory = Callable[[int], Degradation]  # scale -> degradation

DEGRADATIONS: Registry[DegradationFactory] = Registry(
    "degradation", builtins="sr_compress.data.builtin_degradations"
)


def list_degradations() -> list[str]:
    """Registered names in registration order (the first is the training default)."""
    return DEGRADATIONS.names()


def build_degradation(name: str, scale: int) -> Degradation:
    """The degradation called ``name`` for ``scale``; an unknown name is one clear line."""
    return DEGRADATIONS.get(name)(scale)
