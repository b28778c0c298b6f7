"""Where an OpenVINO IR spends its time: per-op-kind latency (OpenVINO ``PERF_COUNT``), side by side.

``int8_speed.py`` says *that* one INT8 IR is slower than another; this says *where*. Every IR is
compiled once with performance counters on, run round-robin (so load changes hit all alike), and
each executed node's time is summed by (node type, kernel): e.g. ``VariadicSplit ref_f32`` is a
channel split on FP32 tensors in OpenVINO's reference kernel.

    python benchmarks/ir_profile.py --section ir_profile_imdn \\
        ptq=/tmp/qat_imdn/ptq:openvino-int8 qat=/tmp/qat_imdn/qat_t91/export:openvino-int8
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from _common import add_run_args, add_target_args, artifact_target, command_line, start, write_results
from _results import machine_line, md_table


def compile_ir(spec: str, size: int, threads: int) -> tuple[str, Any]:
    """(label, infer request with profiling on) of ``LABEL=EXPORT_DIR:ARTIFACT`` (an OpenVINO artifact)."""
    import openvino as ov

    label, manifest, entry = artifact_target(spec)
    if entry.backend != "openvino":
        raise SystemExit(f"{spec}: backend {entry.backend}, not openvino (only IRs have per-node counters)")
    core = ov.Core()
    model = core.read_model(str(manifest.path_of(entry)))
    model.reshape([1, 3, size, size])
    cfg = {"PERF_COUNT": "YES", "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    return label, core.compile_model(model, "CPU", cfg).create_infer_request()


def profile(requests: list[tuple[str, Any]], x: np.ndarray, rounds: int, warmup: int) -> dict[str, dict[str, Any]]:
    """Per label: mean ms per round by 'type kernel', how many nodes of that kind ran, the total."""
    for _ in range(warmup):
        for _, r in requests:
            r.infer({0: x})
    acc: dict[str, Counter[str]] = {n: Counter() for n, _ in requests}
    nodes: dict[str, Counter[str]] = {n: Counter() for n, _ in requests}
    for i in range(rounds):
        order = requests if i % 2 == 0 else requests[::-1]
        for name, r in order:
            r.infer({0: x})
            for p in r.profiling_info:
                ms = p.real_time.total_seconds() * 1e3
                if ms > 0:
                    kind = f"{p.node_type} {p.exec_type}"
                    acc[name][kind] += ms / rounds
                    nodes[name][kind] += 1
    return {n: {"ms": dict(acc[n]), "nodes": {k: v // rounds for k, v in nodes[n].items()},
                "total_ms": sum(acc[n].values())} for n, _ in requests}


def table(prof: dict[str, dict[str, Any]], top: int) -> str:
    labels = list(prof)
    kinds = sorted({k for p in prof.values() for k in p["ms"]}, key=lambda k: -max(p["ms"].get(k, 0) for p in
                                                                                   prof.values()))
    rows = [[f"`{k}`", *[f"{prof[n]['ms'].get(k, 0):.2f} ({prof[n]['nodes'].get(k, 0)})" for n in labels]]
            for k in kinds[:top]]
    rows.append(["**sum of node times**", *[f"**{prof[n]['total_ms']:.1f}**" for n in labels]])
    return md_table(["op kind (type kernel)", *[f"{n}: ms (nodes)" for n in labels]], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_target_args(ap, "LABEL=EXPORT_DIR:ARTIFACT (OpenVINO artifacts)")
    ap.add_argument("--top", type=int, default=14, help="op kinds listed (the slowest, by the largest time)")
    add_run_args(ap, "ir_profile", threads=2)
    args = ap.parse_args()
    start(args)
    requests = [compile_ir(t, args.size, args.threads) for t in args.targets]
    x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
    prof = profile(requests, x, args.rounds, args.warmup)
    md = (f"{machine_line()}\n\nCommand: `{command_line(Path(__file__).name)}`\n\nLR {args.size}x{args.size}, "
          f"batch 1, {args.threads} threads, {args.rounds} interleaved rounds after {args.warmup} warm-up rounds; "
          "per op kind the mean time per inference summed over its nodes (OpenVINO performance counters; "
          "one stream, so the nodes run one after another and their sum is about the latency).\n\n" + table(prof, args.top) + "\n")
    write_results(args, md, prof)


if __name__ == "__main__":
    main()
