"""Video upscaling through ffmpeg pipes (the binary shipped by imageio-ffmpeg).

Frames come out of one ffmpeg as raw RGB24 (``imageio_ffmpeg.read_frames``), go through the same
tiler and runner as images, and into a second ffmpeg as raw RGB24 on its stdin. At most ``queue``
frames wait between the stages, so memory does not grow with the clip's length. The frame rate is
kept (as an exact fraction such as 30000/1001), every frame is written (same count, same duration),
and the audio stream of the input is copied (``-map 1:a?``: no audio is fine).

The output is written to a hidden ``.NAME.PID.part.EXT`` file and renamed at the end; Ctrl-C or an
error kills ffmpeg and removes that file, so no truncated video is ever left under the final name.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..compat import require
from ..data.io import to_uint8
from ..errors import UserInputError
from ..runtime.base import Runner
from ..runtime.tiling import extract_tiles, merge_tiles
from .pipeline import check_tiling, final_size, plan_for

# container -> (default video codec, codecs its audio may be copied from)
CONTAINERS: dict[str, tuple[str, set[str] | None]] = {
    ".mp4": ("libx264", None), ".m4v": ("libx264", None), ".mov": ("libx264", None), ".mkv": ("libx264", None),
    ".webm": ("libvpx-vp9", {"opus", "vorbis"}), ".gif": ("gif", set()),
}
_END = object()


@dataclass
class VideoOptions:
    codec: str | None = None  # default: by container (libx264, libvpx-vp9, gif)
    crf: int = 18
    preset: str | None = None  # x264/x265 speed preset
    tile: int | None = None
    overlap: int = 8
    outscale: float | None = None
    batch: int = 1
    queue: int = 4


@dataclass
class VideoResult:
    frames: int
    fps: str
    size: tuple[int, int]  # output (width, height)
    audio: bool
    path: Path


def ffmpeg_exe() -> str:
    mod = require("imageio_ffmpeg", "video", "imageio-ffmpeg (ships the ffmpeg binary)")
    return str(mod.get_ffmpeg_exe())


def _audio_args(out: Path, audio_codec: str | None) -> list[str]:
    _, copyable = CONTAINERS.get(out.suffix.lower(), ("", None))
    if copyable is not None and not copyable:
        return ["-an"]  # GIF has no audio
    if copyable is None or (audio_codec or "").split()[0] in copyable:
        return ["-map", "1:a?", "-c:a", "copy"]
    return ["-map", "1:a?", "-c:a", "libopus"]  # WebM takes Opus/Vorbis only


def writer_command(src: Path, tmp: Path, size: tuple[int, int], fps: str, opts: VideoOptions,
                   audio_codec: str | None) -> list[str]:
    """The encoding ffmpeg: raw RGB frames on stdin (input 0) plus the source (input 1, for audio)."""
    w, h = size
    codec = opts.codec or CONTAINERS.get(tmp.suffix.lower(), ("libx264", None))[0]
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", fps, "-i", "-",
           "-i", str(src), "-map", "0:v:0", *_audio_args(tmp, audio_codec), "-c:v", codec]
    if codec != "gif":
        cmd += ["-crf", str(opts.crf), "-pix_fmt", "yuv420p"]
        if codec.startswith("libvpx"):
            cmd += ["-b:v", "0"]
        if (w % 2 or h % 2):  # 4:2:0 needs even sizes: pad one pixel by replicating the edge
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        if opts.preset and codec in ("libx264", "libx265"):
            cmd += ["-preset", opts.preset]
    return [*cmd, str(tmp)]


def _exact_fps(fps: float) -> str:
    return str(Fraction(fps).limit_denominator(1001))


def _reader(path: Path, frames: queue.Queue[Any], stop: threading.Event, errors: list[str]) -> None:
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        next(gen)  # the metadata, already read by the caller
        for raw in gen:
            while not stop.is_set():
                try:
                    frames.put(raw, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except Exception as err:  # noqa: BLE001 - reported by the caller as one line
        errors.append(str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__)
    finally:
        gen.close()
        while not stop.is_set():
            try:
                frames.put(_END, timeout=0.1)
                break
            except queue.Full:
                continue


def probe(path: Path) -> dict[str, Any]:
    """imageio-ffmpeg's reading of the header: size, fps, duration, codecs (no frames decoded)."""
    import imageio_ffmpeg

    ffmpeg_exe()
    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        return dict(next(gen))
    except (OSError, RuntimeError, StopIteration) as err:
        raise UserInputError(f"{path}: not a readable video ({str(err).strip().splitlines()[-1:]})") from None
    finally:
        gen.close()


def _sr_frame(runner: Runner, raw: bytes, w: int, h: int, opts: VideoOptions) -> bytes:
    lr = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
    chw = np.ascontiguousarray(lr.transpose(2, 0, 1), dtype=np.float32) / 255.0
    plan = plan_for(runner.info, h, w, opts.tile, opts.overlap)
    tiles = extract_tiles(chw, plan)
    step = max(1, min(opts.batch, runner.info.max_batch))
    sr = np.concatenate([runner.run(tiles[i:i + step]) for i in range(0, len(tiles), step)])
    out = merge_tiles(sr, plan, runner.info.scale)
    oh, ow = final_size(h, w, runner.info.scale, opts.outscale)
    if out.shape[1:] != (oh, ow):
        import torch

        from ..data.imresize import imresize

        out = imresize(torch.from_numpy(out), size=(oh, ow)).numpy()
    return to_uint8(out).tobytes()


def upscale_video(runner: Runner, src: Path, out: Path, opts: VideoOptions | None = None,
                  progress: bool = True) -> VideoResult:
    """Upscale every frame of ``src`` into ``out`` (see the module docstring)."""
    opts = opts or VideoOptions()
    check_tiling(runner, opts.tile, opts.overlap)
    meta = probe(src)
    w, h = meta["size"]
    fps = _exact_fps(float(meta["fps"]))
    oh, ow = final_size(h, w, runner.info.scale, opts.outscale)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part{out.suffix}")
    frames: queue.Queue[Any] = queue.Queue(maxsize=max(1, opts.queue))
    stop, errors = threading.Event(), list[str]()
    reader = threading.Thread(target=_reader, args=(src, frames, stop, errors), daemon=True)
    proc = subprocess.Popen(writer_command(src, tmp, (ow, oh), fps, opts, meta.get("audio_codec")),
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = round(float(meta.get("duration") or 0) * float(meta["fps"])) or None
        bar = tqdm(total=total, unit="frame", desc=f"upscale {src.name}", dynamic_ncols=True)
    n = 0
    try:
        reader.start()
        assert proc.stdin is not None
        while (raw := frames.get()) is not _END:
            try:
                proc.stdin.write(_sr_frame(runner, raw, w, h, opts))
            except BrokenPipeError:
                err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
                raise UserInputError(f"{src} -> {out}: ffmpeg stopped ({err.splitlines()[-1] if err else 'no message'}); "
                                     "try another --codec or container") from None
            n += 1
            if bar is not None:
                bar.update(1)
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
        if proc.wait() != 0 or errors:
            why = (errors or [err.splitlines()[-1] if err else f"exit {proc.returncode}"])[0]
            raise UserInputError(f"{src} -> {out}: ffmpeg failed ({why}); try another --codec or container")
        os.replace(tmp, out)
    except BaseException:
        stop.set()
        proc.kill()
        proc.wait()
        raise
    finally:
        stop.set()
        tmp.unlink(missing_ok=True)
        if bar is not None:
            bar.close()
    return VideoResult(n, fps, (ow, oh), bool(meta.get("audio_codec")), out)
