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


def test_distill_cli_multiprocess_needs_out(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # under `accelerate launch` each process would otherwise pick its own timestamped folder
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert run_cli(cli, ["distill", "--method", "scratch", "--data", "x"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err


def test_killed_run_resumes_bit_identically(tmp_path: Path) -> None:
    """SIGKILL a real `sr-compress distill` process mid-run, resume it, compare with an
    uninterrupted run of the same seed: no lost or repeated steps."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from sr_compress.data.defaults import default_images_dir

    common = ["distill", "--config", "configs/distill/smoke.yaml", "--method", "scratch", "--scale", "2",
              "--data", str(default_images_dir()), "--iterations", "150", "--checkpoint-every", "5",
              "--batch-size", "2", "--patch-size", "12", "--no-progress"]
    assert run_cli(cli, [*common, "--out", str(tmp_path / "full")]) == 0

    killed = tmp_path / "killed"
    code = "import sys, torch; torch.set_num_threads(1); from sr_compress.cli import main; sys.argv[0] = 'sr-compress'; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, *common, "--out", str(killed)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (killed / "checkpoints" / "iter_00000010.pth").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "student.pth").exists()  # really killed mid-run

    assert run_cli(cli, ["distill", "--out", str(killed), "--resume", "--no-progress"]) == 0
    a = torch.load(tmp_path / "full" / "student.pth", weights_only=True)["params"]
    b = torch.load(killed / "student.pth", weights_only=True)["params"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    import csv

    with open(killed / "log.csv") as fh:
        its = [int(r["iteration"]) for r in csv.DictReader(fh)]
    assert its == sorted(set(its)) and its[-1] == 150  # each logged iteration exactly once
