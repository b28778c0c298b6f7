"""Stage bookkeeping: a finished stage is not redone; a changed input redoes it and all after it.

Each stage writes ``RUN/<stage>/stage.json`` with a *key*: the sha256 of the stage's own
settings plus the keys of the stages it reads from. A stage is reused only when its stored key
equals the key computed now and it finished; so editing the distill section re-runs distill,
eval, export, validate, bench and gate, while editing only the bench section re-runs bench
(and gate, which reads the bench results).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def stage_key(settings: Any, upstream: list[str]) -> str:
    blob = json.dumps({"settings": settings, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class StageRecord:
    name: str
    key: str
    status: str  # ran | cached | skipped | failed
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run_stage(
    run_dir: Path,
    name: str,
    settings: Any,
    upstream: list[StageRecord],
    fn: Callable[[Path], dict[str, Any]],
    force: bool = False,
    log: Callable[[str], None] = print,
) -> StageRecord:
    """Run ``fn(stage_dir) -> outputs`` unless an identical finished run is on disk."""
    key = stage_key(settings, [u.key for u in upstream])
    stage_dir = run_dir / name
    stamp = stage_dir / "stage.json"
    prev = _load(stamp)
    if not force and prev and prev.get("key") == key and prev.get("status") == "ran":
        log(f"[{name}] up to date (key {key}); reusing {stage_dir}")
        return StageRecord(name, key, "cached", prev.get("seconds", 0.0), prev.get("outputs", {}))
    stage_dir.mkdir(parents=True, exist_ok=True)
    log(f"[{name}] running ...")
    t0 = time.perf_counter()
    outputs = fn(stage_dir)
    seconds = time.perf_counter() - t0
    record = StageRecord(name, key, "ran", seconds, outputs)
    stamp.write_text(
        json.dumps(
            {"key": key, "status": "ran", "seconds": seconds, "outputs": outputs, "settings": settings},
            indent=2,
            default=str,
        )
    )
    log(f"[{name}] done in {seconds:.1f} s")
    return record


def skipped(name: str, why: str) -> StageRecord:
    return StageRecord(name, stage_key({"skipped": why}, []), "skipped", note=why)


@dataclass
class PipelineResult:
    run_dir: Path
    records: list[StageRecord] = field(default_factory=list)
    gate_passed: bool | None = None
    report_md: Path | None = None
    eval_data: list[str] = field(default_factory=list)  # resolved folders (the report's pictures)
