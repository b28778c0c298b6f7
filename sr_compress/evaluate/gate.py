"""CI gate: thresholds per artifact on fidelity (via validate) and throughput (via bench).

Spec (YAML, unknown keys rejected by name)::

    data: [default-benchmark]                # datasets for the fidelity checks (CLI --data overrides);
                                             # default-benchmark: the embedded held-out images
    tile: null                               # LR tile for validation (null: full images)
    require: [onnx-fp32, openvino-fp32]      # artifacts (glob patterns) that must be in the export
    defaults:                                # thresholds for every artifact
      max_drop_db: 0.02                      # mean PSNR-Y drop vs PyTorch, per dataset
      max_abs_error: 0.01                    # max |artifact - PyTorch| over all output pixels
      min_psnr_vs_reference: 40              # worst-image PSNR of artifact output vs PyTorch output
      min_psnr: {Set5: 30.0}                 # mean PSNR-Y vs ground truth, per dataset name
      min_gain_over_bicubic_db: 0.0          # mean PSNR-Y minus MATLAB bicubic's, every dataset
      min_throughput_ratio: 1.0              # median-latency speed-up vs PyTorch eager
      allow_nonfinite: false                 # any NaN/Inf fails
    artifacts:                               # overrides by artifact-name glob, applied in order
      "*-int8": {max_drop_db: 0.15, max_abs_error: 0.1}
    bench: {size: 64x64, batch: 1, runs: 5, warmup: 1}

Exit codes (through the CLI): 0 all checks hold, 1 any fails (:class:`GateFailed`), 2 bad spec
(:class:`ConfigError` naming the key) or bad input.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..config import from_dict, read_yaml
from ..errors import ConfigError
from ..export.manifest import read_manifest


@dataclass
class Thresholds:
    min_psnr: dict[str, float] | None = None
    min_gain_over_bicubic_db: float | None = None
    max_drop_db: float | None = None
    max_abs_error: float | None = None
    min_psnr_vs_reference: float | None = None
    min_throughput_ratio: float | None = None
    allow_nonfinite: bool = False


@dataclass
class BenchSettings:
    size: str = "64x64"
    batch: int = 1
    runs: int = 5
    warmup: int = 1
    threads: int | None = None


@dataclass
class GateSpec:
    data: list[str] = field(default_factory=list)
    tile: int | None = None
    overlap: int = 8
    require: list[str] = field(default_factory=list)
    defaults: Thresholds = field(default_factory=Thresholds)
    artifacts: dict[str, Any] = field(default_factory=dict)
    bench: BenchSettings = field(default_factory=BenchSettings)
    # parsed form of ``artifacts`` (pattern -> the keys it sets)
    overrides: list[tuple[str, dict[str, Any]]] = field(default_factory=list, repr=False)


def _check_thresholds(t: Thresholds, src: str, where: str) -> None:
    for name in ("max_drop_db", "max_abs_error", "min_throughput_ratio"):
        v = getattr(t, name)
        if v is not None and (v < 0 or math.isnan(v)):
            raise ConfigError(f"{src}: '{where}{name}' must be >= 0, got {v}")
    v = t.min_gain_over_bicubic_db
    if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v)):
        raise ConfigError(f"{src}: '{where}min_gain_over_bicubic_db' must be a number of dB, got {v!r}")
    if t.min_psnr is not None:
        for ds, v in t.min_psnr.items():
            try:
                float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"{src}: '{where}min_psnr.{ds}' must be a number of dB, got {v!r}") from None


def parse_spec(data: dict[str, Any], src: str = "gate spec") -> GateSpec:
    data = dict(data)
    if "overrides" in data:
        raise ConfigError(f"{src}: unknown key 'overrides' (use 'artifacts')")
    spec = from_dict(GateSpec, data, src=src)
    _check_thresholds(spec.defaults, src, "defaults.")
    known = {f.name for f in fields(Thresholds)}
    for pattern, body in spec.artifacts.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{src}: 'artifacts.{pattern}' must be a mapping of thresholds, got {body!r}")
        parsed = from_dict(Thresholds, body, src=src, prefix=f"artifacts.{pattern}.")
        _check_thresholds(parsed, src, f"artifacts.{pattern}.")
        spec.overrides.append((str(pattern), {k: getattr(parsed, k) for k in body if k in known}))
    if spec.bench.batch < 1 or spec.bench.runs < 1:
        raise ConfigError(f"{src}: 'bench.batch' and 'bench.runs' must be >= 1")
    from .bench import parse_size

    try:
        parse_size(spec.bench.size)
    except Exception:
        raise ConfigError(f"{src}: 'bench.size' must look like 64x64, got {spec.bench.size!r}") from None
    return spec


def load_spec(path: str | Path) -> GateSpec:
    return parse_spec(read_yaml(path), src=str(path))


def thresholds_for(spec: GateSpec, artifact: str) -> Thresholds:
    t = spec.defaults
    for pattern, values in spec.overrides:
        if fnmatch.fnmatchcase(artifact, pattern):
            t = replace(t, **values)
    return t


DEFAULT_BENCHMARK = "default-benchmark"  # the embedded held-out photographs (data/defaults.py)


def _resolve_data(items: list[str], spec_path: Path | None, scale: int, from_cli: bool) -> list[str]:
    out = []
    for item in items:
        if item == DEFAULT_BENCHMARK:
            from ..data.defaults import default_benchmark_dir

            out.append(str(default_benchmark_dir(scale)))
            continue
        p = Path(item).expanduser()
        if not p.exists() and spec_path is not None and (spec_path.parent / p).exists():
            p = spec_path.parent / p
        if not p.exists():
            where = "--data" if from_cli else f"'data' of {spec_path or 'the gate spec'}"
            raise ConfigError(f"gate dataset not found: {item} (from {where}); pass --data DIR (HR or "
                              f"HR + LR_bicubic layout) or use data: [{DEFAULT_BENCHMARK}] (embedded images)")
        out.append(str(p))
    return out


def _bicubic_psnr(datasets: list[str], scale: int) -> dict[str, float]:
    """Mean PSNR-Y of MATLAB bicubic per dataset name, by the same evaluator as the artifacts."""
    from ..data.datasets import load_benchmark
    from .sr_eval import evaluate_model

    out = {}
    for d in datasets:
        bench = load_benchmark(d, scale)
        out[bench.name] = float(evaluate_model("bicubic", bench, scale, progress=False)["psnr"])
    return out


def run_gate(directory: str | Path, spec: GateSpec, data: list[str] | None = None,
             spec_path: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Evaluate every check; returns ``{"passed": bool, "checks": [...], ...}`` (never raises on failure)."""
    from .bench import bench_export, parse_size
    from .validate import validate_export

    manifest = read_manifest(directory)
    names = [a.name for a in manifest.artifacts]
    checks: list[dict[str, Any]] = []

    def add(artifact: str, check: str, measured: Any, threshold: Any, ok: bool) -> None:
        checks.append({"artifact": artifact, "check": check, "measured": measured, "threshold": threshold,
                       "ok": bool(ok)})

    for pattern in spec.require:
        hit = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        add(pattern, "present", ", ".join(hit) or "missing", "required", bool(hit))
    datasets = _resolve_data(data or spec.data, spec_path, manifest.scale, from_cli=bool(data))
    per = {n: thresholds_for(spec, n) for n in names}
    needs_bicubic = any(t.min_gain_over_bicubic_db is not None for t in per.values())
    needs_fidelity = needs_bicubic or any(t.min_psnr or t.max_drop_db is not None or t.max_abs_error is not None
                         or t.min_psnr_vs_reference is not None or not t.allow_nonfinite for t in per.values())
    if needs_fidelity and not datasets:
        raise ConfigError(f"{spec_path or 'gate spec'}: fidelity checks need datasets: set 'data' or pass --data")
    val = validate_export(directory, datasets, spec.tile, spec.overlap, write=False,
                          progress=progress) if needs_fidelity else None
    bicubic = _bicubic_psnr(datasets, manifest.scale) if needs_bicubic else {}
    skipped = {s["artifact"]: s["reason"] for s in (val or {}).get("skipped", [])}
    by_name = {a["name"]: a for a in (val or {}).get("artifacts", [])}
    for name in names:
        t = per[name]
        if name in skipped:
            add(name, "runnable", skipped[name], "backend available", False)
            continue
        a = by_name.get(name)
        if a is None:
            continue
        for ds, d in a["datasets"].items():
            if t.min_psnr and ds in t.min_psnr:
                add(name, f"PSNR-Y {ds} (dB)", d["psnr"], f">= {float(t.min_psnr[ds])}", d["psnr"] >= float(t.min_psnr[ds]))
            if t.min_gain_over_bicubic_db is not None and ds in bicubic:
                gain = d["psnr"] - bicubic[ds]
                add(name, f"PSNR-Y {ds} vs bicubic {bicubic[ds]:.2f} (dB)", gain,
                    f">= {t.min_gain_over_bicubic_db:+g}", gain >= t.min_gain_over_bicubic_db)
            if t.max_drop_db is not None:
                add(name, f"drop vs PyTorch {ds} (dB)", d["drop_db"], f"<= {t.max_drop_db}", d["drop_db"] <= t.max_drop_db)
        if t.min_psnr:
            for ds in t.min_psnr:
                if ds not in a["datasets"]:
                    add(name, f"PSNR-Y {ds} (dB)", "dataset not evaluated", f">= {t.min_psnr[ds]}", False)
        if t.max_abs_error is not None:
            add(name, "max abs error", a["max_abs"], f"<= {t.max_abs_error}", a["max_abs"] <= t.max_abs_error)
        if t.min_psnr_vs_reference is not None:
            v = a["min_psnr_vs_ref"]
            add(name, "PSNR vs PyTorch output (dB)", v, f">= {t.min_psnr_vs_reference}", v >= t.min_psnr_vs_reference)
        if not t.allow_nonfinite:
            add(name, "NaN/Inf values", a["nonfinite"], "== 0", a["nonfinite"] == 0)
    want_speed = [n for n in names if per[n].min_throughput_ratio is not None and n not in skipped]
    bench = None
    if want_speed:
        b = spec.bench
        bench = bench_export(directory, [parse_size(b.size)], [b.batch], b.runs, b.warmup, b.threads,
                             compile=False, artifacts=want_speed, progress=progress)
        rows = {r["target"]: r for r in bench["rows"]}
        for name in want_speed:
            r = rows.get(name, {})
            ratio = r.get("ratio_vs_eager")
            thr = per[name].min_throughput_ratio
            if ratio is None:
                add(name, "throughput x eager", r.get("skipped", "not measured"), f">= {thr}", False)
            else:
                add(name, f"throughput x eager ({b.size} b{b.batch})", ratio, f">= {thr}", ratio >= thr)
    passed = all(c["ok"] for c in checks)
    return {"export_dir": str(directory), "passed": passed, "checks": checks, "datasets": datasets,
            "validation": val, "bench": bench}


def render_checks(result: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "inf" if math.isinf(v) else f"{v:.5g}"
        return str(v)

    rows = [(c["artifact"], c["check"], fmt(c["measured"]), str(c["threshold"]), "PASS" if c["ok"] else "FAIL")
            for c in result["checks"]]
    head = ("artifact", "check", "measured", "threshold", "result")
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(5)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    out = [line, "-" * len(line)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    n_fail = sum(not c["ok"] for c in result["checks"])
    out.append(f"gate {'PASSED' if result['passed'] else 'FAILED'}: {len(rows) - n_fail}/{len(rows)} checks hold")
    return "\n".join(out)
