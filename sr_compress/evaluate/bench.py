"""Throughput of every artifact and of PyTorch eager (and ``torch.compile``) on the same inputs.

Each backend is measured in its own subprocess, so the peak RSS reported is that backend's own
(Python + its runtime + the model + buffers), no backend's warm caches help another, and a
crashing or hanging backend (``torch.compile`` without a compiler) cannot take the run down: it
gets a timeout and a note.

Timing: ``warmup`` untimed runs, then ``runs`` timed runs of one batch ``(B, 3, H, W)`` (inputs
padded to the model's ``multiple_of`` if needed); we report the median and p90 latency, output
megapixels per second, ``2 * MACs`` per second as achieved GFLOP/s, and that as a fraction of a
roofline peak estimate:

    peak GFLOP/s = cores x GHz x FMA units per core x fp32 SIMD lanes x 2 (an FMA is 2 FLOPs)

with lanes = 16 for AVX-512 (8 on AMD Zen 4, whose AVX-512 is double-pumped on 256-bit units),
8 for AVX2+FMA, 4 otherwise; 2 FMA units per core; GHz from cpufreq's max, else /proc/cpuinfo.
``cores`` is the number of threads the backend was allowed (at most the physical cores).
INT8 artifacts are compared with the INT8 peak instead: x4 with VNNI (``vpdpbusd`` does four
8-bit multiply-adds per 32-bit lane), x2 without (``vpmaddubsw`` + ``vpmaddwd``). FP16 IRs run
in FP32 on CPU (we force ``INFERENCE_PRECISION_HINT=f32``), so they use the FP32 peak.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backends import read_manifest
from ..errors import UserInputError
from ..runtime.base import Runner


@dataclass
class CpuPeak:
    cores: int
    ghz: float
    lanes: int
    fma_units: int
    isa: str
    model: str
    int8_factor: int = 2  # INT8 ops per FP32 FLOP slot: 4 with VNNI, 2 without

    @property
    def gflops(self) -> float:
        return self.cores * self.ghz * self.fma_units * self.lanes * 2

    def peak_for(self, precision: str) -> float:
        """Roofline peak (G ops/s) for an artifact of ``precision``."""
        return self.gflops * (self.int8_factor if precision == "int8" else 1)


def cpu_peak(threads: int | None = None) -> CpuPeak:
    """Roofline compute peak of this CPU for ``threads`` threads (see the module docstring)."""
    flags: set[str] = set()
    model, vendor, mhz = platform.processor() or "unknown", "", 0.0
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            key, _, val = line.partition(":")
            key, val = key.strip(), val.strip()
            if key == "flags" and not flags:
                flags = set(val.split())
            elif key == "model name":
                model = val
            elif key == "vendor_id":
                vendor = val
            elif key == "cpu MHz" and not mhz:
                mhz = float(val)
    except OSError:
        pass
    try:
        mhz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1000.0
    except (OSError, ValueError):
        pass
    if "avx512f" in flags:
        zen4 = vendor == "AuthenticAMD"
        lanes, isa = (8, "AVX-512 (double-pumped 256-bit)") if zen4 else (16, "AVX-512")
    elif "avx2" in flags and "fma" in flags:
        lanes, isa = 8, "AVX2+FMA"
    else:
        lanes, isa = 4, "SSE"
    cores = os.cpu_count() or 1
    if threads:
        cores = min(cores, threads)
    vnni = bool(flags & {"avx512_vnni", "avx_vnni", "avx512vnni"})
    return CpuPeak(cores, (mhz or 2000.0) / 1000.0, lanes, 2, isa + (" + VNNI" if vnni else ""), model,
                   4 if vnni else 2)


def interleaved_times(calls: Sequence[Callable[[], object]], rounds: int, warmup: int) -> list[list[float]]:
    """Seconds of each call over ``rounds``, timed round-robin in one process with every other round
    backwards (A B C, C B A, ...): load changes hit all alike, and none always runs right after the
    same neighbour. For fair ratios between artifacts; ``bench_export`` times one at a time."""
    for _ in range(warmup):
        for call in calls:
            call()
    times: list[list[float]] = [[] for _ in calls]
    order = list(range(len(calls)))
    for k in range(rounds):
        for i in order if k % 2 == 0 else order[::-1]:
            t = time.perf_counter()
            calls[i]()
            times[i].append(time.perf_counter() - t)
    return times


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserInputError(f"--size {text!r}: use HEIGHTxWIDTH, e.g. 256x256") from None
    if h < 1 or w < 1:
        raise UserInputError(f"--size {text!r}: sizes must be positive")
    return h, w


def parse_batches(text: str) -> list[int]:
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserInputError(f"--batch {text!r}: use a comma-separated list, e.g. 1,4") from None
    if not out or min(out) < 1:
        raise UserInputError(f"--batch {text!r}: batch sizes must be >= 1")
    return out


@dataclass
class BenchSpec:
    directory: str
    target: str  # artifact name, "torch" or "torch.compile"
    sizes: list[tuple[int, int]]
    batches: list[int]
    runs: int = 10
    warmup: int = 2
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _rss_mb() -> float:
    """Peak RSS of this process in MB.

    ``VmHWM`` is the high-water mark of the current address space (reset by exec); getrusage's
    ru_maxrss would carry over the parent's peak into a fork+exec'd worker on Linux.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _worker(spec: BenchSpec) -> dict[str, Any]:
    """Runs inside the subprocess: load one backend, time it, report."""
    import torch

    from ..backends.torch import TorchRunner
    from ..runtime.runners import make_runner
    from .validate import load_reference

    threads = spec.threads or (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    manifest = read_manifest(spec.directory)
    rss_base = _rss_mb()
    t0 = time.perf_counter()
    runner: Runner
    if spec.target in ("torch", "torch.compile"):
        runner = TorchRunner(load_reference(manifest), threads=threads, compile=spec.target == "torch.compile")
    else:
        runner = make_runner(manifest.artifact(spec.target), manifest=manifest, threads=threads)
    load_s = time.perf_counter() - t0
    req = manifest.requirements
    rng = np.random.default_rng(0)
    rows = []
    for h, w in spec.sizes:
        ph, pw = req.padding_for(h, w)
        if runner.info.fixed_shape is not None:
            ph, pw = runner.info.fixed_shape[0] - h, runner.info.fixed_shape[1] - w
            if ph < 0 or pw < 0:
                raise UserInputError(f"{spec.target}: engine input is fixed at {runner.info.fixed_shape}")
        for b in spec.batches:
            x = rng.random((b, 3, h + ph, w + pw), dtype=np.float32)
            t_first = time.perf_counter()
            for _ in range(max(spec.warmup, 1)):
                runner.run(x)
            first_s = time.perf_counter() - t_first
            times = []
            for _ in range(spec.runs):
                t = time.perf_counter()
                runner.run(x)
                times.append(time.perf_counter() - t)
            med, p90 = float(np.median(times)), float(np.percentile(times, 90))
            rows.append({"size": [h, w], "batch": b, "median_ms": med * 1e3, "p90_ms": p90 * 1e3,
                         "mp_per_s": b * h * w * manifest.scale**2 / med / 1e6, "warmup_s": first_s,
                         "runs": spec.runs})
    info = runner.info
    return {"target": spec.target, "backend": info.backend, "precision": info.precision, "threads": threads,
            "load_s": load_s, "rss_after_import_mb": rss_base, "peak_rss_mb": _rss_mb(), "rows": rows,
            "extra": {k: v for k, v in info.extra.items() if isinstance(v, (int, float, str, bool, list))}}


def run_isolated(spec: BenchSpec, timeout: float) -> dict[str, Any]:
    """Run :func:`_worker` in a fresh interpreter; a failure or timeout becomes a note."""
    with tempfile.TemporaryDirectory(prefix="srbench-") as td:
        inp, out = Path(td) / "spec.json", Path(td) / "out.json"
        inp.write_text(json.dumps(asdict(spec)))
        cmd = [sys.executable, "-m", "sr_compress.evaluate.bench", str(inp), str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"target": spec.target, "skipped": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.is_file():
            lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
            return {"target": spec.target, "skipped": (lines[-1] if lines else f"exit {proc.returncode}")[:300]}
        return json.loads(out.read_text())


def bench_export(
    directory: str | Path,
    sizes: list[tuple[int, int]],
    batches: list[int],
    runs: int = 10,
    warmup: int = 2,
    threads: int | None = None,
    compile: bool = False,
    artifacts: list[str] | None = None,
    timeout: float = 600.0,
    compile_timeout: float = 240.0,
    progress: bool = True,
) -> dict[str, Any]:
    from tqdm import tqdm

    manifest = read_manifest(directory)
    problems = manifest.verify()
    if problems:
        raise UserInputError(f"{directory}: {problems[0]}")
    names = [a.name for a in manifest.artifacts if not artifacts or a.name in artifacts]
    if artifacts:
        missing = sorted(set(artifacts) - set(names))
        if missing:
            raise UserInputError(f"--artifact {missing[0]!r} not in {directory}")
    targets = ["torch", *(["torch.compile"] if compile else []), *names]
    results = []
    for t in tqdm(targets, desc="bench", unit="backend", disable=not progress, leave=False):
        spec = BenchSpec(str(directory), t, sizes, batches, runs, warmup, threads)
        results.append(run_isolated(spec, compile_timeout if t == "torch.compile" else timeout))
    return summarise(manifest, results, sizes, threads)


def summarise(manifest: Any, results: list[dict[str, Any]], sizes: list[tuple[int, int]],
              threads: int | None) -> dict[str, Any]:
    from .validate import load_reference

    desc = load_reference(manifest)
    macs = {tuple(s): desc.macs(*s) for s in sizes}
    peak = cpu_peak(threads)
    eager = {}
    for r in results:
        if r["target"] == "torch" and "rows" in r:
            eager = {(tuple(x["size"]), x["batch"]): x["median_ms"] for x in r["rows"]}
    table = []
    for r in results:
        if "rows" not in r:
            table.append({"target": r["target"], "skipped": r.get("skipped", "failed")})
            continue
        for x in r["rows"]:
            key = (tuple(x["size"]), x["batch"])
            gflops = 2 * macs[key[0]] * x["batch"] / (x["median_ms"] / 1e3) / 1e9
            table.append({
                "target": r["target"], "backend": r["backend"], "precision": r["precision"],
                "size": f"{x['size'][0]}x{x['size'][1]}", "batch": x["batch"], "median_ms": x["median_ms"],
                "p90_ms": x["p90_ms"], "mp_per_s": x["mp_per_s"],
                "ratio_vs_eager": (eager[key] / x["median_ms"]) if key in eager else None,
                "gflops": gflops, "peak_fraction": gflops / peak.peak_for(r["precision"]), "peak_rss_mb": r["peak_rss_mb"],
                "threads": r["threads"],
            })
    return {"export_dir": str(manifest.root), "arch": manifest.arch, "scale": manifest.scale,
            "params": desc.params, "macs": {f"{h}x{w}": m for (h, w), m in macs.items()},
            "cpu": asdict(peak) | {"peak_gflops": peak.gflops}, "rows": table, "raw": results}


def render_table(res: dict[str, Any]) -> str:
    head = ("| backend | prec | size | batch | median ms | p90 ms | MP/s out | x eager | G(FL)OP/s | % peak | "
            "peak RSS MB | threads |")
    lines = [head, "|" + "---|" * 12]
    for r in res["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['target']} | skipped: {r['skipped']} |" + " |" * 10)
            continue
        ratio = f"{r['ratio_vs_eager']:.2f}" if r["ratio_vs_eager"] is not None else "-"
        lines.append(
            f"| {r['target']} | {r['precision']} | {r['size']} | {r['batch']} | {r['median_ms']:.1f} | "
            f"{r['p90_ms']:.1f} | {r['mp_per_s']:.3f} | {ratio} | {r['gflops']:.1f} | "
            f"{100 * r['peak_fraction']:.1f} | {r['peak_rss_mb']:.0f} | {r['threads']} |"
        )
    cpu = res["cpu"]
    lines.append("")
    lines.append(f"Peak estimate: {cpu['cores']} cores x {cpu['ghz']:.2f} GHz x {cpu['fma_units']} FMA x "
                 f"{cpu['lanes']} lanes ({cpu['isa']}) x 2 = {cpu['peak_gflops']:.0f} GFLOP/s ({cpu['model']}); "
                 f"INT8 rows use x{cpu['int8_factor']} that ({cpu['peak_gflops'] * cpu['int8_factor']:.0f} G ops/s).")
    return "\n".join(lines)


def _main(argv: list[str]) -> int:
    spec_d = json.loads(Path(argv[0]).read_text())
    spec_d["sizes"] = [tuple(s) for s in spec_d["sizes"]]
    res = _worker(BenchSpec(**spec_d))
    Path(argv[1]).write_text(json.dumps(res, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
