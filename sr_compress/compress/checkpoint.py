"""Training checkpoints: atomic writes, latest lookup, RNG state capture.

Safety: a run checkpoint holds tensors and plain Python types only (dicts, lists, tuples,
numbers, strings, None), so it is read with ``torch.load(weights_only=True)`` and nothing in it
can run code. A file that needs anything else (a planted ``__reduce__`` payload, an old-format
checkpoint that pickled numpy arrays) is refused with one line.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, UserInputError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^iter_(\d+)\.pth$")


def rng_state() -> dict[str, Any]:
    """Every global RNG as tensors + plain types (numpy's key array becomes a list of ints)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [str(kind), [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(obj: Any, path: Path) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    found = list_checkpoints(ckpt_dir)
    return found[-1][1] if found else None


def checkpoint_path(ckpt_dir: Path, iteration: int) -> Path:
    return ckpt_dir / f"iter_{iteration:08d}.pth"


def prune(ckpt_dir: Path, keep: int) -> None:
    for _, p in list_checkpoints(ckpt_dir)[:-keep]:
        p.unlink(missing_ok=True)


_REQUIRED = ("iteration", "student", "optimizer", "rng")


class UnsafeCheckpoint(CheckpointError):
    """The file needs more than tensors and plain types to load: it is refused, never retried."""


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a run checkpoint with torch's restricted unpickler (tensors + plain types only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # weights_only refusals (a global, a __reduce__ payload) land here; nothing was executed
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        glob = f"needs {found.group(1)}" if found else ""
        raise UnsafeCheckpoint(
            f"refusing to load training checkpoint {path}: it pickles Python objects that could run code"
            f"{' (' + glob + ')' if glob else ''}; delete it (or the run folder) if you did not write it"
        ) from None
    except Exception as err:  # noqa: BLE001 - truncated zip, bad magic, I/O: the file is unreadable
        msg = " ".join(str(err).split())[:160]
        raise CheckpointError(f"{path}: cannot read training checkpoint ({msg}); delete it to restart") from None
    missing = [k for k in _REQUIRED if k not in state] if isinstance(state, dict) else list(_REQUIRED)
    if missing:
        raise CheckpointError(f"{path}: not a training checkpoint of sr-compress (no {', '.join(missing)}); "
                              "delete it")
    return state


def load_latest(ckpt_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint. An unreadable (e.g. truncated) one is skipped with a
    warning naming the one used instead; an unsafe one stops the run (it was planted)."""
    found = list_checkpoints(ckpt_dir)
    skipped: list[tuple[Path, CheckpointError]] = []
    for _, p in reversed(found):
        try:
            state = load_checkpoint(p)
        except UnsafeCheckpoint:
            raise
        except CheckpointError as err:
            skipped.append((p, err))
            continue
        for bad, why in skipped:
            log.warning("skipping unreadable checkpoint %s, resuming from %s instead (%s)", bad, p.name, why)
        return p, state
    if skipped:
        raise skipped[0][1]
    return None


def resume_or_refuse(ckpt_dir: Path, out: Path, resume: bool,
                     what: str = "a run with checkpoints") -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint to continue from (``--resume``), or None for a new run.

    A new run over a folder that already holds checkpoints is refused (it would mix two runs);
    ``what`` names the run in that message.
    """
    if resume:
        found = load_latest(ckpt_dir)
        if found is None:
            raise CheckpointError(f"--resume: no checkpoint in {ckpt_dir} (run without --resume to start)")
        return found
    if ckpt_dir.is_dir() and latest_checkpoint(ckpt_dir) is not None:
        raise UserInputError(f"{out} already holds {what}; pass --resume to continue it or choose another --out")
    return None
