"""PSNR/SSIM: exact values, protocol options, and agreement with scikit-image, BasicSR's formulas, pyiqa."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sr_compress.metrics.sr import PROTOCOL, Protocol, evaluate_pair, psnr, rgb_to_y, ssim


def _pair(h: int = 40, w: int = 36, noise: float = 12.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 90 * np.sin(xx / 5.0 + c) * np.cos(yy / 7.0) for c in range(3)], axis=2)
    hr = np.clip(np.round(base), 0, 255).astype(np.uint8)
    sr = np.clip(np.round(base + rng.normal(0, noise, base.shape)), 0, 255).astype(np.uint8)
    return sr, hr


def test_rgb_to_y_range():
    assert rgb_to_y(np.array([[[0, 0, 0]]], np.uint8))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.array([[[255, 255, 255]]], np.uint8))[0, 0] == pytest.approx(235.0)


def test_psnr_exact_value():
    hr = np.full((10, 10, 3), 100, np.uint8)
    sr = hr + 1  # every channel off by one -> Y off by 219/255
    assert psnr(sr, hr) == pytest.approx(20 * math.log10(255 / (219 / 255)), abs=1e-9)
    assert psnr(sr, hr, y_channel=False) == pytest.approx(20 * math.log10(255.0), abs=1e-9)
    assert psnr(hr, hr) == float("inf")


def test_crop_border_ignores_the_frame():
    sr, hr = _pair()
    sr2 = sr.copy()
    sr2[:3] = 0
    sr2[:, -3:] = 255
    assert psnr(sr2, hr, crop_border=3) == pytest.approx(psnr(sr, hr, crop_border=3))
    assert psnr(sr2, hr, crop_border=0) < psnr(sr, hr, crop_border=0)
    assert ssim(sr2, hr, crop_border=3) == pytest.approx(ssim(sr, hr, crop_border=3))


def test_ssim_identity_and_bounds():
    sr, hr = _pair()
    assert ssim(hr, hr) == pytest.approx(1.0)
    assert 0 < ssim(sr, hr) < 1
    assert 0 < ssim(sr, hr, y_channel=False) < 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_scikit_image(seed):
    sr, hr = _pair(seed=seed, noise=5 + 10 * seed)
    c = 4
    ys, yh = rgb_to_y(sr)[c:-c, c:-c], rgb_to_y(hr)[c:-c, c:-c]
    ref_psnr = peak_signal_noise_ratio(yh, ys, data_range=255)
    ref_ssim = structural_similarity(yh, ys, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255)
    assert abs(psnr(sr, hr, crop_border=c) - ref_psnr) < 1e-3
    assert abs(ssim(sr, hr, crop_border=c) - ref_ssim) < 1e-3


def _basicsr_style(sr: np.ndarray, hr: np.ndarray, crop: int) -> tuple[float, float]:
    """BasicSR's calculate_psnr/ssim(test_y_channel=True) formulas, written out with OpenCV."""
    def y(img: np.ndarray) -> np.ndarray:  # bgr2ycbcr(img / 255., y_only=True) * 255
        bgr = img[..., ::-1].astype(np.float32) / 255.0
        return (np.dot(bgr, [24.966, 128.553, 65.481]) + 16.0).astype(np.float64)

    a, b = y(sr)[crop:-crop, crop:-crop], y(hr)[crop:-crop, crop:-crop]
    p = 10.0 * np.log10(255.0**2 / np.mean((a - b) ** 2))
    k = cv2.getGaussianKernel(11, 1.5)
    win = np.outer(k, k.T)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu1, mu2 = cv2.filter2D(a, -1, win)[5:-5, 5:-5], cv2.filter2D(b, -1, win)[5:-5, 5:-5]
    s1 = cv2.filter2D(a * a, -1, win)[5:-5, 5:-5] - mu1**2
    s2 = cv2.filter2D(b * b, -1, win)[5:-5, 5:-5] - mu2**2
    s12 = cv2.filter2D(a * b, -1, win)[5:-5, 5:-5] - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return float(p), float(m.mean())


def test_agrees_with_basicsr_formulas():
    sr, hr = _pair(48, 52, seed=5)
    p, s = _basicsr_style(sr, hr, 3)
    # BasicSR converts in float32, hence the small tolerance
    assert psnr(sr, hr, crop_border=3) == pytest.approx(p, abs=1e-4)
    assert ssim(sr, hr, crop_border=3) == pytest.approx(s, abs=1e-5)


def test_agrees_with_pyiqa_if_installed():
    """pyiqa's defaults are NOT the SR protocol: 'psnry' takes Y from YIQ (full range, ~1.3 dB off) and
    'ssim' rounds Y. With ``color_space='ycbcr'`` its PSNR equals ours and its SSIM equals ours with
    ``y_round=True`` (checked against pyiqa 0.1.16's code; see docs/evaluation.md)."""
    pyiqa = pytest.importorskip("pyiqa", reason="pyiqa (optional extra [iqa]) not installed")
    import torch

    sr, hr = _pair(48, 48, seed=3)
    t = lambda a: torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    p = pyiqa.create_metric("psnr", test_y_channel=True, color_space="ycbcr", crop_border=4,
                            device="cpu")(t(sr), t(hr)).item()
    s = pyiqa.create_metric("ssim", color_space="ycbcr", crop_border=4, device="cpu")(t(sr), t(hr)).item()
    assert psnr(sr, hr, crop_border=4) == pytest.approx(p, abs=1e-3)
    assert ssim(sr, hr, crop_border=4, y_round=True) == pytest.approx(s, abs=1e-3)


