"""The SR protocol on the real benchmark files: bicubic LR, bicubic baselines, metric agreement, odd files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sr_compress.data.datasets import load_benchmark
from sr_compress.data.imresize import bicubic_degrade_uint8, bicubic_upscale_uint8
from sr_compress.data.io import decode_image, list_images, read_uint8
from sr_compress.evaluate.sr_eval import evaluate_model, y_domain_bicubic_baseline
from sr_compress.metrics.sr import psnr, rgb_to_y, ssim
from tests.helpers import shared_data

pytestmark = pytest.mark.integration

# The "Bicubic" row of the classic tables (VDSR CVPR'16 Table 3, repeated by EDSR, RCAN, IMDN, ...).
PUBLISHED_BICUBIC = {
    ("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
    ("Set14", 2): 30.24, ("Set14", 3): 27.55, ("Set14", 4): 26.00,
}
# Ours under the BasicSR convention (RGB LR files, float Y, gray images as RGB), measured here.
OURS_BICUBIC = {
    ("Set5", 2): 33.678, ("Set5", 3): 30.404, ("Set5", 4): 28.431,
    ("Set14", 2): 30.327, ("Set14", 3): 27.632, ("Set14", 4): 26.090,
}


@pytest.mark.parametrize("bench, scales, limit", [("Set5", (2, 3, 4), None), ("Set14", (2, 3, 4), None),
                                                  ("B100", (2, 3, 4), 8), ("Urban100_subset10", (4,), 3)])
def test_imresize_reproduces_lr_bicubic_files(bench, scales, limit):
    root = shared_data("benchmarks", bench)
    for s in scales:
        diffs = []
        for hr_path in list_images(root / "HR")[:limit]:
            lr_file = read_uint8(root / "LR_bicubic" / f"X{s}" / f"{hr_path.stem}x{s}.png")
            ours = bicubic_degrade_uint8(read_uint8(hr_path), s)
            assert ours.shape == lr_file.shape
            diffs.append(np.abs(ours.astype(np.int16) - lr_file).mean())
        assert np.mean(diffs) < 0.2, f"{bench} x{s}: mean abs diff {np.mean(diffs):.3f}"


@pytest.mark.parametrize("bench", ["Set5", "Set14"])
def test_y_domain_bicubic_matches_published_table(bench):
    root = shared_data("benchmarks", bench)
    for s in (2, 3, 4):
        got = y_domain_bicubic_baseline(root, s)["psnr"]
        assert abs(got - PUBLISHED_BICUBIC[(bench, s)]) <= 0.01, f"{bench} x{s}: {got:.4f}"


@pytest.mark.parametrize("bench, scale", [("Set5", 2), ("Set5", 3), ("Set5", 4), ("Set14", 4)])
def test_bicubic_baseline_under_our_protocol(bench, scale):
    b = load_benchmark(shared_data("benchmarks", bench), scale)
    r = evaluate_model("bicubic", b, scale, progress=False)
    assert r["dataset"] == bench and r["n_images"] == len(b)
    assert r["psnr"] == pytest.approx(OURS_BICUBIC[(bench, scale)], abs=0.002)
    assert r["protocol"]["crop_border"] == scale


def test_metrics_agree_with_scikit_image_on_real_images():
    b = load_benchmark(shared_data("benchmarks", "Set5"), 3)
    for _name, lr, hr in b.items[:3]:
        sr = bicubic_upscale_uint8(lr, 3)
        ys, yh = rgb_to_y(sr)[3:-3, 3:-3], rgb_to_y(hr)[3:-3, 3:-3]
        assert abs(psnr(sr, hr, 3) - peak_signal_noise_ratio(yh, ys, data_range=255)) < 1e-3
        ref = structural_similarity(yh, ys, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=255)
        assert abs(ssim(sr, hr, 3) - ref) < 1e-3


def test_gray_benchmark_image_is_handled():
    b = load_benchmark(shared_data("benchmarks", "Set14"), 2)
    name, lr, hr = next(i for i in b.items if i[0] == "bridge")
    assert lr.shape[2] == 3 and hr.shape[2] == 3
    assert (hr[..., 0] == hr[..., 1]).all()


def test_shared_edge_case_files_decode_predictably():
    root = shared_data("realworld", "RealESRGAN_inputs_edgecases")
    gray = decode_image(root / "00017_gray.png")
    assert gray.rgb.shape[2] == 3 and gray.alpha is None
    assert np.array_equal(gray.rgb[..., 0], gray.rgb[..., 2])
    rgba = decode_image(root / "children-alpha.png")
    assert rgba.alpha is not None and rgba.alpha.shape == rgba.rgb.shape[:2]
    hi = decode_image(root / "tree_alpha_16bit.png")
    assert hi.bit_depth == 16 and hi.alpha is not None
    # 16-bit precision is kept: values that are not multiples of 1/255 exist
    assert np.abs(hi.rgb * 255 - np.round(hi.rgb * 255)).max() > 1e-3
    jpg = decode_image(root / "wolf_gray.jpg")
    assert jpg.rgb.shape[2] == 3


def test_torch_model_path_equals_bicubic_fn():
    """A torch module doing MATLAB bicubic x2 evaluates exactly like the bicubic baseline."""
    from sr_compress.data.imresize import imresize
    from sr_compress.evaluate.sr_eval import torch_upscale_fn
    from sr_compress.models.registry import ModelDescriptor, SizeRequirements

    class Bicubic(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return imresize(x.double(), 2.0).float()

    desc = ModelDescriptor(model=Bicubic(), arch="bicubic-module", scale=2,
                           size_requirements=SizeRequirements(multiple_of=1))
    b = load_benchmark(shared_data("benchmarks", "Set5"), 2)
    b.items = b.items[:2]
    r_model = evaluate_model(torch_upscale_fn(desc), b, 2, progress=False)
    r_bic = evaluate_model("bicubic", b, 2, progress=False)
    assert r_model["psnr"] == pytest.approx(r_bic["psnr"], abs=0.01)
