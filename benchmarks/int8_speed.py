"""Latency of several exported artifacts measured in ONE process, interleaved, so ratios are fair.

``sr-compress bench`` times one export directory per process; on a shared machine two such runs
minutes apart can differ several-fold. Here every artifact is loaded once and the timed runs go
round-robin (A, B, C, then C, B, A, ...), so load changes hit all of them alike; the table
gives each one's median and its ratio to the first.

    python benchmarks/int8_speed.py --section int8_speed_rlfn \\
        fp32=/tmp/qat_v2/ptq:openvino-fp32 ptq=/tmp/qat_v2/ptq:openvino-int8 \\
        qat=/tmp/qat_v2/qat_t91/export:openvino-int8
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import add_run_args, add_target_args, artifact_target, command_line, start, write_results
from _results import machine_line, md_table


def load(spec: str, threads: int) -> tuple[str, Any, dict[str, Any]]:
    from sr_compress.runtime.runners import make_runner

    label, manifest, entry = artifact_target(spec)
    info = {"dir": str(manifest.root), "artifact": entry.name, "backend": entry.backend, "precision": entry.precision,
            "provenance": (manifest.provenance or {}).get("method", "export")}
    return label, make_runner(entry, manifest=manifest, threads=threads), info


def measure(runners: list[tuple[str, Any]], x: np.ndarray, rounds: int, warmup: int) -> dict[str, list[float]]:
    from sr_compress.evaluate.bench import interleaved_times

    times = interleaved_times([partial(r.run, x) for _, r in runners], rounds, warmup)
    return {name: t for (name, _), t in zip(runners, times)}


def paired_speed(ref: list[float], other: list[float]) -> list[float]:
    """Quartiles of ref/other over rounds: both ran in the same round, so a load spike hits the pair."""
    r = np.asarray(ref) / np.asarray(other)
    return [round(float(v), 4) for v in np.percentile(r, [25, 50, 75])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_target_args(ap, "LABEL=EXPORT_DIR:ARTIFACT (the first is the ratio's base)")
    ap.add_argument("--repeats", type=int, default=1, help="Measure this many times in a row (each its own "
                    "interleaved series); the --versus column lists every repeat's figure")
    ap.add_argument("--versus", default="", help="Also each artifact's speed relative to this label: the median "
                    "(and quartiles) of the per-round ratios, paired within a round")
    add_run_args(ap, "int8_speed", threads=2)
    args = ap.parse_args()
    if args.versus and args.versus not in [t.partition("=")[0] for t in args.targets]:
        raise SystemExit(f"--versus {args.versus}: not one of the labels")
    start(args)
    loaded = [load(t, args.threads) for t in args.targets]
    x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
    series = [measure([(n, r) for n, r, _ in loaded], x, args.rounds, args.warmup) for _ in range(args.repeats)]
    times = {n: [t for s in series for t in s[n]] for n, _, _ in loaded}
    base = float(np.median(times[loaded[0][0]]))
    rows, data = [], {}
    for name, _, info in loaded:
        med = float(np.median(times[name]))
        rows.append([name, info["artifact"], info["provenance"], round(med * 1e3, 1),
                     round(float(np.percentile(times[name], 90)) * 1e3, 1), round(base / med, 2)])
        data[name] = {**info, "median_ms": med * 1e3, "times_ms": [t * 1e3 for t in times[name]]}
        if args.versus:
            qs = [paired_speed(s[args.versus], s[name]) for s in series]
            rows[-1].append(" / ".join(f"{q[1]:.3f} [{q[0]:.3f}, {q[2]:.3f}]" for q in qs))
            data[name][f"speed_vs_{args.versus}_quartiles"] = qs
    md = (f"{machine_line()}\n\nCommand: `{command_line(Path(__file__).name)}`\n\nLR {args.size}x{args.size}, "
          f"batch 1, {args.threads} threads, {args.repeats} x {args.rounds} interleaved rounds after {args.warmup} "
          "warm-up rounds each, all artifacts in one process (medians over all rounds).\n\n"
          + md_table(["label", "artifact", "made by", "median ms", "p90 ms", f"speed-up vs {loaded[0][0]}",
                      *([f"speed vs {args.versus}, median of per-round ratios [quartiles], per repeat"]
                        if args.versus else [])], rows)
          + "\n")
    write_results(args, md, data)


if __name__ == "__main__":
    main()
