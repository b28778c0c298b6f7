"""``sr-compress eval``: PSNR/SSIM of a checkpoint (or bicubic) on benchmark folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..backends import eval_suffixes

_RUNNER_SUFFIXES = eval_suffixes()  # artifact suffixes of the registered backends


_COLUMNS = (("psnr", "PSNR", 8, 4), ("ssim", "SSIM", 7, 4), ("niqe", "NIQE", 7, 4),
            ("psnr_ref", "PSNR-ref", 8, 4), ("ssim_ref", "SSIM-ref", 8, 4))


def _format_table(results: list[dict[str, Any]], verbose: bool) -> str:
    cols = [c for c in _COLUMNS if any(c[0] in r for r in results)]
    name_w = max([7] + [len(r["dataset"]) for r in results])
    if verbose:
        name_w = max([name_w] + [len(i["name"]) + 2 for r in results for i in r["images"]])

    def cells(d: dict[str, Any]) -> str:
        return "".join(f"  {d[k]:>{w}.{p}f}" if k in d else f"  {'-':>{w}}" for k, _, w, p in cols)

    head = f"{'Dataset':<{name_w}}  {'Scale':>5}  {'Images':>6}" + "".join(f"  {t:>{w}}" for _, t, w, _ in cols)
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r['dataset']:<{name_w}}  {'x' + str(r['scale']):>5}  {r['n_images']:>6}" + cells(r))
        if verbose:
            for i in r["images"]:
                lines.append(f"{'  ' + i['name']:<{name_w}}  {'':>5}  {'':>6}" + cells(i))
    return "\n".join(lines)


@click.command("eval")
@click.option("--model", "model", required=True,
              help="Checkpoint path, zoo name, export directory, exported model (.onnx / OpenVINO .xml), "
                   "or 'bicubic'.")
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
@click.option("--backend", default=None, help="Artifact of an export directory (as sr-serve).")
@click.option("--precision", default=None, help="fp32/fp16/int8 artifact of an export directory.")
@click.option("--metrics", "metrics_text", default="psnr,ssim", show_default=True,
              help="Comma-separated: psnr, ssim, niqe. Only niqe: every image in --data is an LR input "
                   "(no HR needed, e.g. RealSRSet).")
@click.option("--niqe-params", type=click.Path(dir_okay=False), default=None,
              help="BasicSR's niqe_pris_params.npz (default: $SR_COMPRESS_NIQE_PARAMS).")
@click.option("--save-images", "save_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write every SR output to DIR/<dataset>/<image>.png.")
@click.option("--reference-model", default=None,
              help="Teacher (same forms as --model): also report PSNR/SSIM of the outputs against its outputs.")
def command(model: str, data: str | None, scale: int | None, verbose: bool, json_path: Path | None, rgb: bool,
            y_round: bool, crop_border: int | None, device: str, tile: int | None, backend: str | None,
            precision: str | None, metrics_text: str, niqe_params: str | None, save_dir: Path | None,
            reference_model: str | None) -> None:
    """Evaluate MODEL on benchmark folders: PSNR/SSIM on Y, crop border = scale, uint8 rounding.

    Rows are named after the dataset folders, e.g.

    \b
        sr-compress eval --model bicubic --data ../shared/data/benchmarks/Set5 --scale 4
        sr-compress eval --model runs/demo/student.pth --data Set5,Set14 -v --json r.json
    """
    from ..data.datasets import load_benchmark
    from ..errors import UserInputError
    from ..evaluate.sr_eval import (
        FULL_REFERENCE,
        EvalExtras,
        evaluate_model,
        evaluate_no_reference,
        load_upscaler,
        parse_metrics,
    )
    from ..metrics.sr import Protocol

    if scale is not None and scale < 1:
        raise UserInputError(f"--scale must be >= 1, got {scale}")
    if rgb and y_round:
        raise UserInputError("--y-round only applies to Y; drop it or drop --rgb")
    metrics = parse_metrics(metrics_text)
    fn, scale, model_info = load_upscaler(model, scale, device, tile, backend, precision, _RUNNER_SUFFIXES)
    ref_fn = None
    if reference_model:
        ref_fn, _, ref_info = load_upscaler(reference_model, scale, device, tile, runner_suffixes=_RUNNER_SUFFIXES)
        model_info["reference_model"] = ref_info
    extras = EvalExtras(metrics, save_dir, ref_fn, niqe_params)
    if data:
        paths = [p.strip() for p in data.split(",") if p.strip()]
    else:
        from ..data.defaults import default_benchmark_dir

        paths = [str(default_benchmark_dir(scale))]
        click.echo(f"no --data given: using the embedded validation images in {paths[0]}", err=True)
    protocol = Protocol(y_channel=not rgb, crop_border=crop_border, y_round=y_round)
    results = []
    for p in paths:
        if not any(m in FULL_REFERENCE for m in metrics):
            results.append(evaluate_no_reference(fn, p, scale, protocol, progress=True, extras=extras))
            continue
        bench = load_benchmark(p, scale)
        results.append(evaluate_model(fn, bench, scale, protocol=protocol, progress=True, extras=extras))
    click.echo(f"model: {model_info.get('arch', model_info['model'])}"
               + (f" ({model_info['params']:,} params)" if "params" in model_info else "")
               + f", x{scale}")
    click.echo(_format_table(results, verbose))
    if any(m in FULL_REFERENCE for m in metrics):
        click.echo(f"protocol: {protocol.describe(scale)}")
    if "niqe" in metrics:
        crop = protocol.crop_border if protocol.crop_border is not None else scale
        click.echo(f"NIQE: Y (BT.601) of the uint8 SR output, crop_border={crop}, BasicSR's pristine model; "
                   "lower is better")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"model": model_info, "scale": scale, "protocol": protocol.as_dict(scale), "results": results}
        json_path.write_text(json.dumps(payload, indent=2))
        click.echo(f"wrote {json_path}")
    if save_dir is not None:
        click.echo(f"SR outputs in {save_dir}/<dataset>/")
