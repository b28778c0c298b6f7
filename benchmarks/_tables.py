"""Multi-seed method tables: seed overrides, mean ± std, paired differences, equal-wall-clock steps.

What the method tables (distill_table, datafree_table, pdd_table, recovery_table) share:

- ``seed_overrides(seed, method)``: the config overrides that re-draw EVERY RNG of one run
  (``train.seed`` drives the engine's data order, crops, init and the methods that take their
  RNG from it; methods with their own seed key get it too, so a sweep never keeps one fixed);
- ``paired(values, baseline)``: the per-seed difference to the baseline row, its mean ± std and
  whether |mean| > 2 std (the tables' "can tell them apart" test);
- ``equal_wall_steps``: the optimiser steps each method gets so that all train for the same
  wall-clock, from the s/step measured in the same run;
- ``by_key``: rows are looked up by name, never by list position.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# methods whose config has a seed of its own (null = follow train.seed); set explicitly anyway so
# that a recipe that pins it cannot freeze one RNG across the sweep
METHOD_SEED_KEYS: dict[str, tuple[str, ...]] = {"pdd": ("pdd.seed",)}


def seed_overrides(seed: int, method: str) -> dict[str, Any]:
    """Overrides that re-draw every RNG of a ``method`` run for ``seed``."""
    out: dict[str, Any] = {"train.seed": int(seed)}
    for key in METHOD_SEED_KEYS.get(method, ()):
        out[key] = int(seed)
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_std of no values")
    m = sum(values) / n
    if n == 1:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


@dataclass(frozen=True)
class Paired:
    diffs: tuple[float, ...]
    mean: float
    std: float

    @property
    def separated(self) -> bool | None:
        """|mean| > 2 std of the paired differences; None with fewer than 2 pairs (no spread known).

        A zero spread with a non-zero mean counts as separated (every seed moved the same way by
        the same amount, e.g. against a deterministic baseline evaluated once)."""
        if len(self.diffs) < 2:
            return None
        return abs(self.mean) > 2.0 * self.std

    def text(self, digits: int = 3) -> str:
        sep = {True: "yes", False: "no", None: "n/a (1 seed)"}[self.separated]
        return f"{self.mean:+.{digits}f} ± {self.std:.{digits}f} (> 2 std: {sep})"


def paired(values: Mapping[int, float], baseline: Mapping[int, float] | float) -> Paired:
    """Per-seed ``values[s] − baseline[s]`` over the seeds both have (a float baseline: the same
    deterministic value for every seed)."""
    if isinstance(baseline, Mapping):
        seeds = [s for s in values if s in baseline]
        diffs = tuple(values[s] - baseline[s] for s in seeds)
    else:
        diffs = tuple(v - float(baseline) for v in values.values())
    if not diffs:
        raise ValueError("paired(): no seed in common with the baseline")
    m, sd = mean_std(diffs)
    return Paired(diffs, m, sd)


def equal_wall_steps(s_per_step: Mapping[str, float], wall_s: float, round_to: int = 1,
                     minimum: int = 1) -> dict[str, int]:
    """Steps per method that fit ``wall_s`` seconds at each method's measured seconds per step."""
    out = {}
    for name, per in s_per_step.items():
        if per <= 0:
            raise ValueError(f"{name}: seconds per step must be > 0, got {per}")
        steps = int(wall_s / per) // round_to * round_to
        out[name] = max(minimum, steps)
    return out


def by_key(rows: Sequence[Mapping[str, Any]], value: str, key: str = "row") -> Mapping[str, Any]:
    """The one row whose ``key`` is ``value`` (KeyError naming the rows present otherwise)."""
    hits = [r for r in rows if r.get(key) == value]
    if len(hits) != 1:
        names = ", ".join(str(r.get(key)) for r in rows)
        raise KeyError(f"{len(hits)} rows with {key} = {value!r} (rows: {names})")
    return hits[0]


def fmt_pm(values: Sequence[float], digits: int = 2) -> str:
    m, sd = mean_std(values)
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


def seed_table(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str], baseline: str, digits: int = 3,
               extra: Sequence[str] = ()) -> tuple[list[str], list[list[Any]]]:
    """Markdown-ready (headers, rows): per row and metric the per-seed values, mean ± std and the
    paired difference to the ``baseline`` row; then the ``extra`` keys of each row as they are.

    A row is ``{"row": name, "per_seed": {seed: {metric: value}}, **extra}``; a metric a row lacks
    shows as "—"."""
    base = by_key(rows, baseline)
    headers = ["row"]
    for m in metrics:
        headers += [f"{m} per seed", f"{m} mean ± std", f"{m} Δ vs {baseline} (paired)"]
    headers += list(extra)
    out: list[list[Any]] = []
    for r in rows:
        cells: list[Any] = [r["row"]]
        for m in metrics:
            vals = {s: v[m] for s, v in r["per_seed"].items() if m in v}
            if not vals:
                cells += ["—", "—", "—"]
                continue
            base_vals = {s: v[m] for s, v in base["per_seed"].items() if m in v}
            cells.append(" / ".join(f"{v:.{digits}f}" for v in vals.values()))
            cells.append(fmt_pm(list(vals.values()), digits))
            cells.append("—" if r["row"] == baseline else paired(vals, base_vals).text(digits))
        cells += [r.get(k, "—") for k in extra]
        out.append(cells)
    return headers, out


def open_cache(path: Path, want: Mapping[str, Any], overwrite: bool) -> None:
    """A run cache at ``path``: created (or emptied on ``overwrite``) with ``settings.json`` = ``want``;
    an existing one is reused only when it was made with the same settings (no silent mixing or deletion)."""
    from _common import work_dir

    marker = path / "settings.json"
    want = json.loads(json.dumps(want, default=str))
    if overwrite or not path.exists() or not any(path.iterdir()):
        work_dir(path, overwrite)
        marker.write_text(json.dumps(want, indent=1))
    elif not marker.is_file() or json.loads(marker.read_text()) != want:
        sys.exit(f"error: {path} holds runs made with other settings ({marker}); pass --overwrite to empty it, "
                 "or another work folder")
