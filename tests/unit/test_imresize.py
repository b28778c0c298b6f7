"""MATLAB-bicubic imresize: properties and agreement with a direct per-pixel implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sr_compress.data.imresize import bicubic_degrade_uint8, bicubic_upscale_uint8, imresize, modcrop


def _matlab_resize_1d_reference(x: np.ndarray, scale: float) -> np.ndarray:
    """Per-pixel loop transcription of MATLAB's imresize.m contributions (one axis, antialiased).

    Independent of the library's vectorised matrix: explicit loops, explicit symmetric padding.
    """
    n = len(x)
    out_len = math.ceil(n * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    out = np.zeros(out_len)
    for i in range(out_len):
        u = (i + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinate
        left = math.floor(u - width / 2)
        num = 0.0
        den = 0.0
        for j in range(left, left + int(math.ceil(width)) + 2):
            d = u - j
            if scale < 1:
                d *= scale
            a = abs(d)
            k = (1.5 * a**3 - 2.5 * a**2 + 1) if a <= 1 else (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) if a <= 2 else 0
            if scale < 1:
                k *= scale
            idx = j - 1  # 0-based, then mirror: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
            while idx < 0 or idx >= n:
                idx = -idx - 1 if idx < 0 else 2 * n - idx - 1
            num += k * x[idx]
            den += k
        out[i] = num / den
    return out


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.25, 2.0, 3.0, 0.7])
def test_matches_loop_reference(scale):
    rng = np.random.default_rng(0)
    img = rng.random((13, 11)) * 255
    ref = np.stack([_matlab_resize_1d_reference(col, scale) for col in img.T], axis=1)
    ref = np.stack([_matlab_resize_1d_reference(row, scale) for row in ref], axis=0)
    out = imresize(torch.from_numpy(img), scale).numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_identity_at_scale_one():
    x = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    torch.testing.assert_close(imresize(x, 1.0), x)


@pytest.mark.parametrize("h, w, s", [(7, 5, 0.5), (10, 10, 1 / 3), (5, 3, 2.0), (9, 8, 0.25), (4, 6, 1.5)])
def test_output_shape_is_ceil(h, w, s):
    out = imresize(torch.rand(3, h, w), s)
    assert out.shape == (3, math.ceil(h * s), math.ceil(w * s))


def test_size_argument():
    out = imresize(torch.rand(1, 3, 10, 12), size=(5, 4))
    assert out.shape == (1, 3, 5, 4)


def test_constant_image_stays_constant():
    x = torch.full((3, 12, 10), 0.37, dtype=torch.float64)
    for s in (0.5, 0.25, 2.0, 3.0):
        torch.testing.assert_close(imresize(x, s), torch.full_like(imresize(x, s), 0.37))


def test_batch_equals_per_image():
    x = torch.rand(4, 3, 16, 12)
    batched = imresize(x, 0.5)
    for i in range(4):
        torch.testing.assert_close(batched[i], imresize(x[i], 0.5))


def test_gradients_flow():
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    y = imresize(x, 0.5)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # a linear map: the gradient of the sum is the column sums of the weights, all positive here
    assert (x.grad > 0).all()


def test_dtype_and_errors():
    assert imresize(torch.rand(3, 8, 8), 0.5).dtype == torch.float32
    assert imresize(torch.rand(3, 8, 8, dtype=torch.float64), 0.5).dtype == torch.float64
    with pytest.raises(TypeError):
        imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), 0.5)
    with pytest.raises(ValueError):
        imresize(torch.rand(3, 8, 8))


def test_downscale_is_antialiased():
    # a Nyquist-frequency stripe pattern averages out instead of aliasing into stripes
    x = torch.zeros(1, 16, 16, dtype=torch.float64)
    x[:, :, ::2] = 1.0
    y = imresize(x, 0.5)
    assert float(y[:, 3:-3, 3:-3].std()) < 0.05
    # without antialiasing the stripes alias to a constant at one phase (cubic(0)=1 interpolation)
    assert float(imresize(x, 0.5, antialiasing=False)[:, 3:-3, 3:-3].std()) < 1e-9


def test_modcrop_and_uint8_helpers():
    hr = np.random.default_rng(0).integers(0, 256, (13, 10, 3), dtype=np.uint8)
    assert modcrop(hr, 4, channels_last=True).shape == (12, 8, 3)
    assert modcrop(torch.zeros(1, 3, 13, 10), 3).shape == (1, 3, 12, 9)
    lr = bicubic_degrade_uint8(hr, 2)
    assert lr.dtype == np.uint8 and lr.shape == (6, 5, 3)
    up = bicubic_upscale_uint8(lr, 2)
    assert up.dtype == np.uint8 and up.shape == (12, 10, 3)
    # gray image replicated in RGB stays gray through both
    g = np.repeat(hr[..., :1], 3, axis=2)
    lg = bicubic_degrade_uint8(g, 3)
    assert (lg[..., 0] == lg[..., 1]).all() and (lg[..., 1] == lg[..., 2]).all()
