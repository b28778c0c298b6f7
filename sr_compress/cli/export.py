"""``sr-compress export``: a checkpoint → ONNX / OpenVINO / TensorRT artifacts + manifest.json."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click


@click.command("export")
@click.argument("model")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Export directory (created).")
@click.option("--scale", type=int, default=None, help="Check (or pick) the model's scale.")
@click.option("--onnx/--no-onnx", "onnx", default=True, show_default=True, help="Keep the FP32 ONNX artifact.")
@click.option("--openvino", is_flag=True, help="Write OpenVINO IR for each --precision.")
@click.option("--precision", default="fp32", show_default=True, help="OpenVINO precisions: fp32,fp16,int8.")
@click.option("--onnx-int8", is_flag=True, help="Also write a static-QDQ INT8 ONNX (onnxruntime.quantization).")
@click.option("--trt", is_flag=True, help="Build TensorRT engines (needs the [gpu] extra and a CUDA GPU).")
@click.option("--trt-precision", default="fp16", show_default=True, help="TensorRT precisions: fp32,fp16,int8.")
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help="Folder of images for INT8 calibration (default: the embedded default images).")
@click.option("--calib-count", type=int, default=64, show_default=True, help="Number of calibration patches.")
@click.option("--max-drop", type=float, default=None,
              help="OpenVINO INT8: NNCF accuracy-controlled quantization with this max PSNR drop (dB).")
@click.option("--val-data", type=click.Path(path_type=Path), default=None,
              help="Validation set for --max-drop, e.g. ../shared/data/benchmarks/Set5 "
                   "(default: the embedded held-out images).")
@click.option("--int8-float-ends", is_flag=True,
              help="INT8 (ONNX and OpenVINO): keep the first and last convolution in float.")
@click.option("--opset", type=int, default=17, show_default=True)
@click.option("--tile", type=int, default=128, show_default=True,
              help="LR tile size the artifacts will mostly see (TensorRT profile, calibration patch).")
@click.option("--exporter", type=click.Choice(["auto", "legacy", "dynamo"]), default="auto", show_default=True)
@click.option("--no-optimize", is_flag=True, help="Skip onnxruntime's offline graph optimization.")
@click.option("--triton", "triton_repo", type=click.Path(path_type=Path), default=None,
              help="Also write a Triton model repository for the export into this folder.")
@click.option("--force", is_flag=True, help="Replace --out if it already exists.")
def command(model: str, out: Path, scale: int | None, onnx: bool, openvino: bool, precision: str,
            onnx_int8: bool, trt: bool, trt_precision: str, calib: Path | None, calib_count: int,
            max_drop: float | None, val_data: Path | None, int8_float_ends: bool, opset: int, tile: int, exporter: str,
            no_optimize: bool, triton_repo: Path | None, force: bool) -> None:
    """Export MODEL (a checkpoint path or zoo name) to deployable artifacts in --out."""
    import torch

    from ..errors import MissingDependency, UserInputError
    from ..export import ExportOptions, export_model, parse_precisions
    from ..models.load import load_model

    if calib is not None and not calib.is_dir():
        raise UserInputError(f"--calib {calib}: not a folder of images")
    if max_drop is not None and max_drop <= 0:
        raise UserInputError(f"--max-drop must be a positive number of dB, got {max_drop}")
    opts = ExportOptions(
        onnx=onnx, openvino=openvino, precisions=parse_precisions(precision), onnx_int8=onnx_int8, trt=trt,
        trt_precisions=parse_precisions(trt_precision, "--trt-precision"), calib=str(calib) if calib else None,
        calib_count=calib_count, max_drop=max_drop, validation_data=str(val_data) if val_data else None,
        int8_float_ends=int8_float_ends,
        opset=opset, tile=tile, optimize=None if no_optimize else "basic", exporter=exporter, force=force,
    )
    if trt:
        from ..export.tensorrt import check_tensorrt_available

        check_tensorrt_available()
    if triton_repo is not None:
        if importlib.util.find_spec("sr_compress.export.triton") is None:
            raise MissingDependency("--triton: sr_compress.export.triton is not available in this installation")
        if not onnx:
            raise UserInputError("--triton needs the ONNX artifact: drop --no-onnx")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    desc = load_model(model, scale)
    manifest = export_model(desc, out, opts)
    click.echo(f"exported {desc.arch} x{desc.scale} ({desc.params:,} params) to {out}")
    for a in manifest.artifacts:
        size = sum((out / f).stat().st_size for f in a.files) / 1e6
        click.echo(f"  {a.name:<16} {a.path:<32} {size:8.2f} MB  sha256 {a.sha256[:12]}")
    if triton_repo is not None:
        from ..export.triton import write_triton_repo

        model_dir = write_triton_repo(out, triton_repo, tile=tile, device="gpu" if trt else "cpu",
                                      kind="plan" if trt else "onnx")
        click.echo(f"  triton model repository: {model_dir}")
