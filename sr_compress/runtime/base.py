"""The ``Runner`` interface: something that turns LR batches into SR batches.

Every consumer (validate, bench, gate, serve) talks to backends only through this interface
and only through the tiler (``runtime/tiling.py``), so all backends are measured the same way.
Arrays at this boundary are numpy float32 NCHW RGB in [0, 1].
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.registry import SizeRequirements


@dataclass
class RunnerInfo:
    backend: str  # a registered backend name (sr_compress/backends)
    precision: str  # fp32 | fp16 | int8
    scale: int
    size_requirements: SizeRequirements = field(default_factory=SizeRequirements)
    # (height, width) when the engine only accepts one LR input size (static shapes)
    fixed_shape: tuple[int, int] | None = None
    max_batch: int = 16
    artifact: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Runner(ABC):
    """A loaded model on one backend. ``run`` must be safe to call from one thread at a time."""

    info: RunnerInfo

    @abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, h, w) float32 in [0, 1] -> (N, 3, h*scale, w*scale) float32 (not clipped)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release backend resources."""


def default_threads() -> int:
    """Inference threads when none are given: $SR_COMPRESS_THREADS, else min(cores, 8)."""
    env = os.environ.get("SR_COMPRESS_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


def probe_scale(runner: Runner, shape: tuple[int, int] | None) -> int:
    """Scale of a model without metadata: run it once on a small input and compare sizes."""
    from ..errors import UserInputError

    h, w = shape or (32, 32)
    y = runner.run(np.zeros((1, 3, h, w), dtype=np.float32))
    if y.ndim != 4 or y.shape[2] % h or y.shape[2] // h != y.shape[3] // w:
        raise UserInputError(f"{runner.info.artifact}: output shape {y.shape} is not an integer upscale of {h}x{w}")
    return y.shape[2] // h
