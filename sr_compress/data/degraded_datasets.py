"""Training datasets that degrade HR crops on the fly (paired LR/HR, and PDD's synthetic + real pairs)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def _load_hr(paths: Sequence[str | Path], min_side: int) -> list[np.ndarray]:
    from ..data.io import list_images, read_uint8
    from ..errors import UserInputError

    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(list_images(p))
        elif p.is_file():
            files.append(p)
        else:
            raise UserInputError(f"training data path {p} does not exist: pass an HR image folder")
    imgs = []
    for f in files:
        arr = read_uint8(f)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        arr = arr[..., :3]
        if min(arr.shape[:2]) >= min_side:
            imgs.append(arr)
    if not imgs:
        raise UserInputError(
            f"no usable images (need >= {min_side}px per side) under {', '.join(map(str, paths))}"
        )
    return imgs


def _augment(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.uniform() < 0.5:
        arr = arr[:, ::-1]
    if rng.uniform() < 0.5:
        arr = arr[::-1]
    if rng.uniform() < 0.5:
        arr = arr.transpose(1, 0, 2)
    return np.ascontiguousarray(arr)


def _crop(arr: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = arr.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return arr[y : y + size, x : x + size]


class DegradedPairDataset(torch.utils.data.Dataset):
    """HR crops degraded on the fly: ``{"lr": (3,p,p), "hr": (3,p*s,p*s)}`` float [0, 1].

    Item ``i`` is a pure function of ``(seed, i)``; ``length`` sets how many distinct items an
    epoch has (default: 1000 per image), so the sampler rarely sees the same degradation twice.
    """

    def __init__(
        self,
        hr_paths: Sequence[str | Path],
        scale: int,
        patch_size: int,
        pipeline,
        augment: bool = True,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        self.scale = scale
        self.patch = patch_size
        self.pipeline = pipeline
        self.augment = augment
        self.seed = seed
        self.images = _load_hr(hr_paths, patch_size * scale)
        self.length = length or 1000 * len(self.images)

    def __len__(self) -> int:
        return self.length

    def _pair(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        arr = self.images[int(rng.integers(len(self.images)))]
        crop = _crop(arr, self.patch * self.scale, rng)
        if self.augment:
            crop = _augment(crop, rng)
        hr = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0
        lr = self.pipeline(hr, rng)
        return {"lr": lr.float(), "hr": hr}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._pair(np.random.default_rng([self.seed, int(index)]))


class PDDDataset(DegradedPairDataset):
    """Adds ``real_lr`` (3,p,p): an unpaired crop of a real LR image, paired by batch index."""

    def __init__(
        self,
        hr_paths: Sequence[str | Path],
        real_lr_paths: Sequence[str | Path],
        scale: int,
        patch_size: int,
        pipeline,
        augment: bool = True,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(hr_paths, scale, patch_size, pipeline, augment, length, seed)
        if not real_lr_paths:
            from ..errors import UserInputError

            raise UserInputError("PDD needs unpaired real LR images: pass --real-lr DIR (data.real_lr)")
        self.real = _load_hr(real_lr_paths, patch_size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        item = self._pair(rng)
        real = self.real[int(index) % len(self.real)]
        crop = _crop(real, self.patch, rng)
        if self.augment:
            crop = _augment(crop, rng)
        item["real_lr"] = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0
        return item
