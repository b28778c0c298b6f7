"""Which sensitive quantizers can stay in float without costing more than a speed budget.

Leaving a quantizer in float is free on some tensors (the network input's first convolution has
3 input channels) and expensive on others: OpenVINO runs a convolution in INT8 only when both its
input and its weights are quantized, and one float input of a concatenation can push the whole
concatenation and its consumer to FP32 (IMDN). The cost is a property of the runtime's graph, so
it is measured, not estimated: each candidate set is exported to an in-memory OpenVINO model and
timed against the all-INT8 one, interleaved in this process so that load on the machine hits both
alike. Candidates are taken most sensitive first (``qat_sensitivity``) and kept when the set with
them still runs at ``budget`` of the all-INT8 speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from .qat import quantizers


def _compile(model: nn.Module, example: torch.Tensor, threads: int) -> Any:
    import openvino as ov

    from .qat_export import to_openvino

    # to_openvino's dynamic spatial shape is what the export writes: a static one timed float islands ~5 % cheaper
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    return ov.Core().compile_model(to_openvino(model, example), "CPU", config)


def interleaved_ms(compiled: Sequence[Any], x: np.ndarray, rounds: int = 20, warmup: int = 2) -> list[float]:
    """Fastest latency (ms) of each compiled model over ``rounds``, interleaved
    (``evaluate.bench.interleaved_times``); other work on the machine only ever adds time, so the
    minimum is the steadiest estimate of what the model itself costs (medians moved 30 % between tries here)."""
    from ..evaluate.bench import interleaved_times

    requests = [c.create_infer_request() for c in compiled]
    times = interleaved_times([partial(r.infer, [x]) for r in requests], rounds, warmup)
    return [1000 * float(np.min(t)) for t in times]


def with_float(model: nn.Module, names: Sequence[str], example: torch.Tensor, threads: int) -> Any:
    """The model compiled with ``names`` in float (they are re-enabled afterwards)."""
    qs = quantizers(model)
    for n in names:
        qs[n].disable_quantization()
    try:
        return _compile(model, example, threads)
    finally:
        for n in names:
            qs[n].enable_quantization()


def choose_within_budget(model: nn.Module, candidates: Sequence[str], budget: float, size: int = 96,
                         threads: int = 2, rounds: int = 20) -> tuple[list[str], list[dict[str, Any]]]:
    """Greedy: try each candidate (in the given order) on top of those kept; keep it when the set's
    measured speed is at least ``budget`` x the all-INT8 model's; the rejected get one more pass;
    then the kept set is confirmed.
    Returns (kept, one row per try and per confirmation)."""
    example = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    x = example.numpy()
    base = with_float(model, [], example, threads)
    kept: list[str] = []
    trace: list[dict[str, Any]] = []
    todo = list(candidates)
    # a second pass: a quantizer whose float island cost too much alone can be free once its
    # neighbour is float too (both sides of one convolution)
    for _ in range(2):
        rejected: list[str] = []
        for name in todo:
            base_ms, trial_ms = interleaved_ms([base, with_float(model, [*kept, name], example, threads)], x, rounds)
            ok = base_ms / trial_ms >= budget
            (kept if ok else rejected).append(name)
            trace.append(_row(name, base_ms, trial_ms, ok))
        if not rejected or len(rejected) == len(todo):
            break
        todo = rejected
    # one try at a time is noisy on a busy machine: the final set is timed again, twice as long,
    # and the least sensitive kept quantizer goes back to INT8 until the set fits the budget
    while kept:
        base_ms, trial_ms = interleaved_ms([base, with_float(model, kept, example, threads)], x, 2 * rounds)
        ok = base_ms / trial_ms >= budget
        trace.append(_row(f"confirm: all {len(kept)} kept", base_ms, trial_ms, ok))
        if ok:
            break
        kept.pop()
    return kept, trace


def _row(what: str, base_ms: float, trial_ms: float, ok: bool) -> dict[str, Any]:
    return {"quantizer": what, "all_int8_ms": round(base_ms, 2), "with_float_ms": round(trial_ms, 2),
            "speed_vs_int8": round(base_ms / trial_ms, 3), "kept": ok}


def format_trace(trace: list[dict[str, Any]], budget: float) -> str:
    lines = [f"keep-float under a speed budget of {budget:.0%} of all-INT8 (OpenVINO, measured per try):",
             f"{'try':>3}  {'speed':>6}  {'kept':>4}  quantizer (with every kept one before it)"]
    for i, r in enumerate(trace, 1):
        lines.append(f"{i:>3}  {r['speed_vs_int8']:>6.1%}  {'yes' if r['kept'] else 'no':>4}  {r['quantizer']}")
    return "\n".join(lines)
