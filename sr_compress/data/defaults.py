"""Embedded default data: real photographs that ship inside scikit-image's wheel.

A fresh machine without ``../shared/data`` still has these files on disk (they are package data
of ``skimage/data/``, not the images that ``skimage.data`` downloads on demand with pooch), so the
demo and the tests that must run anywhere can train and validate on real images. They are copied
once, as PNG, into ``$SR_COMPRESS_CACHE/default_images`` (default ``~/.cache/sr-compress``).

Images and licences (from the docstrings of ``skimage/data/_fetchers.py``):

============================  ==========  ======================================================
file                          split       licence / source
============================  ==========  ======================================================
astronaut.png (512x512)       train       public domain (NASA, Eileen Collins)
rocket.jpg (640x427)          train       public domain (SpaceX)
hubble_deep_field.jpg         train       public domain (NASA/ESA Hubble)
ihc.png (512x512)             train       "no known copyright restrictions" (immunohistochemistry)
retina.jpg (1411x1411)        train       CC0 1.0 (Häggström, Wikimedia Commons)
camera.png (512x512, gray)    train       CC0 (Lav Varshney)
chelsea.png (451x300)         benchmark   CC0 (Stefan van der Walt)
coffee.png (600x400)          benchmark   CC0 (Rachel Michetti)
============================  ==========  ======================================================

``retina`` is downscaled (MATLAB bicubic x1/2) and ``hubble_deep_field`` cropped when materialised, to
keep demo epochs short; JPEG sources are decoded once and stored as PNG. The gray ``camera`` becomes
RGB by channel replication (the library's rule for gray inputs).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import UserInputError
from .imresize import bicubic_degrade_uint8, imresize
from .io import read_uint8

TRAIN_IMAGES = ("astronaut.png", "rocket.jpg", "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "camera.png")
BENCHMARK_IMAGES = ("chelsea.png", "coffee.png")
_VERSION = "v1"  # bump when the selection or the conversion changes


def cache_dir() -> Path:
    """``$SR_COMPRESS_CACHE`` or ``~/.cache/sr-compress``."""
    env = os.environ.get("SR_COMPRESS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sr-compress"


def skimage_data_dir() -> Path:
    try:
        import skimage
    except ImportError:
        raise UserInputError(
            "default images come from scikit-image, which is not installed: pip install scikit-image"
        ) from None
    return Path(skimage.__file__).resolve().parent / "data"


def _prepare(name: str) -> np.ndarray:
    src = skimage_data_dir() / name
    if not src.is_file():
        raise UserInputError(
            f"{src}: bundled scikit-image sample missing (broken install?); reinstall scikit-image "
            "or pass your own --data folder"
        )
    img = read_uint8(src)
    if name == "retina.jpg":  # 1411 px, mostly black border: downscale to keep epochs short
        t = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)
        img = np.clip(np.round(imresize(t, 0.5).permute(1, 2, 0).numpy()), 0, 255).astype(np.uint8)
    elif name == "hubble_deep_field.jpg":
        img = img[:512, :512]
    return img


def _materialise(folder: Path, names: tuple[str, ...]) -> Path:
    marker = folder / f".complete-{_VERSION}"
    if marker.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        out = folder / (Path(name).stem + ".png")
        tmp = out.with_name(out.name + ".tmp")  # no image suffix: never listed as an image
        Image.fromarray(_prepare(name)).save(tmp, format="PNG")
        tmp.replace(out)  # atomic: concurrent callers never see half-written files
    marker.write_text("\n".join(names) + "\n")
    return folder


def default_images_dir() -> Path:
    """Folder of the default *training* photographs (PNG, RGB), created on first use."""
    return _materialise(cache_dir() / "default_images" / _VERSION / "train", TRAIN_IMAGES)


def default_benchmark_dir(scale: int) -> Path:
    """A benchmark-layout folder (``HR/`` + ``LR_bicubic/X<s>/``) of the held-out default images.

    Name of the folder: ``skimage_val`` (so evaluation tables call the set that). LR files are made
    with MATLAB bicubic, like the standard benchmarks' ``LR_bicubic`` files.
    """
    if scale < 1:
        raise UserInputError(f"scale must be >= 1, got {scale}")
    root = cache_dir() / "default_images" / _VERSION / "skimage_val"
    hr_dir = _materialise(root / "HR", BENCHMARK_IMAGES)
    lr_dir = root / "LR_bicubic" / f"X{scale}"
    marker = lr_dir / f".complete-{_VERSION}"
    if not marker.is_file():
        lr_dir.mkdir(parents=True, exist_ok=True)
        for name in BENCHMARK_IMAGES:
            stem = Path(name).stem
            hr = read_uint8(hr_dir / f"{stem}.png")
            tmp = lr_dir / f"{stem}x{scale}.png.tmp"
            Image.fromarray(bicubic_degrade_uint8(hr, scale)).save(tmp, format="PNG")
            tmp.replace(lr_dir / f"{stem}x{scale}.png")
        marker.write_text("ok\n")
    return root
