"""Quality-speed Pareto report: join validate / bench / eval results of several artifacts into one table + PNG.

Inputs, per path given:

* an export directory: ``validation.json`` (``sr-compress validate``) gives each artifact's PSNR
  per dataset and the PyTorch reference's; ``bench.json`` (``sr-compress bench --json
  DIR/bench.json``) gives its median latency at the first size, batch 1; MACs from ``bench.json``;
* an ``sr-compress eval --json`` file (or a folder holding ``eval.json``): one point with PSNR and
  the MACs of its checkpoint at ``macs_size``² LR (bench's default 256²) -- no latency.

A point is on the Pareto front when no other point is at least as fast (or as cheap, for the MACs
panel) AND at least as good on the chosen dataset, and strictly better in one of the two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserInputError


@dataclass
class Point:
    name: str
    psnr: dict[str, float]
    latency_ms: float | None = None
    macs: int | None = None
    kind: str = "artifact"  # artifact | reference | bicubic
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _bench_latency(bench: dict[str, Any]) -> tuple[dict[str, float], int | None]:
    """{target: median ms} at the first size with batch 1, and MACs at that size."""
    rows = [r for r in bench.get("rows", []) if "median_ms" in r and r.get("batch") == 1]
    if not rows:
        return {}, None
    size = rows[0]["size"]
    lat = {r["target"]: float(r["median_ms"]) for r in rows if r["size"] == size}
    return lat, (bench.get("macs") or {}).get(size)


def points_from_export(root: Path) -> list[Point]:
    val = json.loads((root / "validation.json").read_text())
    bench_file = root / "bench.json"
    lat, macs = _bench_latency(json.loads(bench_file.read_text())) if bench_file.is_file() else ({}, None)
    ref = {ds: float(r["psnr"]) for ds, r in val.get("reference", {}).items()}
    pts = [Point(f"{root.name}: pytorch fp32", ref, lat.get("torch"), macs, "reference", str(root))]
    for a in val.get("artifacts", []):
        psnr = {ds: float(d["psnr"]) for ds, d in a.get("datasets", {}).items()}
        pts.append(Point(f"{root.name}: {a['name']}", psnr, lat.get(a["name"]), macs, "artifact", str(root),
                         {"backend": a.get("backend"), "precision": a.get("precision")}))
    return pts


def point_from_eval(path: Path, kind: str | None = None, macs_size: int | None = 256) -> Point:
    data = json.loads(path.read_text())
    model = data.get("model", {})
    psnr = {r["dataset"]: float(r["psnr"]) for r in data.get("results", [])}
    name = str(model.get("arch") or model.get("model") or path.stem)
    is_bicubic = str(model.get("model", "")).lower() == "bicubic" or name == "bicubic"
    label = path.parent.name if path.name == "eval.json" else path.stem
    macs = model.get("macs")
    ckpt = Path(str(model.get("model", "")))
    if macs is None and macs_size and not is_bicubic and ckpt.is_file():  # MACs of the evaluated checkpoint
        from ..models.load import load_model

        macs = load_model(ckpt).macs(macs_size, macs_size)
    return Point(f"{label} ({name})" if not is_bicubic else "bicubic", psnr, None, macs,
                 kind or ("bicubic" if is_bicubic else "artifact"), str(path))


def collect(paths: list[str | Path], macs_size: int | None = 256) -> list[Point]:
    pts: list[Point] = []
    for p in map(Path, paths):
        if p.is_dir() and (p / "validation.json").is_file():
            pts += points_from_export(p)
        elif p.is_dir() and (p / "eval.json").is_file():
            pts.append(point_from_eval(p / "eval.json", macs_size=macs_size))
        elif p.is_file() and p.suffix == ".json":
            pts.append(point_from_eval(p, macs_size=macs_size))
        else:
            raise UserInputError(f"{p}: give an export directory with validation.json (run `sr-compress validate`"
                                 " there), or an `sr-compress eval --json` file")
    if not pts:
        raise UserInputError("no results to report")
    return pts


def pareto_front(pts: list[Point], dataset: str, cost: str = "latency_ms") -> list[Point]:
    """Points not dominated in (lower ``cost``, higher PSNR on ``dataset``)."""
    cand = [p for p in pts if getattr(p, cost) is not None and dataset in p.psnr]

    def dominated(p: Point) -> bool:
        return any(getattr(q, cost) <= getattr(p, cost) and q.psnr[dataset] >= p.psnr[dataset]
                   and (getattr(q, cost) < getattr(p, cost) or q.psnr[dataset] > p.psnr[dataset]) for q in cand)

    return sorted((p for p in cand if not dominated(p)), key=lambda p: getattr(p, cost))


def datasets_of(pts: list[Point]) -> list[str]:
    seen: dict[str, None] = {}
    for p in pts:
        for ds in p.psnr:
            seen.setdefault(ds, None)
    return list(seen)
