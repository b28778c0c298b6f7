"""``sr-compress export``: a checkpoint → the artifacts of the selected backends + manifest.json.

The backend flags (``--onnx``, ``--openvino``, ``--trt``, ``--ncnn``, ``--triton`` ...) are not
written here: every backend in the registry (``sr_compress/backends``) adds its own options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _with_backend_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    from ..backends import export_backends

    for backend in reversed(export_backends()):
        for option in reversed(backend.cli_options()):
            fn = option(fn)
    return fn


@click.command("export")
@click.argument("model")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Export directory (created).")
@click.option("--scale", type=int, default=None, help="Check (or pick) the model's scale.")
@_with_backend_options
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help="Folder of images for INT8 calibration (default: the embedded default images).")
@click.option("--calib-count", type=int, default=64, show_default=True, help="Number of calibration patches.")
@click.option("--int8-float-ends", is_flag=True,
              help="INT8 (ONNX and OpenVINO): keep the first and last convolution in float.")
@click.option("--tile", type=int, default=128, show_default=True,
              help="LR tile size the artifacts will mostly see (TensorRT profile, calibration patch).")
@click.option("--force", is_flag=True, help="Replace --out if it already exists.")
def command(model: str, out: Path, scale: int | None, calib: Path | None, calib_count: int,
            int8_float_ends: bool, tile: int, force: bool, **values: Any) -> None:
    """Export MODEL (a checkpoint path or zoo name) to deployable artifacts in --out."""
    import torch

    from ..backends import export_backends
    from ..errors import UserInputError
    from ..export import ExportOptions, export_model
    from ..export.build import plan_export
    from ..models.load import load_model

    if calib is not None and not calib.is_dir():
        raise UserInputError(f"--calib {calib}: not a folder of images")
    opts = ExportOptions(onnx=False, calib=str(calib) if calib else None, calib_count=calib_count,
                         int8_float_ends=int8_float_ends, tile=tile, force=force)
    targets: dict[str, list[str]] = {}
    for backend in export_backends():
        precisions, updates = backend.select(values)
        for key, val in updates.items():
            if hasattr(opts, key):
                setattr(opts, key, val)
            else:
                opts.extra[key] = val
        if precisions:
            targets[backend.name] = precisions
    opts.targets = targets
    plan_export(opts)  # availability (TensorRT, a GPU) is checked before the model is loaded
    torch.set_num_threads(max(1, torch.get_num_threads()))
    desc = load_model(model, scale)
    manifest = export_model(desc, out, opts)
    click.echo(f"exported {desc.arch} x{desc.scale} ({desc.params:,} params) to {out}")
    for a in manifest.artifacts:
        size = sum((out / f).stat().st_size for f in a.files) / 1e6
        click.echo(f"  {a.name:<16} {a.path:<32} {size:8.2f} MB  sha256 {a.sha256[:12]}")
    for backend in export_backends():
        line = backend.after_publish(out, manifest, values | {"tile": tile})
        if line:
            click.echo(f"  {line}")
