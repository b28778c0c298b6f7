"""Degradation pipelines: shapes, ranges, determinism, kernels, datasets (no shared data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sr_compress.data.degradations import (
    DegradedPairDataset,
    FixedDegradation,
    PDDDataset,
    RandomResizeDegradation,
    RealESRGANDegradation,
    anisotropic_gaussian_kernel,
    jpeg,
    make_pipeline,
    random_kernel,
    sinc_kernel,
)
from sr_compress.errors import UserInputError

torch.set_num_threads(2)


def _hr(seed: int = 0, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, size // 8, size // 8, generator=g)
    return torch.nn.functional.interpolate(base[None], size=(size, size), mode="bilinear")[0]


@pytest.mark.parametrize("pipe", [RealESRGANDegradation(4), FixedDegradation(4), RandomResizeDegradation(4)])
def test_pipeline_shape_range_quantised_deterministic(pipe) -> None:
    hr = _hr()
    for seed in range(6):
        lr = pipe(hr, np.random.default_rng(seed))
        assert lr.shape == (3, 16, 16)
        assert float(lr.min()) >= 0.0 and float(lr.max()) <= 1.0
        assert torch.allclose(lr * 255, torch.round(lr * 255), atol=1e-4)
        again = pipe(hr, np.random.default_rng(seed))
        assert torch.equal(lr, again)


def test_realesrgan_draws_differ_and_degrade() -> None:
    hr = _hr(size=96)
    outs = [RealESRGANDegradation(4)(hr, np.random.default_rng(s)) for s in range(4)]
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_kernels_normalised_and_shaped() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        k = random_kernel(rng, 21, (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), (0.2, 3.0), (0.5, 4.0), (1.0, 2.0))
        assert k.shape == (21, 21) and abs(k.sum() - 1) < 1e-6 and np.isfinite(k).all()
    s = sinc_kernel(13, np.pi / 3)
    assert abs(s.sum() - 1) < 1e-6 and s.argmax() == 13 * 6 + 6
    a = anisotropic_gaussian_kernel(21, 3.0, 0.5, 0.0)
    # elongated along x: wider spread over columns than over rows
    assert a.sum(0).std() < a.sum(1).std()


def test_jpeg_integer_quality_and_effect() -> None:
    img = _hr()
    out = jpeg(img, 10)
    assert out.shape == img.shape and out.dtype == img.dtype
    assert float((out - img).abs().mean()) > 0
    assert float((jpeg(img, 95) - img).abs().mean()) < float((out - img).abs().mean())


def test_unknown_pipeline_is_user_error() -> None:
    with pytest.raises(UserInputError, match="unknown degradation"):
        make_pipeline("nope", 4)


def test_datasets(tmp_path) -> None:
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    hr_dir.mkdir()
    lr_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (80, 72, 3), dtype=np.uint8)).save(hr_dir / f"{i}.png")
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(lr_dir / f"{i}.png")
    ds = DegradedPairDataset([hr_dir], 4, 12, make_pipeline("realesrgan", 4), length=10)
    item = ds[3]
    assert item["lr"].shape == (3, 12, 12) and item["hr"].shape == (3, 48, 48)
    assert torch.equal(item["lr"], ds[3]["lr"])
    pdd = PDDDataset([hr_dir], [lr_dir], 4, 12, make_pipeline("resize", 4), length=10)
    it = pdd[1]
    assert it["real_lr"].shape == (3, 12, 12) and set(it) == {"lr", "hr", "real_lr"}
    with pytest.raises(UserInputError, match="real-lr"):
        PDDDataset([hr_dir], [], 4, 12, make_pipeline("resize", 4))
    with pytest.raises(UserInputError, match="does not exist"):
        DegradedPairDataset([tmp_path / "missing"], 4, 12, make_pipeline("bicubic", 4))


def test_kernel_families() -> None:
    from sr_compress.data.degradations import generalized_gaussian_kernel, plateau_kernel

    g = anisotropic_gaussian_kernel(15, 2.0, 1.0, 0.3)
    # beta = 1 turns the generalised Gaussian back into the Gaussian
    assert np.allclose(generalized_gaussian_kernel(15, 2.0, 1.0, 0.3, 1.0), g)
    sharp = generalized_gaussian_kernel(15, 2.0, 2.0, 0.0, 4.0)
    p = plateau_kernel(15, 2.0, 2.0, 0.0, 1.0)
    for k in (sharp, p):
        assert abs(k.sum() - 1) < 1e-6 and k.argmax() == 15 * 7 + 7
    # the plateau kernel has heavier tails than the Gaussian of the same sigma
    assert p[7, 0] > anisotropic_gaussian_kernel(15, 2.0, 2.0, 0.0)[7, 0]


def test_final_stage_order_is_random(monkeypatch) -> None:
    from sr_compress.data import degrade_pipelines as deg  # where the pipeline looks the ops up

    calls: list[str] = []
    real_jpeg, real_resize = deg.jpeg, deg.resize
    monkeypatch.setattr(deg, "jpeg", lambda img, q: (calls.append("jpeg"), real_jpeg(img, q))[1])
    monkeypatch.setattr(deg, "resize", lambda img, size, mode: (calls.append("resize"), real_resize(img, size, mode))[1])
    orders = set()
    pipe = RealESRGANDegradation(4)
    for seed in range(12):
        calls.clear()
        pipe(_hr(seed), np.random.default_rng(seed))
        # first order: resize, jpeg; second order: resize; then the final pair in either order
        assert calls.count("jpeg") == 2 and calls.count("resize") == 3
        orders.add(tuple(calls[-2:]))
    assert orders == {("resize", "jpeg"), ("jpeg", "resize")}