def test_y_round_option():
    sr, hr = _pair(seed=4)
    plain = evaluate_pair(sr, hr, 2)
    rounded = evaluate_pair(sr, hr, 2, Protocol(y_round=True))
    ys, yh = np.round(rgb_to_y(sr))[2:-2, 2:-2], np.round(rgb_to_y(hr))[2:-2, 2:-2]
    assert rounded["psnr"] == pytest.approx(peak_signal_noise_ratio(yh, ys, data_range=255), abs=1e-9)
    assert rounded["psnr"] != plain["psnr"]


def test_evaluate_pair_uses_scale_as_crop():
    sr, hr = _pair()
    r = evaluate_pair(sr, hr, 3)
    assert r["psnr"] == pytest.approx(psnr(sr, hr, crop_border=3))
    assert r["ssim"] == pytest.approx(ssim(sr, hr, crop_border=3))
    r0 = evaluate_pair(sr, hr, 3, Protocol(crop_border=0))
    assert r0["psnr"] == pytest.approx(psnr(sr, hr, crop_border=0))
    rgb = evaluate_pair(sr, hr, 3, Protocol(y_channel=False))
    assert rgb["psnr"] == pytest.approx(psnr(sr, hr, 3, y_channel=False))


def test_protocol_record():
    d = PROTOCOL.as_dict(4)
    assert d["crop_border"] == 4 and d["y_channel"] and d["round_uint8"] and d["ssim_window"] == 11
    assert "crop_border=4" in d["description"] and "BT.601" in d["description"]
    assert "RGB" in Protocol(y_channel=False).describe()
    assert "rounded" in Protocol(y_round=True).describe(2)


def test_gray_2d_input_and_errors():
    sr, hr = _pair()
    g_sr, g_hr = sr[..., 0], hr[..., 0]
    assert psnr(g_sr, g_hr) == pytest.approx(psnr(np.repeat(g_sr[..., None], 3, 2), np.repeat(g_hr[..., None], 3, 2)))
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(sr, hr[:-1])
    with pytest.raises(TypeError, match="uint8"):
        psnr(sr.astype(np.float32), hr)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(sr[:12, :12], hr[:12, :12], crop_border=2)


def test_evaluate_model_on_a_synthetic_set(tmp_path):
    import torch
    from PIL import Image

    from sr_compress.data.datasets import load_benchmark
    from sr_compress.errors import UserInputError
    from sr_compress.evaluate.sr_eval import bicubic_upscale_fn, evaluate_model, torch_upscale_fn
    from sr_compress.models.registry import ModelDescriptor, SizeRequirements

    folder = tmp_path / "Tiny"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_pair(30 + 3 * i, 34, seed=i)[1]).save(folder / f"p{i}.png")
    bench = load_benchmark(folder, 2)
    r = evaluate_model("bicubic", bench, 2, progress=False)
    assert r["dataset"] == "Tiny" and r["n_images"] == 2 and r["lr_source"] == "matlab-bicubic"
    expected = [evaluate_pair(bicubic_upscale_fn(2)(lr), hr, 2) for _, lr, hr in bench.items]
    assert r["psnr"] == pytest.approx(np.mean([e["psnr"] for e in expected]))
    assert r["ssim"] == pytest.approx(np.mean([e["ssim"] for e in expected]))
    assert [i["name"] for i in r["images"]] == ["p0", "p1"] and r["protocol"]["crop_border"] == 2

    # a torch model needing inputs that are multiples of 8: padded, run, cropped back
    class Nearest(torch.nn.Module):
        def forward(self, x):
            assert x.shape[-1] % 8 == 0 and x.shape[-2] % 8 == 0
            return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")

    desc = ModelDescriptor(Nearest(), "nearest", 2, size_requirements=SizeRequirements(multiple_of=8))
    rt = evaluate_model(torch_upscale_fn(desc), bench, 2, progress=False)
    near = [np.repeat(np.repeat(lr, 2, 0), 2, 1) for _, lr, _ in bench.items]
    assert rt["psnr"] == pytest.approx(np.mean([evaluate_pair(n, hr, 2)["psnr"]
                                                for n, (_, _, hr) in zip(near, bench.items)]))
    assert evaluate_model(desc, bench, 2, progress=False)["psnr"] == pytest.approx(rt["psnr"])

    with pytest.raises(UserInputError, match="does not match"):
        evaluate_model(lambda lr: np.zeros((5, 5, 3), np.uint8), bench, 2, progress=False)
    with pytest.raises(TypeError, match="uint8"):
        evaluate_model(lambda lr: np.zeros((lr.shape[0] * 2, lr.shape[1] * 2, 3)), bench, 2, progress=False)
    with pytest.raises(UserInputError, match="loaded for x2"):
        evaluate_model("bicubic", bench, 3, progress=False)
    with pytest.raises(UserInputError, match="is x2"):
        evaluate_model(desc, load_benchmark(folder, 4), 4, progress=False)
