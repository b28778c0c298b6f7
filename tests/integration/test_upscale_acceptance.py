"""upscale on the real edge cases (gray, alpha, 16-bit) + Set14 LR with an export; eval on exports and NIQE."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_compress.cli import cli, run_cli
from tests.helpers import shared_data

pytestmark = pytest.mark.integration


def _bits(path: Path) -> int:
    import cv2

    return 16 if cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16 else 8


def test_edge_cases_and_set14_with_an_export(export_dir: Path, tmp_path: Path, capsys) -> None:
    edge = shared_data("realworld", "RealESRGAN_inputs_edgecases")
    set14 = shared_data("benchmarks", "Set14", "LR_bicubic", "X4")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "truncated.png").write_bytes((set14 / "baboonx4.png").read_bytes()[:3000])
    out = tmp_path / "out"
    args = ["upscale", str(edge), str(set14), str(extra), "-o", str(out), "--model", str(export_dir), "--quiet"]
    assert run_cli(cli, args) == 1
    text = capsys.readouterr().out
    assert "truncated.png" in text and "failed 1" in text
    sources = [*edge.iterdir(), *set14.iterdir()]
    for src in sources:
        dst = out / src.parent.name / f"{src.stem}.png"
        got, ref = Image.open(dst), Image.open(src)
        assert got.size == (ref.width * 4, ref.height * 4), src.name
        if ref.mode in ("L", "LA"):
            assert got.mode == ref.mode, src.name  # gray stays gray
        if ref.mode == "RGBA" or "alpha" in src.name:
            assert got.mode in ("RGBA", "LA") or _bits(dst) == 16, src.name  # alpha kept
        if "16bit" in src.name:
            assert _bits(dst) == 16, src.name  # 16-bit stays 16-bit
    assert not (out / "extra").exists() or not list((out / "extra").iterdir())
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert len(stamps) == len(sources)
    assert run_cli(cli, [*args, "--skip-existing"]) == 1
    assert f"upscaled 0, skipped {len(sources)}" in capsys.readouterr().out
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}


def test_eval_accepts_an_export_directory(export_dir: Path, tmp_path: Path) -> None:
    set5 = shared_data("benchmarks", "Set5")
    js = tmp_path / "e.json"
    assert run_cli(cli, ["eval", "--model", str(export_dir), "--data", str(set5), "--json", str(js)]) == 0
    assert json.loads(js.read_text())["model"]["backend"] == "openvino"
    assert run_cli(cli, ["eval", "--model", str(export_dir), "--backend", "torch", "--data", str(set5)]) == 0


def test_niqe_matches_basicsr_reference_and_eval_matches_direct(tmp_path: Path, capsys) -> None:
    from sr_compress.data.io import read_uint8
    from sr_compress.metrics.niqe import calculate_niqe

    params = shared_data("metrics", "niqe", "niqe_pris_params.npz")
    # BasicSR basicsr/metrics/niqe.py: "MATLAB R2021a result for tests/data/baboon.png: 5.72957338";
    # their baboon.png is Set14's baboon (500x480)
    baboon = read_uint8(shared_data("benchmarks", "Set14", "HR", "baboon.png"))
    assert calculate_niqe(baboon, 0, params) == pytest.approx(5.72957338, abs=1e-3)
    real = shared_data("realworld", "RealSRSet+5images")
    folder = tmp_path / "RealSRSet"
    folder.mkdir()
    for name in ("0014.jpg", "0030.jpg"):  # the two smallest: NIQE of a 4x output takes seconds each
        shutil.copy(real / name, folder / name)
    js = tmp_path / "n.json"
    assert run_cli(cli, ["eval", "--model", "bicubic", "--scale", "4", "--data", str(folder), "--metrics", "niqe",
                         "--niqe-params", str(params), "--json", str(js)]) == 0
    from sr_compress.data.imresize import bicubic_upscale_uint8

    for row in json.loads(js.read_text())["results"][0]["images"]:
        sr = bicubic_upscale_uint8(read_uint8(folder / f"{row['name']}.jpg"), 4)
        assert row["niqe"] == pytest.approx(calculate_niqe(sr, 4, params), abs=1e-12)
