"""Datasets: shapes, LR/HR alignment, layouts, errors, default images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sr_compress.data.datasets import (
    LRFolderDataset,
    PairedPatchDataset,
    dataset_name,
    load_benchmark,
    lr_patch_from_hr,
)
from sr_compress.data.imresize import bicubic_degrade_uint8
from sr_compress.errors import UserInputError


def _smooth(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    f = rng.uniform(0.05, 0.3, 3)
    img = np.stack([127 + 100 * np.sin(xx * f[c] + yy * f[(c + 1) % 3]) for c in range(3)], axis=2)
    return np.clip(np.round(img + rng.normal(0, 4, img.shape)), 0, 255).astype(np.uint8)


@pytest.fixture()
def hr_folder(tmp_path):
    d = tmp_path / "MySet"
    d.mkdir()
    for i, (h, w) in enumerate([(50, 61), (43, 40), (64, 64)]):
        Image.fromarray(_smooth(h, w, i)).save(d / f"im{i}.png")
    return d


@pytest.fixture()
def bench_folder(tmp_path):
    d = tmp_path / "Bench"
    (d / "HR").mkdir(parents=True)
    for s in (2, 3):
        (d / "LR_bicubic" / f"X{s}").mkdir(parents=True)
    for i, (h, w) in enumerate([(37, 41), (30, 30)]):
        hr = _smooth(h, w, 10 + i)
        Image.fromarray(hr).save(d / "HR" / f"img{i}.png")
        for s in (2, 3):
            Image.fromarray(bicubic_degrade_uint8(hr, s)).save(d / "LR_bicubic" / f"X{s}" / f"img{i}x{s}.png")
    return d


def test_paired_shapes_and_range(hr_folder):
    ds = PairedPatchDataset([hr_folder], scale=4, patch_size=8, length=10)
    assert len(ds) == 10
    item = ds[3]
    assert set(item) == {"lr", "hr"}
    assert item["lr"].shape == (3, 8, 8) and item["hr"].shape == (3, 32, 32)
    assert item["lr"].dtype == torch.float32
    assert 0 <= float(item["lr"].min()) and float(item["hr"].max()) <= 1
    loader = torch.utils.data.DataLoader(ds, batch_size=4)
    batch = next(iter(loader))
    assert batch["lr"].shape == (4, 3, 8, 8) and batch["hr"].shape == (4, 3, 32, 32)
    with pytest.raises(IndexError):
        ds[10]


@pytest.mark.parametrize("cache", [True, False])
def test_lr_patch_is_bicubic_of_the_hr_patch_region(hr_folder, cache):
    """Without augmentation each LR patch is exactly the matching crop of the full-image MATLAB LR."""
    s, p = 3, 6
    ds = PairedPatchDataset([hr_folder], scale=s, patch_size=p, augment=False, length=12, cache=cache,
                            generator=torch.Generator().manual_seed(1))
    full = {}
    for src in ds.sources:
        hr = np.asarray(Image.open(src.hr).convert("RGB"))
        hr = hr[: hr.shape[0] - hr.shape[0] % s, : hr.shape[1] - hr.shape[1] % s]
        full[src.hr] = (bicubic_degrade_uint8(hr, s), hr)
    for i in range(len(ds)):
        item = ds[i]
        lr_full, hr_full = full[ds.sources[i % len(ds.sources)].hr]
        lr = np.round(item["lr"].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        hr = np.round(item["hr"].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        # locate the HR patch (HR is noisy, so the match is unique), then check the LR patch
        found = False
        for top in range(0, hr_full.shape[0] - p * s + 1, s):
            for left in range(0, hr_full.shape[1] - p * s + 1, s):
                if np.array_equal(hr_full[top : top + p * s, left : left + p * s], hr):
                    np.testing.assert_array_equal(lr, lr_full[top // s : top // s + p, left // s : left // s + p])
                    found = True
        assert found, "HR patch must be aligned to the scale grid"


def test_patchwise_downscale_equals_full_image():
    hr = _smooth(61, 47, 3)
    s = 4
    full = bicubic_degrade_uint8(hr, s)
    for top, left, size in [(0, 0, 5), (3, 2, 4), (full.shape[0] - 5, full.shape[1] - 5, 5), (1, 4, 7)]:
        np.testing.assert_array_equal(lr_patch_from_hr(hr, s, top, left, size),
                                      full[top : top + size, left : left + size])
    # downscaling the bare patch instead differs near the patch border (why we keep a margin)
    patch = hr[8:40, 8:40]
    bare = bicubic_degrade_uint8(patch, s)
    assert not np.array_equal(bare, full[2:10, 2:10])
    np.testing.assert_array_equal(bare[2:-2, 2:-2], full[4:8, 4:8])


def test_augment_is_applied_identically(hr_folder):
    ds = PairedPatchDataset([hr_folder], scale=2, patch_size=10, augment=True, length=40,
                            generator=torch.Generator().manual_seed(0))
    for i in range(40):
        item = ds[i]
        down = torch.nn.functional.avg_pool2d(item["hr"][None], 2)[0]
        # the bicubic LR of an HR patch stays close to its box-average; a misaligned flip would not
        assert float((down - item["lr"]).abs()[:, 2:-2, 2:-2].mean()) < 0.05


def test_augment_produces_all_orientations(hr_folder):
    kw = dict(scale=2, patch_size=32, generator=torch.Generator().manual_seed(0))
    plain = PairedPatchDataset([hr_folder / "im2.png"], augment=False, **kw)[0]["lr"]  # the only 32x32 crop
    variants = []
    for t in (plain, plain.transpose(1, 2)):
        variants += [t, t.flip(1), t.flip(2), t.flip(1).flip(2)]
    ds = PairedPatchDataset([hr_folder / "im2.png"], augment=True, length=160, **kw)
    counts = [0] * 8
    for i in range(160):
        lr = ds[i]["lr"]
        matches = [k for k, v in enumerate(variants) if torch.equal(v, lr)]
        assert len(matches) == 1
        counts[matches[0]] += 1
    assert min(counts) > 0  # all 8 dihedral transforms occur


def test_benchmark_layout_uses_lr_files(bench_folder):
    ds = PairedPatchDataset([bench_folder], scale=3, patch_size=5, augment=False)
    assert all(s.lr is not None for s in ds.sources)
    item = ds[0]
    assert item["lr"].shape == (3, 5, 5) and item["hr"].shape == (3, 15, 15)


def test_small_images_skipped_or_error(hr_folder):
    ds = PairedPatchDataset([hr_folder], scale=4, patch_size=12)  # 43x40 -> LR 10x10 too small
    assert [s.hr.name for s in ds.sources] == ["im0.png", "im2.png"]
    with pytest.raises(UserInputError, match="smaller than the patch"):
        PairedPatchDataset([hr_folder], scale=4, patch_size=40)


def test_whole_images_when_patch_size_none(hr_folder):
    ds = PairedPatchDataset([hr_folder], scale=2, patch_size=None, augment=False)
    item = ds[0]
    assert item["lr"].shape == (3, 25, 30) and item["hr"].shape == (3, 50, 60)


def test_lr_folder_dataset(hr_folder):
    ds = LRFolderDataset([hr_folder], patch_size=16, length=7)
    assert len(ds) == 7
    item = ds[6]
    assert set(item) == {"lr"} and item["lr"].shape == (3, 16, 16)
    whole = LRFolderDataset(hr_folder / "im1.png", patch_size=None, augment=False)
    assert whole[0]["lr"].shape == (3, 43, 40)
    with pytest.raises(UserInputError):
        LRFolderDataset([hr_folder], patch_size=500)


def test_load_benchmark_layouts(bench_folder, hr_folder):
    b = load_benchmark(bench_folder, 3)
    assert b.name == "Bench" and len(b) == 2 and b.lr_source == "LR_bicubic"
    name, lr, hr = b.items[0]
    assert name == "img0" and lr.shape == (12, 13, 3) and hr.shape == (36, 39, 3)  # HR modcropped
    assert load_benchmark(bench_folder / "HR", 3).name == "Bench"
    plain = load_benchmark(hr_folder, 4)
    assert plain.name == "MySet" and plain.lr_source == "matlab-bicubic"
    for _, lr, hr in plain:
        assert hr.shape[0] == 4 * lr.shape[0] and hr.shape[1] == 4 * lr.shape[1]
    # generated LR equals the LR files made the same way
    gen = load_benchmark(bench_folder / "HR" / "img0.png", 2)
    np.testing.assert_array_equal(gen.items[0][1], load_benchmark(bench_folder, 2).items[0][1])


def test_load_benchmark_errors(bench_folder, tmp_path):
    with pytest.raises(UserInputError, match=r"no X4 folder.*found: X2, X3"):
        load_benchmark(bench_folder, 4)
    (bench_folder / "LR_bicubic" / "X2" / "img1x2.png").unlink()
    with pytest.raises(UserInputError, match="no LR image for 'img1'"):
        load_benchmark(bench_folder, 2)
    with pytest.raises(UserInputError, match="scale looks wrong|is the scale right"):
        # x3 LR files presented as x2
        (bench_folder / "LR_bicubic" / "X3").rename(bench_folder / "LR_bicubic" / "X5")
        for f in (bench_folder / "LR_bicubic" / "X5").iterdir():
            f.rename(f.with_name(f.name.replace("x3", "x5")))
        load_benchmark(bench_folder, 5)
    with pytest.raises(UserInputError, match="not found"):
        load_benchmark(tmp_path / "nothing", 2)


def test_dataset_name(tmp_path):
    (tmp_path / "Set5" / "HR").mkdir(parents=True)
    assert dataset_name(tmp_path / "Set5") == "Set5"
    assert dataset_name(tmp_path / "Set5" / "HR") == "Set5"


def test_default_images(tmp_path, monkeypatch):
    from sr_compress.data import defaults

    monkeypatch.setenv("SR_COMPRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(defaults, "TRAIN_IMAGES", ("astronaut.png", "camera.png"))
    monkeypatch.setattr(defaults, "BENCHMARK_IMAGES", ("chelsea.png",))
    d = defaults.default_images_dir()
    assert d.is_relative_to(tmp_path / "cache")
    assert sorted(p.name for p in d.glob("*.png")) == ["astronaut.png", "camera.png"]
    cam = np.asarray(Image.open(d / "camera.png"))
    assert cam.ndim == 3 and cam.shape[2] == 3  # gray stored as RGB
    b = defaults.default_benchmark_dir(4)
    bench = load_benchmark(b, 4)
    assert bench.name == "skimage_val" and bench.lr_source == "LR_bicubic"
    assert bench.items[0][2].shape == (300, 448, 3)
    assert defaults.default_benchmark_dir(4) == b  # second call reuses the cache
    ds = PairedPatchDataset([d], scale=4, patch_size=16, length=4)
    assert ds[0]["hr"].shape == (3, 64, 64)
