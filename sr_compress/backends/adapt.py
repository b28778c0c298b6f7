"""Enforcing :attr:`Backend.honours`: adapt a runner to the size requirements its backend does not honour, or refuse.

A model's :class:`~sr_compress.models.registry.SizeRequirements` say which LR sizes it accepts
(``minimum``, ``multiple_of``, ``square``). A backend *honours* a requirement when its artifacts
accept every input that satisfies it (the callers pad to ``info.size_requirements``, as the tiler
and the server do). What a backend does not honour is handled here, for every caller at once
(``make_runner`` opens every artifact through :func:`open_runner`: validate, bench, gate, serve):

- ``minimum`` / ``multiple_of`` / ``square``: adapted. The runner is wrapped in a
  :class:`PaddedRunner` that edge-pads each batch bottom/right to a legal size and crops the
  output back (what ``sr_eval`` does for PyTorch), so callers may send any size.
- ``dynamic`` (any H/W per call): cannot be padded into existence. A backend without it builds its
  artifact for ``--tile`` (TensorRT's profile, Triton's recorded tile), so at export a tile that is
  not a legal size of the model is refused before anything is written (:func:`check_export`), and
  a runner whose fixed input shape breaks an unhonoured requirement is refused at open. Each
  refusal is one line naming the backend, the requirement and the fix.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ExportError, UserInputError
from ..models.registry import SizeRequirements
from ..runtime.base import Runner

if TYPE_CHECKING:
    from .base import Backend

ADAPTABLE = ("minimum", "multiple_of", "square")


def needed(req: SizeRequirements) -> list[str]:
    """The requirements ``req`` actually imposes (a minimum of 1 or a multiple of 1 imposes nothing)."""
    out = []
    if req.minimum > 1:
        out.append("minimum")
    if req.multiple_of > 1:
        out.append("multiple_of")
    if req.square:
        out.append("square")
    return out


def unhonoured(backend: Backend, req: SizeRequirements) -> list[str]:
    """The requirements of ``req`` that ``backend`` does not honour."""
    return [r for r in needed(req) if r not in backend.honours]


class PaddedRunner(Runner):
    """Pads each batch to a size ``req`` accepts (edge values, bottom/right) and crops the output back."""

    def __init__(self, inner: Runner, req: SizeRequirements, adapted: list[str]) -> None:
        self.inner, self.req = inner, req
        extra = {**inner.info.extra, "padded_for": list(adapted)}
        # callers may now send any size: the wrapper, not they, meets the requirements
        self.info = replace(inner.info, size_requirements=SizeRequirements(), extra=extra)

    def run(self, batch: np.ndarray) -> np.ndarray:
        h, w = batch.shape[-2:]
        ph, pw = self.req.padding_for(h, w)
        if not ph and not pw:
            return self.inner.run(batch)
        y = self.inner.run(np.pad(batch, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge"))
        s = self.info.scale or y.shape[-1] // (w + pw)
        return np.ascontiguousarray(y[..., : h * s, : w * s])

    def close(self) -> None:
        self.inner.close()


def honour(backend: Backend, runner: Runner, req: SizeRequirements | None, path: str | Path = "") -> Runner:
    """``runner`` adapted to what ``backend`` does not honour of ``req``, or a one-line refusal."""
    if req is None:
        return runner
    missing = unhonoured(backend, req)
    if not missing:
        return runner
    if runner.info.fixed_shape is not None and not req.check(*runner.info.fixed_shape):
        raise UserInputError(
            f"backend {backend.name}: {path or 'the artifact'} has the fixed input shape "
            f"{tuple(runner.info.fixed_shape)}, which breaks the model's {'/'.join(missing)} requirement (not "
            f"honoured by {backend.name}); re-export with a legal --tile")
    return PaddedRunner(runner, req, missing)


def check_export(backend: Backend, req: SizeRequirements, tile: int | None, arch: str) -> None:
    """Refuse an export whose artifact a non-dynamic backend would build for an illegal ``--tile``."""
    if "dynamic" in backend.honours or tile is None or req.check(tile, tile):
        return
    ph, pw = req.padding_for(tile, tile)
    raise ExportError(
        f"backend {backend.name} builds for one input size (it does not honour dynamic sizes) and --tile {tile} "
        f"breaks {arch}'s size requirements (minimum {req.minimum}, multiple of {req.multiple_of}); "
        f"use --tile {tile + max(ph, pw)}")


def open_runner(backend: Backend, path: str | Path, **kwargs: Any) -> Runner:
    """``backend.runner(path, **kwargs)`` with :func:`honour` applied (what ``make_runner`` calls)."""
    runner = backend.runner(Path(path), **kwargs)
    return honour(backend, runner, kwargs.get("size_requirements"), path)
