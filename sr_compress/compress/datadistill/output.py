"""The output folder: images, teacher relabels and ``manifest.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ...config import to_dict
from ...data.imresize import imresize
from ...data.io import write_image
from ...errors import UserInputError
from .base import Distilled
from .config import IMAGES_DIR, MANIFEST, RELABEL_DIR, DataDistillConfig


def folder_bytes(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def augment_view(x: torch.Tensor, v: int) -> torch.Tensor:
    """Fixed view ``v`` of the 8 dihedral transforms."""
    if v & 4:
        x = x.flip(-1)
    return torch.rot90(x, v % 4, dims=(-2, -1))


@torch.no_grad()
def write_relabel(out: Path, items: list[tuple[str, torch.Tensor]], teacher: nn.Module, scale: int,
                  views: int) -> list[dict[str, Any]]:
    """Teacher labels for fixed views: LR = bicubic(view) rounded to uint8, label = teacher(LR)."""
    rdir = out / RELABEL_DIR
    pairs = []
    for name, hr in tqdm(items, desc="teacher relabelling", leave=False):
        for v in range(views):
            view = augment_view(hr, v)
            lr = (imresize(view.unsqueeze(0), 1.0 / scale).clamp(0, 1) * 255).round() / 255
            label = teacher(lr).clamp(0, 1)
            stem = Path(name).stem
            lr_name, hr_name = f"{stem}_v{v}_lr.png", f"{stem}_v{v}_teacher.png"
            write_image(rdir / lr_name, lr[0])
            write_image(rdir / hr_name, label[0])
            pairs.append({"lr": f"{RELABEL_DIR}/{lr_name}", "hr": f"{RELABEL_DIR}/{hr_name}", "view": v,
                          "source": f"{IMAGES_DIR}/{name}"})
    return pairs


def write_output(out: Path, items: list[Distilled], cfg: DataDistillConfig, files: list[Path],
                 wall_s: float, teacher: nn.Module | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the images (+ teacher labels) and ``manifest.json``; ``extra`` is the distiller's own
    record (e.g. which generator it used), stored under ``method_info``."""
    out.mkdir(parents=True, exist_ok=True)
    img_dir = out / IMAGES_DIR
    if img_dir.exists():
        stale = [p for p in img_dir.iterdir() if p.suffix == ".png"]
        if stale:
            raise UserInputError(f"{img_dir} already holds images; choose a new --out folder")
    entries: list[dict[str, Any]] = []
    named: list[tuple[str, torch.Tensor]] = []
    per_class: dict[int, int] = {}
    for it in items:
        i = per_class.get(it.cls, 0)
        per_class[it.cls] = i + 1
        name = f"c{max(it.cls, 0):02d}_{i:04d}.png" if it.cls >= 0 else f"r_{len(entries):04d}.png"
        write_image(img_dir / name, it.hr.clamp(0, 1))
        named.append((name, it.hr.clamp(0, 1)))
        entries.append({"file": f"{IMAGES_DIR}/{name}", "width": int(it.hr.shape[-1]),
                        "height": int(it.hr.shape[-2]), "class": int(it.cls),
                        "bytes": (img_dir / name).stat().st_size, "origin": it.origin})
    image_bytes = sum(e["bytes"] for e in entries)
    src_bytes = folder_bytes(files)
    manifest: dict[str, Any] = {
        "format": "sr-compress/distilled-data/1",
        "method": cfg.method,
        "source": {"folders": [str(d) for d in cfg.data], "images": len(files), "bytes": src_bytes},
        "scale": cfg.scale,
        "patch_size": cfg.patch_size,
        "hr_size": cfg.hr_size,
        "ipc": cfg.ipc,
        "classes": cfg.classes,
        "images": entries,
        "total_bytes": image_bytes,
        "ratio": image_bytes / src_bytes if src_bytes else None,
        "wall_time_s": round(wall_s, 3),
        "settings": to_dict(cfg),
        "relabel": None,
        "use_teacher_labels": False,
        "method_info": extra or {},
    }
    if cfg.relabel_views > 0:
        if teacher is None:
            raise UserInputError("--relabel-views needs --teacher CKPT")
        pairs = write_relabel(out, named, teacher, cfg.scale, cfg.relabel_views)
        rbytes = sum((out / p["lr"]).stat().st_size + (out / p["hr"]).stat().st_size for p in pairs)
        manifest["relabel"] = {"views": cfg.relabel_views, "pairs": pairs, "bytes": rbytes}
        manifest["use_teacher_labels"] = True
        manifest["total_bytes_with_labels"] = image_bytes + rbytes
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.name == IMAGES_DIR:
        p = p.parent
    mf = p / MANIFEST if p.is_dir() else p
    if not mf.is_file():
        raise UserInputError(f"{p}: no {MANIFEST}; pass the --out folder of 'sr-compress distill-data'")
    return json.loads(mf.read_text())
