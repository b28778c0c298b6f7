"""Differentiable siamese augmentation (DSA, Zhao & Bilen 2021) for distribution matching.

One draw of parameters ω is applied to the real and the synthetic batch alike, so the matching
loss compares the two distributions under the *same* transformation; every operation is
differentiable in the pixels, so gradients flow back to the synthetic images (and through the
frozen generator to its latents). ω is shared by the whole batch (DSA's "batch mode"): the real
and synthetic batches have different sizes, so a per-sample pairing would not be meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# DSA's default strategy is 'color_crop_cutout_flip_scale_rotate'; rotation is left out because
# SR content has a preferred pixel grid and rotations by non-right angles resample it.
DEFAULT_STRATEGY = ("color", "crop", "cutout", "flip", "scale")


@dataclass
class AugParams:
    """One ω: everything needed to replay the same augmentation on another batch."""

    flip: bool
    scale_x: float
    scale_y: float
    shift_x: float  # fraction of the half-width, as affine_grid expects
    shift_y: float
    brightness: float
    saturation: float
    contrast: float
    cutout_cx: float  # centre of the cut square, in [0, 1]
    cutout_cy: float
    cutout_size: float  # side as a fraction of the image side
    ops: tuple[str, ...]


def sample_params(
    generator: torch.Generator | None = None,
    strategy: tuple[str, ...] = DEFAULT_STRATEGY,
    scale_ratio: float = 1.2,
    crop_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> AugParams:
    """Draw one ω. Ranges follow DSA's defaults, colour ranges narrowed to [0, 1] images."""

    def u(lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * torch.rand((), generator=generator))

    return AugParams(
        flip=bool(torch.rand((), generator=generator) < 0.5),
        scale_x=u(1.0 / scale_ratio, scale_ratio),
        scale_y=u(1.0 / scale_ratio, scale_ratio),
        shift_x=u(-2 * crop_ratio, 2 * crop_ratio),
        shift_y=u(-2 * crop_ratio, 2 * crop_ratio),
        brightness=u(-0.2, 0.2),
        saturation=u(0.5, 1.5),
        contrast=u(0.6, 1.4),
        cutout_cx=u(0.0, 1.0),
        cutout_cy=u(0.0, 1.0),
        cutout_size=cutout_ratio,
        ops=tuple(strategy),
    )


def _geometric(x: torch.Tensor, p: AugParams) -> torch.Tensor:
    sx = p.scale_x if "scale" in p.ops else 1.0
    sy = p.scale_y if "scale" in p.ops else 1.0
    if "flip" in p.ops and p.flip:
        sx = -sx
    tx = p.shift_x if "crop" in p.ops else 0.0
    ty = p.shift_y if "crop" in p.ops else 0.0
    if sx == 1.0 and sy == 1.0 and tx == 0.0 and ty == 0.0:
        return x
    theta = torch.tensor([[sx, 0.0, tx], [0.0, sy, ty]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    # zeros outside, as DSA's crop (translation with zero padding)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _colour(x: torch.Tensor, p: AugParams) -> torch.Tensor:
    x = x + p.brightness
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * p.saturation + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * p.contrast + mean


def _cutout(x: torch.Tensor, p: AugParams) -> torch.Tensor:
    h, w = x.shape[-2:]
    ch, cw = max(1, int(h * p.cutout_size / 2)), max(1, int(w * p.cutout_size / 2))
    cy, cx = int(p.cutout_cy * h), int(p.cutout_cx * w)
    mask = torch.ones((1, 1, h, w), dtype=x.dtype, device=x.device)
    mask[..., max(0, cy - ch // 2) : min(h, cy + ch - ch // 2), max(0, cx - cw // 2) : min(w, cx + cw - cw // 2)] = 0
    return x * mask


def apply(x: torch.Tensor, p: AugParams) -> torch.Tensor:
    """Apply ω to an NCHW batch (differentiable in ``x``)."""
    if "color" in p.ops:
        x = _colour(x, p)
    x = _geometric(x, p)
    if "cutout" in p.ops:
        x = _cutout(x, p)
    return x


def siamese(
    real: torch.Tensor, syn: torch.Tensor, generator: torch.Generator | None = None,
    strategy: tuple[str, ...] = DEFAULT_STRATEGY,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment both batches with one shared ω."""
    p = sample_params(generator, strategy)
    return apply(real, p), apply(syn, p)
