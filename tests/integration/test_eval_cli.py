"""``sr-compress eval`` end to end on the real benchmark folders."""

from __future__ import annotations

import json
import shutil

import pytest

from sr_compress.cli import cli, run_cli
from tests.helpers import shared_data

pytestmark = pytest.mark.integration


def test_bicubic_table_json_and_verbose(tmp_path, capsys):
    set5 = shared_data("benchmarks", "Set5")
    out = tmp_path / "r.json"
    code = run_cli(cli, ["eval", "--model", "bicubic", "--data", str(set5), "--scale", "4", "-v",
                         "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("Set5"))
    assert row.split()[1:4] == ["x4", "5", "28.4305"]
    assert "butterfly" in text and "crop_border=4" in text
    data = json.loads(out.read_text())
    r = data["results"][0]
    assert r["dataset"] == "Set5" and len(r["images"]) == 5
    assert r["psnr"] == pytest.approx(28.4305, abs=1e-4)
    assert data["protocol"]["crop_border"] == 4 and data["protocol"]["y_channel"] is True


def test_hr_only_folder_and_rgb(tmp_path, capsys):
    src = shared_data("benchmarks", "Set5", "HR")
    folder = tmp_path / "MyPhotos"
    folder.mkdir()
    for name in ("baby.png", "bird.png"):
        shutil.copy(src / name, folder / name)
    assert run_cli(cli, ["eval", "--model", "bicubic", "--data", str(folder), "--scale", "2", "--rgb"]) == 0
    text = capsys.readouterr().out
    assert any(line.startswith("MyPhotos") for line in text.splitlines())
    assert "PSNR/SSIM on RGB" in text


def test_user_errors_are_one_line(tmp_path, capsys):
    urban = shared_data("benchmarks", "Urban100_subset10")
    assert run_cli(cli, ["eval", "--model", "bicubic", "--data", str(urban), "--scale", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no X3 folder" in err and "X2, X4" in err
    assert len(err.strip().splitlines()) == 1
    assert run_cli(cli, ["eval", "--model", "bicubic", "--data", str(urban)]) == 2
    assert "needs --scale" in capsys.readouterr().err
    assert run_cli(cli, ["eval", "--model", str(tmp_path / "none.pth"), "--data", str(urban)]) == 2
    assert "not found" in capsys.readouterr().err


def test_saved_student_checkpoint(tmp_path, capsys):
    pytest.importorskip("sr_compress.models.load", reason="models.load not available")
    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    set5 = shared_data("benchmarks", "Set5")
    ckpt = save_model(build_student("edsr:c8b1", 2), tmp_path / "student.pth")
    assert run_cli(cli, ["eval", "--model", str(ckpt), "--data", str(set5), "--json", str(tmp_path / "s.json")]) == 0
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["scale"] == 2 and data["model"]["arch"] == "edsr"
    assert 0 < data["results"][0]["psnr"] < 60
    assert run_cli(cli, ["eval", "--model", str(ckpt), "--data", str(set5), "--scale", "4"]) == 2
