"""CLI friction: unknown verbs suggest the closest one; validate's table has SSIM; zoo's cache column."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sr_compress.cli import cli, run_cli
from sr_compress.models import zoo
from sr_compress.models.load import save_model
from sr_compress.models.students import build_student


@pytest.mark.parametrize(("typed", "meant"), [("evaluate", "eval"), ("valdate", "validate"),
                                              ("distil", "distill"), ("export-onnx", "export")])
def test_unknown_verb_suggests_closest(typed: str, meant: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli, [typed]) == 2
    err = capsys.readouterr().err
    assert f"did you mean '{meant}'" in err and typed in err, err


def test_unknown_verb_without_match_lists_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli, ["zzzz"]) == 2
    assert "distill" in capsys.readouterr().err


def test_validate_console_table_has_ssim() -> None:
    from sr_compress.evaluate.validate import render_console

    res = {
        "reference": {"Set5": {"psnr": 30.1234, "ssim": 0.8765}},
        "artifacts": [{"name": "onnx-fp32", "datasets": {"Set5": {
            "psnr": 30.1233, "ssim": 0.8764, "drop_db": 0.0001, "psnr_vs_ref": float("inf"), "max_abs": 1e-6,
            "nonfinite": 0}}}],
        "skipped": [],
    }
    lines = render_console(res).splitlines()
    assert "SSIM" in lines[0]
    assert "0.8765" in lines[2] and "0.8764" in lines[3]


@pytest.fixture()
def local_file_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    src = tmp_path / "given" / "tiny_x2.pth"
    src.parent.mkdir()
    save_model(build_student("srvgg:c4b1", 2), src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setitem(zoo.ZOO, "tiny-x2", zoo.ZooEntry("tiny-x2", src.as_uri(), "srvgg", 2, digest, "t"))
    monkeypatch.setenv("SR_COMPRESS_CACHE", str(tmp_path / "cache"))
    return "tiny-x2"


def _row(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert run_cli(cli, argv) == 0
    return next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "tiny-x2")


def test_zoo_list_says_local_files_are_available(local_file_entry: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    row = _row(capsys, ["zoo", "list", "--json"])
    assert row["cached"] == "local"  # a file:// entry needs no download
    assert run_cli(cli, ["zoo", "list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("tiny-x2"))
    assert " local " in line
    # fetched into another cache folder: list with the same --cache-dir sees it
    other = tmp_path / "elsewhere"
    assert run_cli(cli, ["zoo", "fetch", local_file_entry, "--cache-dir", str(other)]) == 0
    capsys.readouterr()
    assert _row(capsys, ["zoo", "list", "--json", "--cache-dir", str(other)])["cached"] == "yes"
