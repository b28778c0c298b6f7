"""benchmarks/realesrgan_compress.py: the --smoke chain (prune -> kd, QAT -> OpenVINO, fidelity report)
on a tiny random RRDBNet, and the step bookkeeping that makes a run resumable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import realesrgan_compress as rc  # benchmarks/ is on sys.path (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_the_issue() -> None:
    a = rc.parse([])
    assert (a.macs, a.crop, a.importance, a.smoke) == (0.5, 96, "taylor", False)
    s = rc.parse(["--smoke"])
    assert s.no_update and s.iterations == s.qat_iterations == 2


def test_help_shows_the_shared_groups(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        rc.parse(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--threads" in out and "--no-update" in out and "--data-root" in out


def test_a_step_whose_output_exists_is_reused(tmp_path: Path) -> None:
    calls: list[str] = []
    steps = rc.Steps(tmp_path, 1)

    def make() -> float:
        calls.append("prune")
        (tmp_path / "prune").mkdir()
        (tmp_path / "prune" / "pruned.pth").write_bytes(b"x")
        return 1.5

    steps.run("prune", make)
    again = rc.Steps(tmp_path, 1)  # a second invocation of the script on the same --work
    again.run("prune", make)
    assert calls == ["prune"] and again.cost["prune"]["cpu_s"] == 1.5


def test_centre_crop_is_centred_and_clamped() -> None:
    img = np.arange(10 * 8 * 3, dtype=np.uint8).reshape(10, 8, 3)
    assert rc.centre_crop(img, 4).tolist() == img[3:7, 2:6].tolist()
    assert rc.centre_crop(img, 96).shape == (8, 8, 3)


@pytest.mark.integration
def test_smoke_runs_the_whole_chain_and_leaves_results_alone(tmp_path: Path) -> None:
    results_md = ROOT / "benchmarks" / "RESULTS.md"
    before = results_md.read_text() if results_md.exists() else None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "realesrgan_compress.py"), "--smoke",
                           "--json", str(tmp_path / "out.json")], capture_output=True, text=True, env=env, timeout=580)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads((tmp_path / "out.json").read_text())["data"]
    rows = data["summary"]["embedded"]
    for r in ("pruned", "recovered", "qat_fakequant", "qat_openvino"):
        assert rows[r]["n"] == 2 and 10 < rows[r]["psnr"] and 0 < rows[r]["ssim"] <= 1, r
    # the exported IR computes what its fake-quant model does
    assert abs(rows["qat_openvino"]["psnr"] - rows["qat_fakequant"]["psnr"]) < 3 or rows["qat_openvino"]["psnr"] > 60
    assert data["facts"]["macs_ratio"] <= 0.5
    assert set(data["steps"]) == {"teacher", "prune", "distill", "qat", "fidelity"}
    assert all(v["cpu_s"] is not None for v in data["steps"].values())
    from PIL import Image

    with Image.open(tmp_path / "realesrgan_compress.png") as im:
        assert im.size == (4 * 48 * 4, 2 * 48 * 4)  # 4 columns x 2 images of 48 px LR at x4
    assert (results_md.read_text() if results_md.exists() else None) == before
