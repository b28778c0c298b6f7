"""Multi-process distillation on CPU (gloo): 2 processes under `accelerate launch` train the same
student as 1 process at the same global batch, and the report says world size 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_engine import make_images

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _distill_args(tmp_path: Path, out: Path, batch: int) -> list[str]:
    return ["distill", "--method", "scratch", "--student", "edsr:c8b1", "--scale", "2",
            "--data", str(tmp_path / "imgs"), "--val", str(tmp_path / "val"), "--iterations", "20",
            "--batch-size", str(batch), "--patch-size", "8", "--lr", "2e-3", "--scheduler", "constant",
            "--ema", "0", "--checkpoint-every", "10", "--val-every", "1000", "--out", str(out), "--no-progress"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1",
               HOME=str(tmp_path / "home"))  # no user accelerate config may change the launch
    env.pop("WORLD_SIZE", None)
    return env


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_two_cpu_processes_match_one(tmp_path: Path) -> None:
    make_images(tmp_path / "imgs", n=8, size=48)
    make_images(tmp_path / "val", n=2, size=32)
    env = _env(tmp_path)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port()), "-m", "sr_compress.cli"]
    two = subprocess.run([*launch, *_distill_args(tmp_path, tmp_path / "two", 2)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, "-m", "sr_compress.cli", *_distill_args(tmp_path, tmp_path / "one", 4)],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    r2, r1 = _report(tmp_path / "two"), _report(tmp_path / "one")
    assert r2["num_processes"] == 2 and r1["num_processes"] == 1
    # each process takes half of the same global batch (sampling.py) and DDP averages the
    # gradients: the students agree up to float reduction order
    p2 = r2["metrics"]["final"]["student"]["val"]["psnr"]
    p1 = r1["metrics"]["final"]["student"]["val"]["psnr"]
    print(f"PSNR 1 process {p1:.4f} dB, 2 processes {p2:.4f} dB")
    assert abs(p2 - p1) < 0.05, (p1, p2)
    assert sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir()) == [
        "iter_00000010.pth", "iter_00000020.pth"]
