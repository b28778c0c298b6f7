"""The candidate patch pool: HR patches cut from the source images, with their bicubic PSNR."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ...data.imresize import imresize, modcrop
from ...data.io import list_images, read_uint8
from ...errors import UserInputError
from .config import DataDistillConfig


@dataclass
class PatchPool:
    """Random HR crops of the source set (uint8, to keep thousands of them in memory)."""

    patches: torch.Tensor  # (N, 3, S, S) uint8
    origins: list[tuple[str, int, int]]  # (file name, top, left)
    bicubic_psnr: torch.Tensor  # (N,) dB of bicubic down/up-sampling; low = informative
    source_files: list[Path]

    def __len__(self) -> int:
        return self.patches.shape[0]

    def float(self, idx: torch.Tensor | list[int] | slice | None = None) -> torch.Tensor:
        p = self.patches if idx is None else self.patches[idx]
        return p.float() / 255.0


def source_files(folders: Sequence[str | Path]) -> list[Path]:
    if not folders:
        raise UserInputError("no source data: pass --data HR_DIR (a folder of HR images)")
    files: list[Path] = []
    for f in folders:
        files += list_images(f)
    return files


def bicubic_psnr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Per-patch PSNR (RGB, [0,1]) of MATLAB-bicubic down- then up-sampling."""
    up = imresize(imresize(hr, 1.0 / scale), float(scale)).clamp(0, 1)
    mse = ((up - hr) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return -10.0 * torch.log10(mse)


def build_pool(cfg: DataDistillConfig, files: list[Path] | None = None) -> PatchPool:
    files = files if files is not None else source_files(cfg.data)
    rng = random.Random(cfg.seed)
    s = cfg.hr_size
    crops: list[np.ndarray] = []
    origins: list[tuple[str, int, int]] = []
    skipped = 0
    for f in tqdm(files, desc="candidate patches", leave=False):
        img = modcrop(read_uint8(f), cfg.scale, channels_last=True)
        h, w = img.shape[:2]
        if h < s or w < s:
            skipped += 1
            continue
        for _ in range(cfg.candidates_per_image):
            # aligned to the scale grid, so a patch is also a valid crop of the image's own LR
            top = rng.randrange(0, (h - s) // cfg.scale + 1) * cfg.scale
            left = rng.randrange(0, (w - s) // cfg.scale + 1) * cfg.scale
            crops.append(img[top : top + s, left : left + s])
            origins.append((f.name, top, left))
    if not crops:
        raise UserInputError(
            f"{cfg.data}: no image is at least {s}x{s} px; lower --patch-size (LR side, now {cfg.patch_size})"
        )
    patches = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    psnrs = torch.cat([bicubic_psnr(patches[i : i + 256].float() / 255.0, cfg.scale)
                       for i in range(0, len(patches), 256)])
    if skipped:
        tqdm.write(f"note: {skipped} source image(s) smaller than {s}x{s} px were skipped")
    return PatchPool(patches, origins, psnrs, files)


def informative_subset(pool: PatchPool, fraction: float) -> torch.Tensor:
    """Indices of the ``fraction`` of candidates that bicubic reconstructs worst."""
    n = max(1, int(round(len(pool) * fraction)))
    return torch.argsort(pool.bicubic_psnr)[:n]
