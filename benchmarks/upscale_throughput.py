"""``sr-compress upscale`` throughput on a folder vs the bare runner (what ``bench`` times), one run.

Both sides use the SAME loaded runner (artifact, threads), the same LR size and batch: ``bench``
side = ``runner.run`` on a (batch, 3, H, W) array, median over calls; folder side = the whole
pipeline (PNG decode → tiles → inference → merge → PNG encode → atomic write) over N images.
Rounds alternate the two sides so drift on a shared machine hits both alike. A second part
upscales a generated 5 s 320x180 clip with audio 4x (tiny random EDSR x4: the pipeline, not the
model, is measured) in a subprocess and records frames, fps, audio and peak RSS.

    python benchmarks/upscale_throughput.py --export /tmp/rlfn_x4 --threads 2

Writes the ``upscale_throughput`` section of benchmarks/RESULTS.md (prose: templates/upscale_*.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    add_data_args,
    add_run_args,
    command_line,
    data_root,
    machine_line,
    md_table,
    read_results,
    render,
    start,
    write_results,
)


def _images(folder: Path, n: int, size: int) -> list[Path]:
    """N crops of real photos (Set14/B100 HR when present, else smooth noise) saved as PNG."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    srcs = sorted((data_root() / "benchmarks" / "B100" / "HR").glob("*.png"))
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        if srcs:
            img = np.asarray(Image.open(srcs[i % len(srcs)]).convert("RGB"))
            y, x = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
            crop = img[y:y + size, x:x + size]
        else:
            crop = np.kron(rng.integers(0, 256, (size // 8, size // 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        Image.fromarray(crop).save(folder / f"{i:03d}.png")
        out.append(folder / f"{i:03d}.png")
    return out


def _bench_side(runner, size: int, batch: int, calls: int) -> float:  # noqa: ANN001
    x = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    runner.run(x)
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        runner.run(x)
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def _folder_side(runner, src: Path, work: Path, batch: int) -> float:  # noqa: ANN001
    from sr_compress.upscale.inputs import collect_jobs
    from sr_compress.upscale.pipeline import UpscaleOptions, upscale_files

    out = Path(tempfile.mkdtemp(dir=work))
    jobs = collect_jobs([src], out)
    s = upscale_files(runner, jobs, UpscaleOptions(batch=batch), progress=False)
    assert s.ok and s.done == len(jobs), s.render()
    return s.done / s.seconds


def throughput(export: str, n: int, size: int, threads: int, batch: int, rounds: int) -> dict:
    from sr_compress.upscale.model import load_upscale_runner

    runner = load_upscale_runner(export, threads=threads)
    with tempfile.TemporaryDirectory(prefix="ups-bench-") as td:
        work = Path(td)
        _images(work / "in", n, size)
        _folder_side(runner, work / "in", work, batch)  # warm-up: first-shape compilation, caches
        rows = []
        for r in range(rounds):
            b = _bench_side(runner, size, batch, max(3, n // batch))
            f = _folder_side(runner, work / "in", work, batch)
            rows.append({"round": r + 1, "bench_img_s": b, "folder_img_s": f, "ratio": f / b})
    info = runner.info
    return {"artifact": info.artifact, "backend": info.backend, "precision": info.precision, "threads": threads,
            "size": size, "batch": batch, "images": n, "rows": rows,
            "ratio_of_medians": statistics.median(r["folder_img_s"] for r in rows)
            / statistics.median(r["bench_img_s"] for r in rows)}


def video(seconds: float = 5.0) -> dict:
    import imageio_ffmpeg
    import torch

    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student
    from sr_compress.upscale.video import ffmpeg_exe

    with tempfile.TemporaryDirectory(prefix="ups-video-") as td:
        d = Path(td)
        torch.manual_seed(0)
        ckpt = save_model(build_student("edsr:c8b1", 4), d / "tiny_x4.pth")
        clip = d / "in.mp4"
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc=size=320x180:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                        f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-shortest", str(clip)], check=True)
        out = d / "out.mp4"
        t = time.perf_counter()
        # peak RSS of the upscale process itself, read by /usr/bin/time-like wait4 accounting
        proc = subprocess.Popen([sys.executable, "-c", "from sr_compress.cli import main; main()", "upscale",
                                 str(clip), "-o", str(out), "--model", str(ckpt), "--quiet"])
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.returncode == 0, proc.returncode
        wall = time.perf_counter() - t
        peak_mb = usage.ru_maxrss / 1024.0
        fin, sin = imageio_ffmpeg.count_frames_and_secs(str(clip))
        fout, sout = imageio_ffmpeg.count_frames_and_secs(str(out))
        info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    return {"clip_s": seconds, "frames_in": fin, "frames_out": fout, "secs_in": sin, "secs_out": sout,
            "size_ok": "1280x720" in info, "fps_ok": "25 fps" in info, "audio": "Audio:" in info,
            "wall_s": wall, "peak_rss_mb": peak_mb}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--export", required=True, help="export directory (e.g. of RLFN x4)")
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--video-seconds", default="1,5", help="clip lengths; equal peak RSS = memory bounded")
    ap.add_argument("--no-video", action="store_true")
    ap.add_argument("--no-throughput", action="store_true", help="keep the last throughput figures (JSON)")
    add_run_args(ap, "upscale_throughput", budget=False)
    add_data_args(ap)
    return ap.parse_args(argv)


def report(a: argparse.Namespace, res: dict, vids: list[dict]) -> str:
    rows = [[r["round"], r["bench_img_s"], r["folder_img_s"], r["ratio"]] for r in res["rows"]]
    md = render("upscale_throughput", a=a, backend=res["backend"], precision=res["precision"],
                machine=machine_line(), ratio=res["ratio_of_medians"], cmd=command_line("upscale_throughput.py"),
                table=md_table(["round", "bench images/s", "folder images/s", "folder/bench"], rows))
    if vids:
        md += "\n\n" + render("upscale_video", table=md_table(
            ["clip s", "frames in/out", "seconds in/out", "1280x720", "25 fps", "audio", "wall s",
             "peak RSS MB (upscale process)"],
            [[v["clip_s"], f"{v['frames_in']}/{v['frames_out']}", f"{v['secs_in']:.2f}/{v['secs_out']:.2f}",
              v["size_ok"], v["fps_ok"], v["audio"], v["wall_s"], v["peak_rss_mb"]] for v in vids]))
    return md


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    start(a)
    if a.no_throughput:
        saved = read_results(a.section)
        if saved is None:
            raise SystemExit(f"error: --no-throughput needs benchmarks/results/{a.section}.json from an earlier run")
        res = saved["throughput"]
    else:
        res = throughput(a.export, a.images, a.size, a.threads, a.batch, a.rounds)
    vids = [] if a.no_video else [video(float(x)) for x in a.video_seconds.split(",")]
    write_results(a, report(a, res, vids), {"throughput": res, "video": vids})


if __name__ == "__main__":
    main()
