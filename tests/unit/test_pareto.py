"""Pareto report: joining validate/bench/eval JSON, front selection, CLI outputs."""

from __future__ import annotations

import json
from pathlib import Path

from sr_compress.cli import cli, run_cli
from sr_compress.evaluate.pareto import Point, collect, pareto_front


def _export_dir(root: Path) -> Path:
    root.mkdir()
    (root / "validation.json").write_text(json.dumps({
        "reference": {"Set5": {"psnr": 32.2}},
        "artifacts": [{"name": "openvino_fp32", "backend": "openvino", "precision": "fp32",
                       "datasets": {"Set5": {"psnr": 32.2}}},
                      {"name": "openvino_int8", "backend": "openvino", "precision": "int8",
                       "datasets": {"Set5": {"psnr": 31.6}}}]}))
    rows = [{"target": t, "size": "64x64", "batch": 1, "median_ms": ms}
            for t, ms in (("torch", 40.0), ("openvino_fp32", 20.0), ("openvino_int8", 8.0))]
    (root / "bench.json").write_text(json.dumps({"rows": rows, "macs": {"64x64": 2_000_000_000}}))
    return root


def test_front_drops_dominated_points() -> None:
    pts = [Point("a", {"S": 30.0}, 10.0), Point("b", {"S": 31.0}, 20.0), Point("c", {"S": 29.0}, 30.0)]
    assert [p.name for p in pareto_front(pts, "S")] == ["a", "b"]


def test_report_cli(tmp_path: Path) -> None:
    exp = _export_dir(tmp_path / "rlfn")
    bic = tmp_path / "bicubic.json"
    bic.write_text(json.dumps({"model": {"model": "bicubic"}, "results": [{"dataset": "Set5", "psnr": 28.4}]}))
    pts = collect([exp, bic])
    assert {p.name for p in pts} == {"rlfn: pytorch fp32", "rlfn: openvino_fp32", "rlfn: openvino_int8", "bicubic"}
    assert run_cli(cli, ["report", str(exp), str(bic), "--out", str(tmp_path / "r")]) == 0
    front = json.loads((tmp_path / "r" / "pareto.json").read_text())["front_latency"]
    assert front == ["rlfn: openvino_int8", "rlfn: openvino_fp32"]
    assert "| bicubic |" in (tmp_path / "r" / "pareto.md").read_text()


def test_report_bad_path_is_one_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(cli, ["report", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
