"""``sr-compress upscale``: run a model on image files, folders or a video."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("upscale")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output folder (or file, for one image or a video).")
@click.option("--model", "model", required=True,
              help="Checkpoint, zoo name, ncnn .param, artifact file or export directory.")
@click.option("--backend", default=None, help="Artifact of an export directory: openvino, onnxruntime, ... "
              "(default: as sr-serve, fp32 OpenVINO first).")
@click.option("--precision", default=None, help="fp32, fp16 or int8 artifact of an export directory.")
@click.option("--scale", type=int, default=None, help="Model scale when a checkpoint cannot tell.")
@click.option("--glob", "pattern", default="*", show_default=True, help="Files to take from folders (recursive).")
@click.option("--tile", type=int, default=None, help="LR tile size (default: whole image).")
@click.option("--overlap", type=int, default=8, show_default=True, help="LR pixels shared by neighbouring tiles.")
@click.option("--outscale", type=float, default=None,
              help="Final scale (e.g. 3.5); the model's output is resized with MATLAB bicubic.")
@click.option("--format", "fmt", type=click.Choice(["png", "webp", "jpg", "same"]), default="png", show_default=True)
@click.option("--suffix", default="", help="Appended to output file names (e.g. _x4).")
@click.option("--quality", type=int, default=95, show_default=True, help="WEBP/JPEG quality.")
@click.option("--skip-existing", is_flag=True, help="Skip inputs whose output exists (resume a run).")
@click.option("--batch", type=int, default=1, show_default=True, help="Tiles per inference call.")
@click.option("--threads", type=int, default=None, help="CPU threads of the backend.")
@click.option("--device", default="cpu", show_default=True)
@click.option("--codec", default=None, help="Video codec (default: libx264; libvpx-vp9 for .webm; gif).")
@click.option("--crf", type=int, default=18, show_default=True, help="Video quality (lower is better).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(inputs: tuple[Path, ...], out: Path, model: str, backend: str | None, precision: str | None,
            scale: int | None, pattern: str, tile: int | None, overlap: int, outscale: float | None, fmt: str,
            suffix: str, quality: int, skip_existing: bool, batch: int, threads: int | None, device: str,
            codec: str | None, crf: int, quiet: bool) -> None:
    """Upscale INPUT files/folders into OUT (relative paths kept), or one video into OUT.

    \b
        sr-compress upscale photos/ -o out/ --model exports/rlfn_x4
        sr-compress upscale a.png -o a_x4.png --model rlfn_x4.pth --outscale 3.5
        sr-compress upscale clip.mp4 -o clip_x4.mp4 --model exports/rlfn_x4 --crf 20
    """
    from ..errors import UserInputError
    from ..upscale import VIDEO_SUFFIXES
    from ..upscale.model import load_upscale_runner

    videos = [p for p in inputs if p.suffix.lower() in VIDEO_SUFFIXES]
    if videos and (len(inputs) > 1 or out.suffix.lower() not in VIDEO_SUFFIXES):
        raise UserInputError("upscale: a video is upscaled on its own into -o OUT.mp4/.mkv/.webm/.mov/.gif")
    for p in inputs:
        if not p.exists():
            raise UserInputError(f"upscale: input {p} does not exist")
    runner = load_upscale_runner(model, backend, precision, device, threads, scale)
    if videos:
        from ..upscale.video import VideoOptions, upscale_video

        res = upscale_video(runner, videos[0], out, VideoOptions(codec, crf, None, tile, overlap, outscale, batch),
                            progress=not quiet)
        click.echo(f"wrote {res.path}: {res.frames} frames at {res.fps} fps, {res.size[0]}x{res.size[1]}, "
                   f"audio {'copied' if res.audio else 'none'}")
        return
    from ..upscale.inputs import collect_jobs
    from ..upscale.pipeline import UpscaleFailed, UpscaleOptions, upscale_files

    jobs = collect_jobs(list(inputs), out, fmt, suffix, pattern)
    opts = UpscaleOptions(tile, overlap, outscale, batch, quality, skip_existing)
    summary = upscale_files(runner, jobs, opts, progress=not quiet)
    click.echo(summary.render())
    if not summary.ok:
        raise UpscaleFailed(f"{len(summary.failed)} of {len(jobs)} input(s) failed (named above); "
                            "the others were written")
