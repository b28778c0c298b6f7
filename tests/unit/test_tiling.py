"""The tiling engine: plans, padding, seams, batching (pure numpy/torch, no shared data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sr_compress.errors import UserInputError
from sr_compress.metrics.sr import psnr
from sr_compress.models.registry import ModelDescriptor, SizeRequirements
from sr_compress.runtime.base import Runner, RunnerInfo
from sr_compress.runtime.runners import TorchRunner
from sr_compress.runtime.tiling import extract_tiles, make_plan, merge_tiles, plan_tiles, upscale


class NearestRunner(Runner):
    """Pointwise model: any tiling must reproduce it exactly."""

    def __init__(self, scale: int, req: SizeRequirements = SizeRequirements(), fixed=None) -> None:
        self.info = RunnerInfo("numpy", "fp32", scale, req, fixed_shape=fixed)
        self.calls: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(batch.shape)
        for d, m in ((2, self.info.size_requirements.multiple_of), (3, self.info.size_requirements.multiple_of)):
            assert batch.shape[d] % m == 0, "runner got an input violating multiple_of"
        s = self.info.scale
        return np.repeat(np.repeat(batch, s, axis=2), s, axis=3)


class TinySR(nn.Module):
    def __init__(self, scale: int = 2, c: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 3 * scale * scale, 3, padding=1),
        )
        self.up = nn.PixelShuffle(scale)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = nn.functional.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return base + 0.1 * self.up(self.body(x))


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.4 * np.sin(6 * xx + 3 * c) * np.cos(5 * yy - c) for c in range(3)])
    return np.clip(img + 0.03 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.transpose(x, (1, 2, 0)) * 255), 0, 255).astype(np.uint8)


def test_plan_covers_image_with_fixed_tiles() -> None:
    req = SizeRequirements(minimum=8, multiple_of=4)
    plan = make_plan(70, 45, 30, 6, req)
    assert (plan.tile_h, plan.tile_w) == (32, 32)  # rounded up to multiple_of
    assert {(t.h, t.w) for t in plan.tiles} == {(32, 32)}
    assert plan.padded_height % 4 == 0 and plan.padded_width % 4 == 0
    cover = np.zeros((plan.padded_height, plan.padded_width), int)
    for t in plan.tiles:
        assert t.y + t.h <= plan.padded_height and t.x + t.w <= plan.padded_width
        cover[t.y : t.y + t.h, t.x : t.x + t.w] += 1
    assert cover.min() >= 1
    assert len(plan_tiles(70, 45, 30, 6, req)) == len(plan)


def test_small_image_padded_to_one_tile_and_cropped_back() -> None:
    img = smooth_image(10, 13)
    r = NearestRunner(3, SizeRequirements(multiple_of=8), fixed=(16, 16))
    out = upscale(r, img, tile=16)
    assert out.shape == (3, 30, 39)
    assert r.calls == [(1, 3, 16, 16)]
    np.testing.assert_array_equal(out, np.repeat(np.repeat(img, 3, 1), 3, 2))


@pytest.mark.parametrize("tile,overlap,batch", [(16, 4, 1), (24, 8, 3), (17, 0, 4)])
def test_pointwise_model_tiles_exactly(tile: int, overlap: int, batch: int) -> None:
    img = smooth_image(53, 71)
    r = NearestRunner(2)
    out = upscale(r, img[None], tile=tile, overlap=overlap, batch=batch)
    assert out.shape == (1, 3, 106, 142)
    np.testing.assert_allclose(out[0], np.repeat(np.repeat(img, 2, 1), 2, 2), atol=1e-6)
    assert max(c[0] for c in r.calls) <= batch


def test_conv_model_tiled_matches_untiled_within_001_db() -> None:
    torch.manual_seed(0)
    desc = ModelDescriptor(TinySR(2), "tiny", 2)
    runner = TorchRunner(desc)
    img = smooth_image(96, 120, seed=1)
    ref = upscale(runner, img)
    tiled = upscale(runner, img, tile=48, overlap=12, batch=4)
    hr = to_u8(np.repeat(np.repeat(img, 2, 1), 2, 2))
    p_ref, p_tiled = psnr(to_u8(ref), hr, 2), psnr(to_u8(tiled), hr, 2)
    assert abs(p_ref - p_tiled) < 0.01
    assert np.abs(ref - tiled).max() < 2e-2


def test_merge_rejects_wrong_scale_tiles() -> None:
    img = smooth_image(40, 40)
    plan = make_plan(40, 40, 16, 4)
    tiles = extract_tiles(img, plan)
    with pytest.raises(ValueError, match="wrong scale"):
        merge_tiles(np.repeat(np.repeat(tiles, 3, 2), 3, 3), plan, 2)


def test_bad_tile_arguments_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="overlap"):
        make_plan(64, 64, 16, 16)
    with pytest.raises(UserInputError, match="fixed input shape"):
        upscale(NearestRunner(2, fixed=(32, 32)), smooth_image(40, 40), tile=16)
