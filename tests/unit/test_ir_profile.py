"""benchmarks/ir_profile.py: per-op-kind times of OpenVINO IRs from the runtime's counters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

ov = pytest.importorskip("openvino")
import ir_profile  # noqa: E402  (benchmarks/ is on sys.path: tests/conftest.py)


def _request(channels: int) -> object:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, channels, 3, padding=1), torch.nn.ReLU()).eval()
    model = ov.convert_model(net, example_input=torch.zeros(1, 3, 8, 8))
    cfg = {"PERF_COUNT": "YES", "INFERENCE_NUM_THREADS": 1}
    return ov.Core().compile_model(model, "CPU", cfg).create_infer_request()


def test_profile_sums_node_times_by_kind_and_counts_nodes_per_inference() -> None:
    x = np.random.default_rng(0).random((1, 3, 8, 8), dtype=np.float32)
    prof = ir_profile.profile([("small", _request(4)), ("wide", _request(64))], x, rounds=3, warmup=1)
    for p in prof.values():
        conv = [k for k in p["ms"] if k.startswith("Convolution ")]
        assert len(conv) == 1 and p["nodes"][conv[0]] == 1  # one conv node per inference, not per round
        assert p["total_ms"] == pytest.approx(sum(p["ms"].values())) and p["total_ms"] > 0
    md = ir_profile.table(prof, top=1)
    assert md.count("\n") == 3 and "**sum of node times**" in md  # header, rule, the top kind, the sum
    assert "small: ms (nodes)" in md and "wide: ms (nodes)" in md
