"""``sr-compress eval``: PSNR/SSIM of a checkpoint (or bicubic) on benchmark folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..backends import eval_suffixes

_RUNNER_SUFFIXES = eval_suffixes()  # artifact suffixes of the registered backends


def _format_table(results: list[dict[str, Any]], verbose: bool) -> str:
    name_w = max([7] + [len(r["dataset"]) for r in results])
    if verbose:
        name_w = max([name_w] + [len(i["name"]) + 2 for r in results for i in r["images"]])
    head = f"{'Dataset':<{name_w}}  {'Scale':>5}  {'Images':>6}  {'PSNR':>8}  {'SSIM':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r['dataset']:<{name_w}}  {'x' + str(r['scale']):>5}  {r['n_images']:>6}  "
            f"{r['psnr']:>8.4f}  {r['ssim']:>7.4f}"
        )
        if verbose:
            for i in r["images"]:
                lines.append(f"{'  ' + i['name']:<{name_w}}  {'':>5}  {'':>6}  {i['psnr']:>8.4f}  {i['ssim']:>7.4f}")
    return "\n".join(lines)


def _load_upscaler(model: str, scale: int | None, device: str, tile: int | None) -> tuple[Any, int, dict]:
    """(upscale_fn, scale, model facts) for 'bicubic', an exported artifact or a checkpoint."""
    from ..errors import UserInputError
    from ..evaluate.sr_eval import bicubic_upscale_fn, runner_upscale_fn, torch_upscale_fn

    if model.lower() == "bicubic":
        if scale is None:
            raise UserInputError("--model bicubic needs --scale (2, 3, 4, ...)")
        return bicubic_upscale_fn(scale), scale, {"model": "bicubic"}
    path = Path(model).expanduser()
    if path.suffix.lower() in _RUNNER_SUFFIXES:
        from ..runtime.runners import make_runner

        runner = make_runner(path, device=device)
        s = runner.info.scale
        if scale is not None and scale != s:
            raise UserInputError(f"{path}: the exported model is x{s}, but --scale is {scale}")
        info = {"model": str(path), "backend": runner.info.backend, "precision": runner.info.precision}
        return runner_upscale_fn(runner, tile=tile), s, info
    from ..models.load import load_model

    desc = load_model(model, scale=scale)
    if scale is not None and desc.scale != scale:
        raise UserInputError(f"{model}: the checkpoint is x{desc.scale}, but --scale is {scale}")
    info = {"model": str(model), "arch": desc.arch, "params": desc.params, "sha256": desc.source_sha256}
    return torch_upscale_fn(desc, device=device), desc.scale, info


@click.command("eval")
@click.option("--model", "model", required=True,
              help="Checkpoint path, zoo name, exported model (.onnx / OpenVINO .xml), or 'bicubic'.")
@click.option("--data", "data", default=None,
              help="Comma-separated dataset folders (HR/ + LR_bicubic/X<s>/, or HR images only). "
                   "Default: the embedded scikit-image validation images.")
@click.option("--scale", type=int, default=None, help="Upscaling factor (default: the model's).")
@click.option("-v", "--verbose", is_flag=True, help="Also print per-image PSNR/SSIM.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write all results (per image, means, protocol, model) to this JSON file.")
@click.option("--rgb", is_flag=True, help="Measure on RGB instead of Y (BT.601).")
@click.option("--y-round", is_flag=True,
              help="Round Y to integers before the metric (MATLAB rgb2ycbcr on uint8 convention).")
@click.option("--crop-border", type=int, default=None, help="Pixels cropped per side (default: the scale).")
@click.option("--device", default="cpu", show_default=True, help="torch/runtime device.")
@click.option("--tile", type=int, default=None, help="Tile size for exported models (default: whole image).")
def command(model: str, data: str | None, scale: int | None, verbose: bool, json_path: Path | None, rgb: bool,
            y_round: bool, crop_border: int | None, device: str, tile: int | None) -> None:
    """Evaluate MODEL on benchmark folders: PSNR/SSIM on Y, crop border = scale, uint8 rounding.

    Rows are named after the dataset folders, e.g.

    \b
        sr-compress eval --model bicubic --data ../shared/data/benchmarks/Set5 --scale 4
        sr-compress eval --model runs/demo/student.pth --data Set5,Set14 -v --json r.json
    """
    from ..data.datasets import load_benchmark
    from ..errors import UserInputError
    from ..evaluate.sr_eval import evaluate_model
    from ..metrics.sr import Protocol

    if scale is not None and scale < 1:
        raise UserInputError(f"--scale must be >= 1, got {scale}")
    if rgb and y_round:
        raise UserInputError("--y-round only applies to Y; drop it or drop --rgb")
    fn, scale, model_info = _load_upscaler(model, scale, device, tile)
    if data:
        paths = [p.strip() for p in data.split(",") if p.strip()]
    else:
        from ..data.defaults import default_benchmark_dir

        paths = [str(default_benchmark_dir(scale))]
        click.echo(f"no --data given: using the embedded validation images in {paths[0]}", err=True)
    protocol = Protocol(y_channel=not rgb, crop_border=crop_border, y_round=y_round)
    results = []
    for p in paths:
        bench = load_benchmark(p, scale)
        results.append(evaluate_model(fn, bench, scale, protocol=protocol, progress=True))
    click.echo(f"model: {model_info.get('arch', model_info['model'])}"
               + (f" ({model_info['params']:,} params)" if "params" in model_info else "")
               + f", x{scale}")
    click.echo(_format_table(results, verbose))
    click.echo(f"protocol: {protocol.describe(scale)}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"model": model_info, "scale": scale, "protocol": protocol.as_dict(scale), "results": results}
        json_path.write_text(json.dumps(payload, indent=2))
        click.echo(f"wrote {json_path}")
