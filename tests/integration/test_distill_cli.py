"""``sr-compress distill`` end to end on the embedded default photos (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from sr_compress.cli import cli, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_distill_cli_dukd_end_to_end_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sr_compress.data.defaults import default_benchmark_dir, default_images_dir
    from sr_compress.models.load import load_model, save_model
    from sr_compress.models.students import build_student

    teacher = tmp_path / "teacher.pth"
    torch.manual_seed(0)
    save_model(build_student("edsr:c16b2", 2), teacher)
    out = tmp_path / "run"
    args = [
        "distill", "--method", "dukd", "--teacher", str(teacher), "--student", "edsr:c8b1", "--scale", "2",
        "--data", str(default_images_dir()), "--val", str(default_benchmark_dir(2)),
        "--config", "configs/distill/smoke.yaml", "--out", str(out), "--iterations", "8",
        "--batch-size", "2", "--patch-size", "16", "--checkpoint-every", "4", "--val-every", "8",
        "--set", "dukd.q=0.5", "--set", "train.ema_decay=0.9", "--no-progress",
    ]
    assert run_cli(cli, args) == 0
    printed = capsys.readouterr().out
    assert "student:" in printed and "skimage_val" in printed
    rep = json.loads((out / "report.json").read_text())
    assert rep["config"]["dukd"]["q"] == 0.5 and rep["config"]["train"]["iterations"] == 8
    final = rep["metrics"]["final"]
    assert final["bicubic"]["skimage_val"]["psnr"] > 20
    desc = load_model(out / "student.pth", 2)
    assert desc.arch == "edsr"

    # continue the finished run for 4 more iterations from its own stored config
    assert run_cli(cli, ["distill", "--out", str(out), "--resume", "--iterations", "12", "--no-progress"]) == 0
    assert json.loads((out / "report.json").read_text())["config"]["train"]["iterations"] == 12


def test_distill_cli_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli, ["distill", "--method", "kd", "--data", str(tmp_path)]) == 2
    assert "needs a teacher" in capsys.readouterr().err
    assert run_cli(cli, ["distill", "--method", "scratch", "--data", "x", "--set", "train.lrr=1"]) == 2
    assert "unknown key 'train.lrr'" in capsys.readouterr().err
    assert run_cli(cli, ["distill", "--method", "scratch", "--data", "x", "--set", "oops"]) == 2
    assert "--set" in capsys.readouterr().err
