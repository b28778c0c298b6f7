"""decode → infer → encode, three stages joined by bounded queues so they overlap.

One thread decodes (shared ``data/io.py`` path: gray, alpha, 16-bit, EXIF, ICC), the calling
thread runs the model (tiles of consecutive images with the same tile shape are batched together,
up to ``--batch``), one thread post-processes, encodes and writes. Queues hold at most
``queue`` images each, so memory stays bounded on any folder. Backends release the GIL while they
compute, as do Pillow's/zlib's codecs, which is what lets the stages run at the same time.

A file that cannot be read, run or written is recorded with its reason and the run continues.
Outputs are written to a hidden ``.NAME.PID.part`` file next to the target and renamed into place,
so an interrupted run never leaves a truncated file under a final name and ``--skip-existing``
can resume it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.io import DecodedImage, decode_image, encode_image, resize_alpha
from ..errors import SRCompressError, UserInputError
from ..runtime.base import Runner, RunnerInfo
from ..runtime.tiling import TilePlan, extract_tiles, make_plan, merge_tiles, round_tile
from .inputs import Job

_DONE = object()


class UpscaleFailed(SRCompressError):
    """Some inputs could not be upscaled (the others were written): exit code 1."""

    exit_code = 1


@dataclass
class UpscaleOptions:
    tile: int | None = None  # LR tile size; None = whole image (unless the engine has a fixed shape)
    overlap: int = 8
    outscale: float | None = None  # final scale relative to the input; None = the model's
    batch: int = 1
    quality: int = 95  # WEBP/JPEG
    skip_existing: bool = False
    queue: int = 4


@dataclass
class UpscaleSummary:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    input_megapixels: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def render(self) -> str:
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        mps = self.input_megapixels / self.seconds if self.seconds > 0 else 0.0
        lines = [f"upscaled {self.done}, skipped {self.skipped} (already there), failed {len(self.failed)} "
                 f"in {self.seconds:.1f} s ({rate:.2f} images/s, {mps:.2f} input MP/s)"]
        lines += [f"  failed: {p}: {why}" for p, why in self.failed]
        return "\n".join(lines)


def plan_for(info: RunnerInfo, h: int, w: int, tile: int | None, overlap: int) -> TilePlan:
    """The tile plan :func:`sr_compress.runtime.tiling.upscale` would use for this runner and image."""
    tile_arg: int | tuple[int, int] | None = tile
    if info.fixed_shape is not None:
        if tile is not None and (round_tile(tile, info.size_requirements),) * 2 != tuple(info.fixed_shape):
            raise UserInputError(f"--tile {tile} does not match the engine's fixed input shape {info.fixed_shape}; "
                                 f"use --tile {info.fixed_shape[0]}")
        tile_arg = (int(info.fixed_shape[0]), int(info.fixed_shape[1]))
    max_hw = info.extra.get("max_hw")
    if tile_arg is None and max_hw and (h > max_hw[0] or w > max_hw[1]):
        tile_arg = (int(max_hw[0]), int(max_hw[1]))
    return make_plan(h, w, tile_arg, overlap if tile_arg is not None else 0, info.size_requirements)


def check_tiling(runner: Runner, tile: int | None, overlap: int) -> None:
    """Bad --tile/--overlap are one error before the run, not one failure per file."""
    side = max(2 * (tile or 0), 64)
    plan_for(runner.info, side, side, tile, overlap)


def final_size(h: int, w: int, scale: int, outscale: float | None) -> tuple[int, int]:
    s = float(outscale) if outscale else float(scale)
    return max(1, round(h * s)), max(1, round(w * s))


def finish(sr_chw: np.ndarray, dec: DecodedImage, scale: int, outscale: float | None) -> tuple[np.ndarray, Any]:
    """Model output → (HWC RGB at the final size, alpha at that size or None).

    ``--outscale`` other than the model's scale resizes the SR result with MATLAB-compatible bicubic
    (``data/imresize.py``, antialiased when shrinking) — the resampler of every number in this project.
    """
    h, w = dec.rgb.shape[:2]
    oh, ow = final_size(h, w, scale, outscale)
    if (oh, ow) != sr_chw.shape[1:]:
        import torch

        from ..data.imresize import imresize

        sr_chw = imresize(torch.from_numpy(np.ascontiguousarray(sr_chw)), size=(oh, ow)).numpy()
    alpha = resize_alpha(dec.alpha, oh, ow) if dec.alpha is not None else None
    return np.transpose(np.clip(sr_chw, 0, 1), (1, 2, 0)), alpha


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temp file and a rename (atomic on one filesystem)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class _Item:
    job: Job
    dec: DecodedImage
    plan: TilePlan
    tiles: np.ndarray


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


class _Stages:
    """State shared by the three stages of one run."""

    def __init__(self, runner: Runner, jobs: list[Job], opts: UpscaleOptions, progress: Any) -> None:
        self.runner, self.jobs, self.opts, self.progress = runner, jobs, opts, progress
        self.summary = UpscaleSummary()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.decoded: queue.Queue[Any] = queue.Queue(maxsize=max(1, opts.queue))
        self.inferred: queue.Queue[Any] = queue.Queue(maxsize=max(1, opts.queue))
        self.t0 = time.perf_counter()

    def fail(self, job: Job, err: BaseException | str) -> None:
        why = err if isinstance(err, str) else _reason(err)
        why = why.removeprefix(f"{job.src}: ")  # the summary names the file already
        with self.lock:
            self.summary.failed.append((job.src, why))
        self.tick()

    def tick(self, megapixels: float = 0.0, done: bool = False) -> None:
        with self.lock:
            s = self.summary
            s.done += int(done)
            s.input_megapixels += megapixels
            el = max(time.perf_counter() - self.t0, 1e-9)
            if self.progress is not None:
                self.progress.update(1)
                self.progress.set_postfix_str(f"{s.done / el:.2f} img/s, {s.input_megapixels / el:.2f} MP/s, "
                                              f"{len(s.failed)} failed")

    def put(self, q: queue.Queue[Any], item: Any) -> bool:
        """Blocking put that gives up when the run is being stopped."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    # stage 1 -----------------------------------------------------------------------------------
    def decode_all(self) -> None:
        info = self.runner.info
        try:
            for job in self.jobs:
                if self.stop.is_set():
                    return
                if self.opts.skip_existing and job.dst.exists():
                    with self.lock:
                        self.summary.skipped += 1
                    self.tick()
                    continue
                try:
                    dec = decode_image(job.src)
                    chw = np.ascontiguousarray(np.transpose(dec.rgb, (2, 0, 1)))
                    plan = plan_for(info, chw.shape[1], chw.shape[2], self.opts.tile, self.opts.overlap)
                    item = _Item(job, dec, plan, extract_tiles(chw, plan))
                except Exception as err:  # noqa: BLE001 - decoders raise many types; name the file, go on
                    self.fail(job, err)
                    continue
                if not self.put(self.decoded, item):
                    return
        finally:
            self.put(self.decoded, _DONE)

    # stage 2 -----------------------------------------------------------------------------------
    def _groups(self) -> Iterator[list[_Item]]:
        """Consecutive decoded images whose tiles have one shape, up to ``batch`` tiles per group."""
        pending: _Item | None = None
        while True:
            first = pending if pending is not None else self.decoded.get()
            pending = None
            if first is _DONE:
                return
            group, n = [first], len(first.plan.tiles)
            while n < self.opts.batch:
                try:
                    nxt = self.decoded.get_nowait()
                except queue.Empty:
                    break
                if nxt is _DONE or nxt.tiles.shape[1:] != first.tiles.shape[1:]:
                    pending = nxt
                    break
                group.append(nxt)
                n += len(nxt.plan.tiles)
            yield group
            if pending is _DONE:
                return

    def infer_all(self) -> None:
        info = self.runner.info
        step = max(1, min(self.opts.batch, info.max_batch))
        try:
            for group in self._groups():
                if self.stop.is_set():
                    return
                tiles = np.concatenate([g.tiles for g in group]) if len(group) > 1 else group[0].tiles
                try:
                    sr = [self.runner.run(np.ascontiguousarray(tiles[i:i + step])) for i in range(0, len(tiles), step)]
                    out = np.concatenate(sr) if len(sr) > 1 else sr[0]
                except Exception as err:  # noqa: BLE001 - a backend failure on one input must not end the run
                    for g in group:
                        self.fail(g.job, err)
                    continue
                k = 0
                for g in group:
                    part = out[k:k + len(g.plan.tiles)]
                    k += len(g.plan.tiles)
                    if not self.put(self.inferred, (g, part)):
                        return
        finally:
            self.put(self.inferred, _DONE)

    # stage 3 -----------------------------------------------------------------------------------
    def encode_all(self) -> None:
        scale = int(self.runner.info.scale)
        while True:
            try:
                got = self.inferred.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            if got is _DONE or self.stop.is_set():
                return
            g, sr_tiles = got
            try:
                sr = merge_tiles(sr_tiles, g.plan, scale)
                rgb, alpha = finish(sr, g.dec, scale, self.opts.outscale)
                data = encode_image(rgb, g.job.fmt, alpha=alpha, gray=g.dec.gray, bit_depth=g.dec.bit_depth,
                                    icc_profile=g.dec.icc_profile, quality=self.opts.quality)
                write_atomic(g.job.dst, data)
            except Exception as err:  # noqa: BLE001 - one bad output is reported by name, the run goes on
                self.fail(g.job, err)
                continue
            self.tick(g.plan.height * g.plan.width / 1e6, done=True)


def upscale_files(runner: Runner, jobs: list[Job], opts: UpscaleOptions | None = None,
                  progress: bool = True) -> UpscaleSummary:
    """Upscale every job; failures are collected in the summary, never raised (Ctrl-C still stops)."""
    opts = opts or UpscaleOptions()
    if opts.batch < 1:
        raise UserInputError(f"--batch must be >= 1, got {opts.batch}")
    if opts.outscale is not None and opts.outscale <= 0:
        raise UserInputError(f"--outscale must be > 0, got {opts.outscale}")
    check_tiling(runner, opts.tile, opts.overlap)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), unit="img", desc="upscale", dynamic_ncols=True)
    st = _Stages(runner, jobs, opts, bar)
    workers = [threading.Thread(target=st.decode_all, name="upscale-decode", daemon=True),
               threading.Thread(target=st.encode_all, name="upscale-encode", daemon=True)]
    for t in workers:
        t.start()
    try:
        st.infer_all()
        workers[1].join()
    finally:
        st.stop.set()
        for t in workers:
            t.join(timeout=5)
        if bar is not None:
            bar.close()
    st.summary.seconds = time.perf_counter() - st.t0
    return st.summary
