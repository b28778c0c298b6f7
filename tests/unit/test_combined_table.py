"""benchmarks/combined_table.py: the drop is the teacher's FP32 IR minus each seed's INT8 IR, the
speed is the paired median from the one-process measurement, and the mean ± std row covers every seed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import combined_table  # benchmarks/ is on sys.path (tests/conftest.py)
import pytest


def _validation(d: Path, ref: tuple[float, float], arts: dict[str, tuple[float, float]]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    sets = ("Set5", "Set14")
    v = {"reference": {s: {"psnr": p} for s, p in zip(sets, ref)},
         "artifacts": [{"name": n, "datasets": {s: {"psnr": p} for s, p in zip(sets, ps)}} for n, ps in arts.items()]}
    (d / "validation.json").write_text(json.dumps(v))


def _seed(work: Path, s: int, int8: tuple[float, float]) -> None:
    d = work / f"s{s}"
    _validation(d / "qat/export", (32.0, 28.4), {"openvino-int8": int8})
    (d / "p").mkdir(parents=True)
    (d / "p/prune.json").write_text(json.dumps({"macs_after": 72, "macs_before": 100}))
    (d / "kf").mkdir()
    (d / "kf/keep_float.json").write_text(json.dumps({"kept": ["a", "b"]}))


def test_report_drops_speeds_and_the_mean_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _validation(tmp_path / "teacher/ir", (32.2, 28.6), {"openvino-fp32": (32.24, 28.62), "openvino-int8": (31.6, 28.1)})
    _seed(tmp_path, 0, (31.90, 28.38))
    _seed(tmp_path, 1, (31.84, 28.36))
    args = argparse.Namespace(work=tmp_path, seeds=[0, 1], teacher="rlfn_x4.pth", macs=0.75, round_to=4,
                              recovery_iterations=10, keep_float=8, speed_budget=0.9, qat_iterations=5, size=32,
                              rounds=2, jobs=2, job_threads=1, placement="ptq", equalize=0.5, no_update=True,
                              json=tmp_path / "out.json", section="x")
    sp = {"teacher FP32": {"speed_vs_fp32": [1, 1, 1]}, "teacher PTQ INT8": {"speed_vs_fp32": [2.5, 2.6, 2.7]},
          "seed 0": {"speed_vs_fp32": [3.1, 3.2, 3.3]}, "seed 1": {"speed_vs_fp32": [3.0, 3.0, 3.1]}}
    combined_table.report(args, {0: {"recovery": 600.0, "qat": 1200.0}, 1: {"recovery": 60.0}}, sp)
    runs = json.loads((tmp_path / "out.json").read_text())["data"]["runs"]
    assert [r["delta_ir"]["Set5"] for r in runs] == pytest.approx([-0.34, -0.40])  # vs the FP32 IR, not PyTorch
    assert [r["speed_vs_fp32"] for r in runs] == [3.2, 3.0]  # the median of the paired ratios
    assert runs[0]["macs_ratio"] == pytest.approx(0.72) and runs[0]["cpu_min"] == {"recovery": 10.0, "qat": 20.0}
    md = capsys.readouterr().out
    assert "-0.370 ± 0.042 (n=2)" in md and "3.10 ± 0.14 (n=2)" in md  # Set5 drop and speed over seeds
    assert "| 2 | -0.240 / -0.220 | 31.900 | 28.380 | -0.340 | -0.240 | 3.20 | recovery 10.0 + qat 20.0 |" in md
    assert "| teacher PTQ INT8 IR | 1.000 |  |  | 31.600 | 28.100 | -0.640 | -0.520 | 2.60 |  |" in md
