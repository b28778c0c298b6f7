"""The project's own CI gate: a small exported student must pass `sr-compress gate`.

A regression in export (a wrong opset, a broken dynamic axis, a quantizer that destroys the
output) makes the drop/abs-error/NaN checks fail here and fails the build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sr_compress.cli import cli, run_cli

pytestmark = pytest.mark.integration

CI_SPEC = {
    "require": ["onnx-fp32", "openvino-fp32", "*-int8"],
    "defaults": {"max_drop_db": 0.001, "max_abs_error": 0.001, "min_psnr_vs_reference": 60},
    "artifacts": {
        "*-fp16": {"max_drop_db": 0.02, "max_abs_error": 0.01, "min_psnr_vs_reference": 45},
        "*-int8": {"max_drop_db": 0.15, "max_abs_error": 0.25, "min_psnr_vs_reference": 30},
        "openvino-fp32": {"min_throughput_ratio": 0.3},
    },
    "bench": {"size": "48x48", "batch": 1, "runs": 3, "warmup": 1, "threads": 2},
}


def _write(tmp_path: Path, spec: dict, name: str = "gate.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(spec))
    return p


def _small_set(tmp_path: Path) -> Path:
    """Two HR images as a plain folder (LR made with MATLAB bicubic): keeps the CI gate quick.

    Two Set5 images when the shared data is there; else the two embedded held-out photographs, so
    the gate runs (and can fail the build) on any CI machine, not only where the shared data is.
    """
    from tests.helpers import shared_data_dir

    base = shared_data_dir()
    hr = base / "benchmarks" / "Set5" / "HR" if base is not None else None
    names = ("head.png", "woman.png")
    if hr is None or not all((hr / n).is_file() for n in names):
        from sr_compress.data.defaults import default_benchmark_dir

        hr = default_benchmark_dir(4) / "HR"
        names = ("chelsea.png", "coffee.png")
    folder = tmp_path / "Set5mini"
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(hr / name)
    return folder


def test_ci_gate_passes_on_small_student(export_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    set5 = _small_set(tmp_path)
    out = tmp_path / "gate.json"
    code = run_cli(cli, ["gate", str(export_dir), "--spec", str(_write(tmp_path, CI_SPEC)), "--data", str(set5),
                         "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "gate PASSED" in text and "throughput x eager" in text
    res = json.loads(out.read_text())
    assert res["passed"] and len(res["checks"]) >= 20


def test_gate_fails_with_exit_1(export_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    set5 = _small_set(tmp_path)
    spec = {"require": ["tensorrt-*"], "defaults": {"min_psnr": {"Set5mini": 99.0}}}
    code = run_cli(cli, ["gate", str(export_dir), "--spec", str(_write(tmp_path, spec)), "--data", str(set5)])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL" in captured.out and "gate check(s) failed" in captured.err


def test_bad_spec_exit_2(export_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = run_cli(cli, ["gate", str(export_dir), "--spec",
                         str(_write(tmp_path, {"defaults": {"max_drop": 0.1}}))])
    assert code == 2
    assert "defaults.max_drop" in capsys.readouterr().err
