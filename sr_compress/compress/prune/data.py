"""A few (LR, HR) batches for data-driven importance (Taylor): HR crops and their MATLAB-bicubic LR."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...data.imresize import bicubic_degrade_uint8, modcrop
from ...data.io import list_images, read_uint8
from ...errors import UserInputError


def importance_batches(folder: str | Path | None, scale: int, batches: int = 4, batch_size: int = 4,
                       patch: int = 48, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``batches`` pairs of (N, 3, p, p) LR / (N, 3, p*s, p*s) HR tensors in [0, 1] (default: embedded photos)."""
    from ...data.defaults import default_images_dir

    src = Path(folder) if folder else default_images_dir()
    pairs = []
    for f in list_images(src):
        hr = modcrop(read_uint8(f), scale, channels_last=True)
        if min(hr.shape[:2]) >= patch * scale:
            pairs.append((bicubic_degrade_uint8(hr, scale), hr))
    if not pairs:
        raise UserInputError(f"--data {src}: no image is at least {patch * scale} px for the importance batches")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batches):
        lrs, hrs = [], []
        for _j in range(batch_size):
            lr, hr = pairs[int(rng.integers(len(pairs)))]
            y, x = (int(rng.integers(0, lr.shape[k] - patch + 1)) for k in (0, 1))
            lrs.append(lr[y:y + patch, x:x + patch])
            hrs.append(hr[y * scale:(y + patch) * scale, x * scale:(x + patch) * scale])
        out.append(tuple(torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() / 255.0 for a in (lrs, hrs)))
    return out  # type: ignore[return-value]
