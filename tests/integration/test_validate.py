"""validate on real benchmark images, and tiled == untiled (0.01 dB) on Set14 for every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sr_compress.cli import cli, run_cli
from sr_compress.data.datasets import load_benchmark
from sr_compress.data.io import to_uint8
from sr_compress.export.manifest import read_manifest
from sr_compress.metrics.sr import psnr
from sr_compress.runtime.runners import make_runner
from sr_compress.runtime.tiling import upscale
from tests.helpers import shared_data

pytestmark = pytest.mark.integration


def test_validate_writes_reports(export_dir: Path) -> None:
    set5 = shared_data("benchmarks", "Set5")
    assert run_cli(cli, ["validate", str(export_dir), "--data", str(set5)]) == 0
    res = json.loads((export_dir / "validation.json").read_text())
    assert len(res["artifacts"]) == 5
    for a in res["artifacts"]:
        d = a["datasets"]["Set5"]
        assert len(d["images"]) == 5 and d["nonfinite"] == 0
        if a["precision"] == "fp32":
            assert abs(d["drop_db"]) <= 0.001  # FP32 artifacts match PyTorch
            assert d["max_abs"] < 1e-4
        elif a["precision"] == "fp16":
            assert abs(d["drop_db"]) <= 0.02
    md = (export_dir / "validation.md").read_text()
    assert "| onnx-fp32 | Set5 |" in md and "baby" in md
    png = export_dir / res["worst_image"]["png"]
    from PIL import Image

    assert Image.open(png).size[0] > 300


def test_wrong_scale_data_is_clear(export_dir: Path, tmp_path: Path) -> None:
    set5 = shared_data("benchmarks", "Set5")
    lr_only = tmp_path / "Set5x2"
    (lr_only / "LR_bicubic").mkdir(parents=True)
    (lr_only / "HR").symlink_to(set5 / "HR")
    (lr_only / "LR_bicubic" / "X2").symlink_to(set5 / "LR_bicubic" / "X2")
    assert run_cli(cli, ["validate", str(export_dir), "--data", str(lr_only)]) == 2


def _tiling_cases(bench: Any) -> list[tuple[str, np.ndarray]]:
    """One Set14 image per kind of last tile (height and width each leaving a short or a long
    remainder against the 40 px tile step), plus the gray one: what tiling can get wrong depends on
    the shapes of the images, not on how many there are."""
    seen: dict[tuple[int, int], tuple[str, np.ndarray]] = {}
    for name, lr_u8, _hr in bench.items:
        key = (lr_u8.shape[0] % 40 > 20, lr_u8.shape[1] % 40 > 20)
        if name == "bridge" or key not in seen:
            seen[(-1, -1) if name == "bridge" else key] = (name, lr_u8)
    return list(seen.values())


def test_tiled_matches_untiled_on_set14_every_backend(export_dir: Path) -> None:
    bench = load_benchmark(shared_data("benchmarks", "Set14"), 4)
    hr_of = {name: hr for name, _lr, hr in bench.items}
    m = read_manifest(export_dir)
    from sr_compress.evaluate.validate import load_reference

    fp32 = [a for a in m.artifacts if a.precision == "fp32"]  # one per backend
    runners = [make_runner(load_reference(m))] + [make_runner(a, manifest=m, threads=2) for a in fp32]
    cases = _tiling_cases(bench)
    assert len(cases) >= 3
    for runner in runners:
        for name, lr_u8 in cases:
            lr = lr_u8.astype(np.float32).transpose(2, 0, 1) / 255.0
            full = psnr(to_uint8(upscale(runner, lr)), hr_of[name], 4)
            tiled = psnr(to_uint8(upscale(runner, lr, tile=48, overlap=8, batch=4)), hr_of[name], 4)
            # per image, which is stricter than the mean over the set
            assert abs(full - tiled) < 0.01, f"{runner.info.backend} {name}: tiled vs untiled {full - tiled:+.4f} dB"


def test_validate_compare_links_the_worst_image_into_the_page(export_dir: Path) -> None:
    set5 = shared_data("benchmarks", "Set5")
    assert run_cli(cli, ["validate", str(export_dir), "--data", str(set5), "--artifact", "onnx-fp32",
                         "--compare"]) == 0
    res = json.loads((export_dir / "validation.json").read_text())
    link = res["worst_image"]["compare"]
    page_name, anchor = link.split("#")
    page = (export_dir / page_name).read_text()
    assert f"id='{anchor}'" in page  # the link lands on the worst image's section
    for label in ("pytorch", "onnx-fp32", "bicubic", "HR"):
        assert label in page
    assert link in (export_dir / "validation.md").read_text()
