"""Training on a distilled folder: teacher-label datasets for the engine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ...data.io import read_uint8
from ...errors import UserInputError
from .config import IMAGES_DIR, MANIFEST
from .output import augment_view, read_manifest


class TeacherLabelDataset(torch.utils.data.Dataset):
    """Training pairs from a distilled folder's teacher labels (``manifest.relabel``).

    Items are ``{"lr": (3, p, p), "hr": (3, p*s, p*s)}`` where ``hr`` is the *teacher's output*
    for a fixed augmented view (D4M's training-time soft labels, adapted to SR), not the
    distilled HR image. Random aligned crops and dihedral flips, like the engine's dataset.
    """

    def __init__(self, root: str | Path, scale: int, patch_size: int, length: int | None = None,
                 augment: bool = True) -> None:
        root = Path(root)
        root = root.parent if root.name == IMAGES_DIR else root
        man = read_manifest(root)
        if not man.get("relabel"):
            raise UserInputError(f"{root}: no teacher labels; rerun distill-data with --relabel-views N")
        if man["scale"] != scale:
            raise UserInputError(f"{root}: distilled at x{man['scale']}, but training is x{scale}")
        self.scale, self.patch_size, self.augment = scale, patch_size, augment
        self.pairs = []
        for p in man["relabel"]["pairs"]:
            lr, hr = read_uint8(root / p["lr"]), read_uint8(root / p["hr"])
            if min(lr.shape[:2]) < patch_size:
                raise UserInputError(f"{root / p['lr']}: smaller than patch_size {patch_size}; lower it")
            self.pairs.append((lr, hr))
        self.length = length or len(self.pairs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        lr, hr = self.pairs[i % len(self.pairs)]
        p, s = self.patch_size, self.scale
        top = int(torch.randint(lr.shape[0] - p + 1, ()))
        left = int(torch.randint(lr.shape[1] - p + 1, ()))
        lt = torch.from_numpy(np.ascontiguousarray(lr[top : top + p, left : left + p])).permute(2, 0, 1)
        ht = torch.from_numpy(np.ascontiguousarray(hr[top * s : (top + p) * s, left * s : (left + p) * s]))
        ht = ht.permute(2, 0, 1)
        if self.augment:
            v = int(torch.randint(8, ()))
            lt, ht = augment_view(lt, v), augment_view(ht, v)
        return {"lr": lt.float().div(255).contiguous(), "hr": ht.float().div(255).contiguous()}


def open_training_set(path: str | Path, scale: int, patch_size: int, length: int | None = None,
                      augment: bool = True, teacher_labels: bool | None = None) -> torch.utils.data.Dataset:
    """The dataset to train on a distilled folder: teacher labels when the manifest asks for them
    (``use_teacher_labels``; override with ``teacher_labels``), else the images with bicubic LR."""
    root = Path(path)
    root = root.parent if root.name == IMAGES_DIR else root
    man = read_manifest(root)
    use = man.get("use_teacher_labels", False) if teacher_labels is None else teacher_labels
    if use:
        return TeacherLabelDataset(root, scale, patch_size, length, augment)
    from ...data.datasets import PairedPatchDataset

    return PairedPatchDataset([root / IMAGES_DIR], scale, patch_size, augment=augment, length=length)


def is_distilled_root(path: str | Path) -> bool:
    """True for an ``--out`` folder of ``distill-data`` (manifest.json + images/)."""
    p = Path(path).expanduser()
    mf = p / MANIFEST
    if not (p.is_dir() and mf.is_file() and (p / IMAGES_DIR).is_dir()):
        return False
    try:
        return str(json.loads(mf.read_text()).get("format", "")).startswith("sr-compress/distilled-data/")
    except (OSError, ValueError):
        return False


def distilled_training_set(paths: Sequence[str | Path], scale: int, patch_size: int | None,
                           augment: bool = True) -> torch.utils.data.Dataset | None:
    """What the engine trains on when ``--data`` names distilled folders: ``None`` when none of
    ``paths`` is one (the engine then reads them as plain HR folders); otherwise every distilled
    root goes through :func:`open_training_set` (teacher labels when its manifest asks for them)
    and every other path through the paired HR dataset, concatenated."""
    if not any(is_distilled_root(p) for p in paths):
        return None
    if patch_size is None:
        raise UserInputError("training on a distilled folder needs data.patch_size (the LR patch side)")
    from ...data.datasets import PairedPatchDataset

    parts: list[torch.utils.data.Dataset] = []
    for p in paths:
        if is_distilled_root(p):
            man = read_manifest(p)
            if man["scale"] != scale:
                raise UserInputError(f"{p}: distilled at x{man['scale']}, but training is x{scale}; "
                                     f"pass --scale {man['scale']}")
            parts.append(open_training_set(p, scale, patch_size, augment=augment))
        else:
            parts.append(PairedPatchDataset([p], scale, patch_size, augment=augment))
    return parts[0] if len(parts) == 1 else torch.utils.data.ConcatDataset(parts)
