"""Datasets: paired HR/LR patches for training, LR-only patches, and benchmark sets for evaluation.

Folder layouts understood everywhere (``paths`` may mix them):

* **benchmark layout** ``<dir>/HR/<name>.<ext>`` + ``<dir>/LR_bicubic/X<s>/<name>x<s>.<ext>`` (EDSR/BasicSR);
  the LR files are read as they are and the HR image is cropped top-left to ``s * LR`` size;
* **HR folder** ``<dir>/*.png|jpg|...``: LR is made with MATLAB-bicubic (``imresize``) of the modcropped HR,
  rounded to uint8 — the same recipe that produced the benchmark ``LR_bicubic`` files;
* a single image file.

How training LR patches are made (and why it is exact). MATLAB's ``imresize(x, 1/s)`` gives LR pixel ``j``
(0-based) a kernel centred at HR coordinate ``s*j + (s-1)/2`` that is ``4s`` HR pixels wide, so each LR
pixel depends only on HR pixels within ``2s`` of that centre, and taps falling outside the image are
mirrored at the image border. Downscaling a bare HR *patch* would therefore differ from the full-image LR in
a 2-LR-pixel frame around *every patch* (mirrored patch content instead of the real neighbours). We avoid
that entirely: by default each image is decoded once, its full LR image is computed once (exactly like the
benchmark files), both are cached in memory as uint8, and an item is just an aligned crop — the cheapest
possible per-item cost. With ``cache=False`` (huge folders) each item decodes the image and downscales
only the HR region of the patch plus a margin of ``_MARGIN`` LR pixels on each side (clipped at the image
border, where the mirroring then happens at the same place as for the full image), then drops the margin.
Both modes give LR patches identical to cropping the full-image LR (tested).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import UserInputError
from .imresize import bicubic_degrade_uint8, imresize, modcrop
from .io import IMAGE_SUFFIXES, list_images, read_uint8

log = logging.getLogger(__name__)

PathLike = str | Path
_MARGIN = 3  # LR pixels; the bicubic x1/s kernel reaches 2 LR pixels, one more for safety


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class _Source:
    hr: Path
    lr: Path | None  # None -> LR made with MATLAB bicubic


def _lr_dir(folder: Path, scale: int) -> Path | None:
    """``<folder>/LR_bicubic/X<s>`` if the folder uses the benchmark layout, else None."""
    base = folder / "LR_bicubic"
    if not base.is_dir():
        return None
    for name in (f"X{scale}", f"x{scale}"):
        if (base / name).is_dir():
            return base / name
    have = sorted(p.name for p in base.iterdir() if p.is_dir())
    raise UserInputError(
        f"{base}: no X{scale} folder for scale {scale} (found: {', '.join(have) or 'none'}); "
        f"use --scale with one of those, or remove {base} so LR images are made with MATLAB bicubic"
    )


def _find_lr(lr_dir: Path, stem: str, scale: int) -> Path:
    for cand_stem in (f"{stem}x{scale}", f"{stem}_x{scale}", stem):
        for suffix in (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"):
            p = lr_dir / f"{cand_stem}{suffix}"
            if p.is_file():
                return p
    raise UserInputError(f"{lr_dir}: no LR image for '{stem}' (expected {stem}x{scale}.png)")


def discover_sources(path: PathLike, scale: int) -> list[_Source]:
    p = Path(path).expanduser()
    if p.is_file():
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserInputError(f"{p}: not an image file (supported: {', '.join(sorted(IMAGE_SUFFIXES))})")
        return [_Source(p, None)]
    if not p.is_dir():
        raise UserInputError(f"data path not found: {p}")
    if p.name == "HR" and (p.parent / "LR_bicubic").is_dir():
        p = p.parent  # the user pointed at <set>/HR
    if (p / "HR").is_dir():
        lr_dir = _lr_dir(p, scale)
        hrs = list_images(p / "HR")
        if lr_dir is None:
            return [_Source(h, None) for h in hrs]
        return [_Source(h, _find_lr(lr_dir, h.stem, scale)) for h in hrs]
    return [_Source(h, None) for h in list_images(p)]


def dataset_name(path: PathLike) -> str:
    """Display name of a dataset folder (``.../Set5`` and ``.../Set5/HR`` are both "Set5")."""
    p = Path(path).expanduser().resolve()
    if p.is_file():
        return p.stem
    if p.name in ("HR", "hr") and p.parent.name:
        return p.parent.name
    return p.name


# --------------------------------------------------------------------------- pairs


def _load_pair(src: _Source, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(lr_u8, hr_u8) HWC, HR cropped top-left to exactly ``scale`` x the LR size."""
    hr = read_uint8(src.hr)
    if src.lr is None:
        hr = modcrop(hr, scale, channels_last=True)
        if hr.shape[0] == 0 or hr.shape[1] == 0:
            raise UserInputError(f"{src.hr}: image is smaller than the scale ({scale}); remove it")
        return bicubic_degrade_uint8(hr, scale), hr
    lr = read_uint8(src.lr)
    lh, lw = lr.shape[:2]
    if hr.shape[0] < lh * scale or hr.shape[1] < lw * scale:
        raise UserInputError(
            f"{src.lr}: LR is {lw}x{lh} but HR {src.hr.name} is {hr.shape[1]}x{hr.shape[0]}, "
            f"smaller than x{scale} of it; is the scale right?"
        )
    if hr.shape[0] // scale != lh or hr.shape[1] // scale != lw:
        raise UserInputError(
            f"{src.lr}: LR is {lw}x{lh} but HR {src.hr.name} is {hr.shape[1]}x{hr.shape[0]} "
            f"(expected {hr.shape[1] // scale}x{hr.shape[0] // scale} for x{scale}); is the scale right?"
        )
    return lr, hr[: lh * scale, : lw * scale]


