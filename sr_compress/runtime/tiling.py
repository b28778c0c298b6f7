"""One tiling engine for every backend.

Why tiles: static-shape engines (TensorRT profiles, fixed OpenVINO shapes) accept one input size,
large images do not fit in memory, and a batching server wants equal-sized pieces from many
requests in one batch. Every consumer (validate, bench, gate, serve) goes through this module so
all backends are measured on identical pixels.

How:

1. the LR image is padded (reflect, crop back at the end) so that it satisfies the network's
   ``size_requirements`` and is at least one tile large;
2. it is cut into tiles of ONE fixed size (``tile`` rounded up to ``multiple_of``) laid out with
   at least ``overlap`` LR pixels shared between neighbours; the last tile of a row/column is
   pushed back inside the image instead of being smaller, so every tile has the same shape;
3. each SR tile is multiplied by a feather weight that is 1 in its interior and falls off with a
   raised-cosine ramp across the overlap on the sides that have a neighbour (sides on the image
   border keep weight 1, so no pixel is ever down-weighted for lack of a neighbour);
4. weighted tiles are accumulated and divided by the accumulated weights.

The seams therefore get the context of both neighbours and the zero-padding artefacts at tile
borders get near-zero weight. The lower-level API (:func:`make_plan`, :func:`extract_tiles`,
:func:`merge_tiles`) lets the server batch tiles of different requests together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserInputError
from ..models.registry import SizeRequirements
from .base import Runner


@dataclass(frozen=True)
class TileSpec:
    """One tile in padded-LR coordinates; ``feather`` says which sides have a neighbour."""

    index: int
    y: int
    x: int
    h: int
    w: int
    feather: tuple[bool, bool, bool, bool] = (False, False, False, False)  # top, bottom, left, right


@dataclass
class TilePlan:
    """Everything needed to cut an image into tiles and put the SR tiles back together."""

    height: int  # original LR size
    width: int
    padded_height: int
    padded_width: int
    tile_h: int
    tile_w: int
    overlap: int
    tiles: list[TileSpec] = field(default_factory=list)

    @property
    def pad(self) -> tuple[int, int]:
        return self.padded_height - self.height, self.padded_width - self.width

    def __len__(self) -> int:
        return len(self.tiles)


def round_tile(tile: int, req: SizeRequirements) -> int:
    """The tile size actually used: at least ``minimum`` and a multiple of ``multiple_of``."""
    if tile <= 0:
        raise UserInputError(f"--tile must be a positive number of LR pixels, got {tile}")
    t = max(tile, req.minimum)
    m = max(1, req.multiple_of)
    return -(-t // m) * m


def _axis_positions(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    pos = list(range(0, length - tile, stride))
    pos.append(length - tile)
    return pos


def _padded_size(h: int, w: int, tile_h: int | None, tile_w: int | None, req: SizeRequirements) -> tuple[int, int]:
    ph, pw = req.padding_for(h, w)
    hh, ww = h + ph, w + pw
    if tile_h is not None and tile_w is not None:
        hh, ww = max(hh, tile_h), max(ww, tile_w)
    return hh, ww


def make_plan(
    height: int,
    width: int,
    tile: int | tuple[int, int] | None,
    overlap: int = 8,
    req: SizeRequirements | None = None,
) -> TilePlan:
    """Plan the tiles of an ``height x width`` LR image. ``tile=None``: one tile, the whole image."""
    req = req or SizeRequirements()
    if overlap < 0:
        raise UserInputError(f"tile overlap must be >= 0, got {overlap}")
    if tile is None:
        ph, pw = _padded_size(height, width, None, None, req)
        spec = TileSpec(0, 0, 0, ph, pw)
        return TilePlan(height, width, ph, pw, ph, pw, 0, [spec])
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    th, tw = round_tile(th, req), round_tile(tw, req)
    if req.square:
        th = tw = max(th, tw)
    if overlap >= min(th, tw):
        raise UserInputError(f"tile overlap {overlap} must be smaller than the tile size {min(th, tw)}")
    ph, pw = _padded_size(height, width, th, tw, req)
    ys, xs = _axis_positions(ph, th, overlap), _axis_positions(pw, tw, overlap)
    tiles: list[TileSpec] = []
    for iy, y in enumerate(ys):
        for ix, x in enumerate(xs):
            feather = (iy > 0, iy < len(ys) - 1, ix > 0, ix < len(xs) - 1)
            tiles.append(TileSpec(len(tiles), y, x, th, tw, feather))
    return TilePlan(height, width, ph, pw, th, tw, overlap, tiles)


def plan_tiles(
    h: int, w: int, tile: int | tuple[int, int] | None, overlap: int = 8, req: SizeRequirements | None = None
) -> list[TileSpec]:
    """The tiles of :func:`make_plan` (coordinates in the padded LR image)."""
    return make_plan(h, w, tile, overlap, req).tiles


def pad_image(image: np.ndarray, padded_h: int, padded_w: int) -> np.ndarray:
    """Pad a (C, H, W) image at the bottom/right by reflection (edge replication when too small)."""
    _, h, w = image.shape
    ph, pw = padded_h - h, padded_w - w
    if ph == 0 and pw == 0:
        return image
    # reflection needs pad < size; repeat it for tiny images so the padded content stays natural
    out = image
    while ph > 0 or pw > 0:
        sh, sw = min(ph, out.shape[1] - 1), min(pw, out.shape[2] - 1)
        if sh <= 0 and ph > 0 or sw <= 0 and pw > 0:
            return np.pad(out, ((0, 0), (0, ph), (0, pw)), mode="edge")
        out = np.pad(out, ((0, 0), (0, sh), (0, sw)), mode="reflect")
        ph, pw = ph - sh, pw - sw
    return out


def extract_tiles(image: np.ndarray, plan: TilePlan) -> np.ndarray:
    """(C, H, W) float32 image → (N, C, tile_h, tile_w) tiles of ``plan``."""
    if image.ndim != 3 or image.shape[1:] != (plan.height, plan.width):
        raise ValueError(f"image shape {image.shape} does not match the plan ({plan.height}x{plan.width})")
    padded = pad_image(np.ascontiguousarray(image, dtype=np.float32), plan.padded_height, plan.padded_width)
    return np.stack([padded[:, t.y : t.y + t.h, t.x : t.x + t.w] for t in plan.tiles])


def _ramp(n: int, size: int, start: bool, end: bool) -> np.ndarray:
    w = np.ones(size, dtype=np.float64)
    if n <= 0:
        return w
    n = min(n, size)
    # raised cosine, strictly positive so every pixel keeps a non-zero total weight
    t = (np.arange(n) + 0.5) / n
    ramp = np.sin(0.5 * np.pi * t) ** 2
    if start:
        w[:n] = np.minimum(w[:n], ramp)
    if end:
        w[size - n :] = np.minimum(w[size - n :], ramp[::-1])
    return w


def tile_weight(spec: TileSpec, overlap: int, scale: int) -> np.ndarray:
    """(h*scale, w*scale) feather weight of one SR tile."""
    top, bottom, left, right = spec.feather
    n = overlap * scale
    wy = _ramp(n, spec.h * scale, top, bottom)
    wx = _ramp(n, spec.w * scale, left, right)
    return np.outer(wy, wx)


def merge_tiles(sr_tiles: np.ndarray | Sequence[np.ndarray], plan: TilePlan, scale: int) -> np.ndarray:
    """SR tiles (N, C, tile_h*s, tile_w*s) of ``plan`` → (C, H*s, W*s) float32 image."""
    if len(sr_tiles) != len(plan.tiles):
        raise ValueError(f"got {len(sr_tiles)} SR tiles for a plan of {len(plan.tiles)}")
    if len(plan.tiles) == 1:
        out = np.asarray(sr_tiles[0], dtype=np.float32)
        return np.ascontiguousarray(out[:, : plan.height * scale, : plan.width * scale])
    c = sr_tiles[0].shape[0]
    acc = np.zeros((c, plan.padded_height * scale, plan.padded_width * scale), dtype=np.float64)
    norm = np.zeros(acc.shape[1:], dtype=np.float64)
    weights: dict[tuple[bool, ...], np.ndarray] = {}
    for spec, sr in zip(plan.tiles, sr_tiles):
        exp = (c, spec.h * scale, spec.w * scale)
        if tuple(sr.shape) != exp:
            raise ValueError(f"SR tile {spec.index} has shape {tuple(sr.shape)}, expected {exp} (wrong scale?)")
        wgt = weights.get(spec.feather)
        if wgt is None:
            wgt = weights[spec.feather] = tile_weight(spec, plan.overlap, scale)
        ys, xs = spec.y * scale, spec.x * scale
        acc[:, ys : ys + exp[1], xs : xs + exp[2]] += sr * wgt
        norm[ys : ys + exp[1], xs : xs + exp[2]] += wgt
    merged = acc / norm
    return merged[:, : plan.height * scale, : plan.width * scale].astype(np.float32)


def run_batched(fn: Callable[[np.ndarray], np.ndarray], tiles: np.ndarray, batch: int) -> list[np.ndarray]:
    """Run ``fn`` over ``tiles`` in chunks of at most ``batch``."""
    out: list[np.ndarray] = []
    for i in range(0, len(tiles), max(1, batch)):
        res = np.asarray(fn(np.ascontiguousarray(tiles[i : i + batch])))
        out.extend(res)
    return out


def upscale(
    runner: Runner,
    image: np.ndarray,
    tile: int | None = None,
    overlap: int = 8,
    batch: int = 4,
) -> np.ndarray:
    """Super-resolve one image ((3, H, W) or (1, 3, H, W) float32 in [0, 1]) with ``runner``.

    ``tile=None`` runs the whole (padded) image at once unless the runner only accepts a fixed
    shape, in which case that shape is the tile. Output has the input's rank, unclipped.
    """
    squeeze = image.ndim == 3
    if image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError("upscale takes one image; use the tiles API for batches")
        image = image[0]
    if image.ndim != 3:
        raise ValueError(f"expected a (3, H, W) or (1, 3, H, W) image, got shape {image.shape}")
    info = runner.info
    tile_arg: int | tuple[int, int] | None = tile
    if info.fixed_shape is not None:
        if tile is not None and (round_tile(tile, info.size_requirements),) * 2 != tuple(info.fixed_shape):
            raise UserInputError(
                f"--tile {tile} does not match the engine's fixed input shape {info.fixed_shape}; "
                f"use --tile {info.fixed_shape[0]} or re-export with that tile size"
            )
        tile_arg = (int(info.fixed_shape[0]), int(info.fixed_shape[1]))
    max_hw = info.extra.get("max_hw")  # engines with a bounded profile (TensorRT): tile when too large
    if tile_arg is None and max_hw and (image.shape[1] > max_hw[0] or image.shape[2] > max_hw[1]):
        tile_arg = (int(max_hw[0]), int(max_hw[1]))
    plan = make_plan(image.shape[1], image.shape[2], tile_arg, overlap if tile_arg is not None else 0,
                     info.size_requirements)
    tiles = extract_tiles(image, plan)
    sr = run_batched(runner.run, tiles, min(batch, info.max_batch))
    out = merge_tiles(sr, plan, info.scale)
    return out if squeeze else out[None]
