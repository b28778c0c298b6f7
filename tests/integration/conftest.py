"""Fixtures shared by the integration tests.

``student_ckpt`` / ``export_dir``: one small exported student (session scope) used by the export,
validate and gate tests, so the export runs once per test session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sr_compress.cli import cli, run_cli
from sr_compress.models.load import save_model
from sr_compress.models.students import build_student


@pytest.fixture(scope="session", name="student_ckpt")
def student_ckpt_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init (fixed seed) EDSR student, x4, saved in our checkpoint format."""
    torch.manual_seed(0)
    desc = build_student("edsr:c8b1", 4)  # tiny: the tests are about the pipeline, not the model
    return save_model(desc, tmp_path_factory.mktemp("ckpt") / "student.pth")


@pytest.fixture(scope="session", name="export_dir")
def export_dir_fixture(student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sr-compress export`` of :func:`student_ckpt` to ONNX FP32/INT8 and OpenVINO FP32/FP16/INT8."""
    out = tmp_path_factory.mktemp("exp") / "export"
    code = run_cli(cli, ["export", str(student_ckpt), "--openvino", "--precision", "fp32,fp16,int8", "--onnx-int8",
                         "--calib-count", "8", "--out", str(out)])
    assert code == 0
    return out