def lr_patch_from_hr(hr_u8: np.ndarray, scale: int, top: int, left: int, size: int) -> np.ndarray:
    """LR patch ``[top:top+size, left:left+size]`` (LR coordinates) of the bicubic LR of ``hr_u8``.

    Equals cropping ``bicubic_degrade_uint8(hr_u8, scale)`` but only resizes the patch's HR region plus
    a ``_MARGIN``-pixel frame (see the module docstring).
    """
    hr = modcrop(hr_u8, scale, channels_last=True)
    lh, lw = hr.shape[0] // scale, hr.shape[1] // scale
    t0, l0 = max(0, top - _MARGIN), max(0, left - _MARGIN)
    t1, l1 = min(lh, top + size + _MARGIN), min(lw, left + size + _MARGIN)
    region = hr[t0 * scale : t1 * scale, l0 * scale : l1 * scale]
    t = torch.from_numpy(region.astype(np.float64)).permute(2, 0, 1)
    lr = imresize(t, 1.0 / scale).permute(1, 2, 0).numpy()
    lr = np.clip(np.round(lr), 0, 255).astype(np.uint8)
    return lr[top - t0 : top - t0 + size, left - l0 : left - l0 + size]


def _image_size(path: Path) -> tuple[int, int]:
    """(h, w) as :func:`read_uint8` will return it (EXIF rotation applied), from the header only."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError) as err:
        raise UserInputError(f"{path}: not a readable image ({err}); re-export it as PNG") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _augment(arrays: list[np.ndarray], hflip: bool, vflip: bool, rot90: bool) -> list[np.ndarray]:
    out = []
    for a in arrays:
        if hflip:
            a = a[:, ::-1]
        if vflip:
            a = a[::-1]
        if rot90:
            a = a.transpose(1, 0, 2)
        out.append(a)
    return out


def _to_chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().div_(255.0)


def _randint(high: int, generator: torch.Generator | None) -> int:
    return int(torch.randint(high, (1,), generator=generator).item()) if high > 0 else 0


class PairedPatchDataset(Dataset):
    """Random aligned (LR, HR) patches for training.

    Items are ``{"lr": (3, p, p), "hr": (3, p*s, p*s)}`` float32 tensors in [0, 1], ``p = patch_size``
    (LR pixels). HR-only folders get MATLAB-bicubic LR (rounded to uint8 like the benchmark files);
    benchmark-layout folders use their ``LR_bicubic/X<s>`` files. ``augment`` applies random
    horizontal/vertical flips and a transpose (together: the 8 dihedral transforms). ``length`` sets a
    virtual epoch length for iteration-based training (item ``i`` uses image ``i % n_images``);
    default: one item per image. Images whose LR is smaller than ``patch_size`` are skipped with a
    warning. ``patch_size=None`` yields whole images (batch size 1). Randomness comes from torch's
    RNG (``generator`` or the global one, which DataLoader seeds per worker).
    """

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        scale: int,
        patch_size: int | None,
        augment: bool = True,
        length: int | None = None,
        cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if scale < 1:
            raise UserInputError(f"scale must be >= 1, got {scale}")
        if patch_size is not None and patch_size < 1:
            raise UserInputError(f"patch_size must be >= 1, got {patch_size}")
        if length is not None and length < 1:
            raise UserInputError(f"length must be >= 1, got {length}")
        self.scale = int(scale)
        self.patch_size = patch_size
        self.augment = augment
        self.cache = cache
        self.generator = generator
        sources = [s for p in paths for s in discover_sources(p, self.scale)]
        if not sources:
            raise UserInputError(f"no training images found in {', '.join(map(str, paths))}")
        self.sources: list[_Source] = []
        self._sizes: list[tuple[int, int]] = []  # LR (h, w)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        skipped = []
        for src in sources:
            lh, lw = self._lr_size(src)
            if patch_size is not None and (lh < patch_size or lw < patch_size):
                skipped.append(src.hr.name)
                continue
            self.sources.append(src)
            self._sizes.append((lh, lw))
        if skipped:
            log.warning("skipped %d image(s) smaller than %d LR pixels: %s", len(skipped), patch_size,
                        ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
        if not self.sources:
            raise UserInputError(
                f"every image in {', '.join(map(str, paths))} is smaller than the patch "
                f"({patch_size} LR px = {(patch_size or 0) * self.scale} HR px at x{self.scale}); lower patch_size"
            )
        self.length = length or len(self.sources)

    def _lr_size(self, src: _Source) -> tuple[int, int]:
        h, w = _image_size(src.lr or src.hr)
        return (h, w) if src.lr is not None else (h // self.scale, w // self.scale)

    def __len__(self) -> int:
        return self.length

    def _pair(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        pair = self._cache.get(idx)
        if pair is None:
            pair = _load_pair(self.sources[idx], self.scale)
            if self.cache:
                self._cache[idx] = pair
        return pair

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        idx = i % len(self.sources)
        s, p = self.scale, self.patch_size
        src = self.sources[idx]
        if p is None:
            lr, hr = self._pair(idx)
        else:
            lh, lw = self._sizes[idx]
            top = _randint(lh - p + 1, self.generator)
            left = _randint(lw - p + 1, self.generator)
            if self.cache or src.lr is not None:
                lr_full, hr_full = self._pair(idx)
                lr = lr_full[top : top + p, left : left + p]
            else:
                hr_full = modcrop(read_uint8(src.hr), s, channels_last=True)
                lr = lr_patch_from_hr(hr_full, s, top, left, p)
            hr = hr_full[top * s : (top + p) * s, left * s : (left + p) * s]
        if self.augment:
            flips = torch.randint(2, (3,), generator=self.generator).tolist()
            lr, hr = _augment([lr, hr], *map(bool, flips))
        return {"lr": _to_chw(lr), "hr": _to_chw(hr)}


class LRFolderDataset(Dataset):
    """LR-only images (real-world inputs, data-free/unpaired distillation): ``{"lr": (3, p, p)}``.

    Random ``patch_size`` crops with the same flips/transpose as :class:`PairedPatchDataset`; images
    smaller than the patch are skipped with a warning; ``patch_size=None`` yields whole images.
    ``paths`` are folders of images (or image files); decoded images are cached in memory.
    """

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        patch_size: int | None,
        augment: bool = True,
        length: int | None = None,
        cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        if isinstance(paths, (str, Path)):
            paths = [paths]
        files: list[Path] = []
        for p in paths:
            p = Path(p).expanduser()
            if p.is_file():
                files.append(p)
            elif p.is_dir():
                files.extend(list_images(p))
            else:
                raise UserInputError(f"data path not found: {p}")
        self.patch_size = patch_size
        self.augment = augment
        self.cache = cache
        self.generator = generator
        self._cache: dict[int, np.ndarray] = {}
        self.files: list[Path] = []
        for f in files:
            img = read_uint8(f)
            if patch_size is not None and min(img.shape[:2]) < patch_size:
                log.warning("skipped %s: smaller than the %d px patch", f, patch_size)
                continue
            if cache:
                self._cache[len(self.files)] = img
            self.files.append(f)
        if not self.files:
            raise UserInputError(
                f"no usable images in {', '.join(map(str, paths))} (all smaller than {patch_size} px?)"
            )
        self.length = length or len(self.files)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        idx = i % len(self.files)
        img = self._cache.get(idx)
        if img is None:
            img = read_uint8(self.files[idx])
        p = self.patch_size
        if p is not None:
            top = _randint(img.shape[0] - p + 1, self.generator)
            left = _randint(img.shape[1] - p + 1, self.generator)
            img = img[top : top + p, left : left + p]
        if self.augment:
            flips = torch.randint(2, (3,), generator=self.generator).tolist()
            (img,) = _augment([img], *map(bool, flips))
        return {"lr": _to_chw(img)}


# --------------------------------------------------------------------------- benchmarks


@dataclass
class BenchmarkSet:
    """An evaluation set: ``items`` = ``(image_name, lr_uint8_hwc, hr_uint8_hwc)``, HR modcropped."""

    name: str
    scale: int
    items: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)
    path: Path | None = None
    lr_source: str = "LR_bicubic"  # or "matlab-bicubic" when LR was made from HR here

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        return iter(self.items)


def load_benchmark(path: PathLike, scale: int, name: str | None = None) -> BenchmarkSet:
    """Load an evaluation set from a benchmark-layout folder or a plain folder of HR images.

    Benchmark layout: ``HR/`` + ``LR_bicubic/X<s>/<name>x<s>.png`` (LR read from disk; a missing
    ``X<s>`` folder is an error naming the scales present). Plain folder (or ``HR/`` without
    ``LR_bicubic/``): LR = MATLAB bicubic of the modcropped HR, rounded to uint8.
    """
    if scale < 1:
        raise UserInputError(f"scale must be >= 1, got {scale}")
    sources = discover_sources(path, scale)
    items = []
    for src in sources:
        lr, hr = _load_pair(src, scale)
        items.append((src.hr.stem, lr, hr))
    uses_files = all(s.lr is not None for s in sources)
    return BenchmarkSet(
        name=name or dataset_name(path),
        scale=scale,
        items=items,
        path=Path(path),
        lr_source="LR_bicubic" if uses_files else "matlab-bicubic",
    )


__all__ = [
    "BenchmarkSet",
    "LRFolderDataset",
    "PairedPatchDataset",
    "dataset_name",
    "load_benchmark",
    "lr_patch_from_hr",
]
