"""The default gate has a quality floor relative to bicubic and runs without ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from sr_compress.cli import cli, run_cli
from sr_compress.errors import ConfigError


@pytest.fixture(scope="module")
def untrained_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX export of an untrained x4 student: far below bicubic, like the tour's 20-step run."""
    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    base = tmp_path_factory.mktemp("gate")
    torch.manual_seed(0)
    save_model(build_student("edsr:c8b1", 4), base / "s.pth")
    out = base / "export"
    assert run_cli(cli, ["export", str(base / "s.pth"), "--out", str(out)]) == 0
    return out


def test_default_gate_fails_a_student_below_bicubic(untrained_export: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # the spec by name, no --data: the default spec runs on the embedded benchmark images
    rc = run_cli(cli, ["gate", str(untrained_export), "--spec", "default"])
    out = capsys.readouterr().out
    assert rc == 1, out
    line = next(ln for ln in out.splitlines() if "vs bicubic" in ln)
    assert "FAIL" in line and "skimage_val" in line


def test_gate_data_missing_says_how_to_pass_data(untrained_export: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "g.yaml"
    spec.write_text(yaml.safe_dump({"data": [str(tmp_path / "nowhere" / "Set5")], "require": ["onnx-fp32"]}))
    rc = run_cli(cli, ["gate", str(untrained_export), "--spec", str(spec)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--data" in err[0] and "nowhere" in err[0], err


def test_gate_threshold_is_validated() -> None:
    from sr_compress.evaluate.gate import parse_spec

    with pytest.raises(ConfigError, match="min_gain_over_bicubic_db"):
        parse_spec({"defaults": {"min_gain_over_bicubic_db": "lots"}})
