"""Side-by-side picture: PyTorch reference | artifact | abs-error heat-map (one crop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..data.io import to_uint8


def worst_crop_box(err: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of a ``size`` crop centred on the largest error (err: H x W)."""
    h, w = err.shape
    size = min(size, h, w)
    y, x = np.unravel_index(int(np.argmax(err)), err.shape)
    y0 = int(np.clip(y - size // 2, 0, h - size))
    x0 = int(np.clip(x - size // 2, 0, w - size))
    return y0, x0, y0 + size, x0 + size


def heatmap(err: np.ndarray, vmax: float) -> np.ndarray:
    """H x W non-negative errors → uint8 RGB using matplotlib's 'inferno' colormap."""
    from matplotlib import colormaps

    norm = np.clip(err / max(vmax, 1e-12), 0, 1)
    return (colormaps["inferno"](norm)[..., :3] * 255).astype(np.uint8)


def side_by_side(ref: np.ndarray, art: np.ndarray, path: str | Path, title: str, crop: int = 160,
                 zoom: int = 2) -> Path:
    """Write the comparison PNG for two (3, H, W) float outputs; returns the path."""
    err = np.abs(art.astype(np.float64) - ref.astype(np.float64)).max(axis=0)
    y0, x0, y1, x1 = worst_crop_box(err, crop)
    vmax = float(err[y0:y1, x0:x1].max())
    panels = [to_uint8(ref[:, y0:y1, x0:x1]), to_uint8(art[:, y0:y1, x0:x1]), heatmap(err[y0:y1, x0:x1], vmax)]
    ph, pw = panels[0].shape[:2]
    gap, head = 6, 32
    canvas = Image.new("RGB", ((pw * zoom + gap) * 3 - gap, ph * zoom + head), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    labels = ["PyTorch reference", "artifact", f"|error| (max {vmax * 255:.2f}/255)"]
    for i, (panel, label) in enumerate(zip(panels, labels)):
        im = Image.fromarray(panel).resize((pw * zoom, ph * zoom), Image.Resampling.NEAREST)
        canvas.paste(im, (i * (pw * zoom + gap), head))
        draw.text((i * (pw * zoom + gap) + 2, 3), label, fill=(0, 0, 0))
    draw.text((2, 17), title[:120], fill=(90, 90, 90))
    path = Path(path)
    canvas.save(path)
    return path
