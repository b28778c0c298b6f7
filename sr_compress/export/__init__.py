"""Export a model to deployable artifacts plus ``manifest.json`` — all or nothing.

Everything is built in a hidden temporary directory next to ``out`` and renamed into place at
the end, so a failure (unexportable op, missing TensorRT, bad calibration folder) never leaves a
partial export directory behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..errors import ExportError, UserInputError
from ..models.registry import ModelDescriptor
from .manifest import ArtifactEntry, Manifest, sha256_file

PRECISIONS = ("fp32", "fp16", "int8")
REFERENCE_NAME = "reference.pth"


@dataclass
class ExportOptions:
    onnx: bool = True
    openvino: bool = False
    precisions: list[str] = field(default_factory=lambda: ["fp32"])  # OpenVINO precisions
    onnx_int8: bool = False
    trt: bool = False
    trt_precisions: list[str] = field(default_factory=lambda: ["fp16"])
    calib: str | None = None
    calib_count: int = 64
    max_drop: float | None = None
    validation_data: str | None = None  # Set5-like folder for --max-drop
    int8_float_ends: bool = False  # keep the first and last conv in float in INT8 artifacts
    opset: int = 17
    tile: int = 128
    optimize: str | None = "basic"
    exporter: str = "auto"
    keep_reference: bool = True
    force: bool = False


def parse_precisions(text: str | list[str], option: str = "--precision") -> list[str]:
    items = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    bad = [p for p in items if p not in PRECISIONS]
    if bad or not items:
        raise UserInputError(f"{option}: unknown precision(s) {', '.join(bad) or '(none)'}; use fp32,fp16,int8")
    return list(dict.fromkeys(items))


def _source_hash(desc: ModelDescriptor) -> str | None:
    if desc.source_sha256:
        return desc.source_sha256
    if desc.source and Path(desc.source).is_file():
        return sha256_file(desc.source)
    return None


def _validation_bench(desc: ModelDescriptor, data: str | None) -> Any:
    from ..data.datasets import load_benchmark

    if data:
        return load_benchmark(data, desc.scale)
    # no --val-data: the embedded held-out photographs (present on every machine); pass
    # --val-data ../shared/data/benchmarks/Set5 to optimise the Set5 PSNR itself
    from ..data.defaults import default_benchmark_dir

    return load_benchmark(default_benchmark_dir(desc.scale), desc.scale)


def _entry(tmp: Path, name: str, rel: str, backend: str, precision: str, settings: dict[str, Any],
           opset: int | None, extra_files: list[str] | None = None) -> ArtifactEntry:
    files = [rel, *(extra_files or [])]
    return ArtifactEntry(name=name, path=rel, backend=backend, precision=precision,
                         sha256=sha256_file(tmp / rel), opset=opset, settings=settings, files=files)


def export_model(desc: ModelDescriptor, out: str | Path, opts: ExportOptions) -> Manifest:
    """Write the artifacts selected by ``opts`` and ``manifest.json`` to ``out`` atomically."""
    out = Path(out)
    if not (opts.onnx or opts.openvino or opts.onnx_int8 or opts.trt):
        raise UserInputError("nothing to export: pass at least one of --onnx, --openvino, --onnx-int8, --trt")
    if not desc.onnx_exportable:
        raise ExportError(f"architecture {desc.arch} is marked as not ONNX-exportable in the registry")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not opts.force:
        raise UserInputError(f"--out {out} already exists and is not empty; choose a new folder or pass --force")
    if opts.trt:
        from .tensorrt import check_tensorrt_available

        check_tensorrt_available()  # fail before anything is written
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the published folder should not be
    try:
        manifest = _build(desc, tmp, opts)
        manifest.write(tmp)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest.root = out
    return manifest


def _publish(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name[-8:]}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def _build(desc: ModelDescriptor, tmp: Path, opts: ExportOptions) -> Manifest:
    from .onnx import export_onnx

    desc.model.eval()
    manifest = Manifest(
        arch=desc.arch, scale=desc.scale, size_requirements=desc.summary()["size_requirements"],
        source=desc.source, source_sha256=_source_hash(desc), hyperparams=dict(desc.hyperparams),
        params=desc.params, tile_hint=desc.tile_hint,
    )
    steps = 1 + (len(opts.precisions) if opts.openvino else 0) + int(opts.onnx_int8) + (
        len(opts.trt_precisions) if opts.trt else 0)
    bar = tqdm(total=steps, desc="export", unit="artifact", leave=False)
    onnx_rel = "model.onnx"
    bar.set_postfix_str("onnx")
    settings = export_onnx(desc, tmp / onnx_rel, opset=opts.opset, tile=opts.tile, optimize=opts.optimize,
                           exporter=opts.exporter)
    settings["tile"] = opts.tile
    bar.update()
    if opts.onnx:
        manifest.artifacts.append(_entry(tmp, "onnx-fp32", onnx_rel, "onnxruntime", "fp32", settings, opts.opset))
    patches = None
    needs_calib = opts.onnx_int8 or (opts.openvino and "int8" in opts.precisions) or (
        opts.trt and "int8" in opts.trt_precisions)
    if needs_calib:
        from .quantize import calibration_patches

        patches = calibration_patches(opts.calib, desc.scale, patch=min(opts.tile, 64), count=opts.calib_count,
                                      req=desc.size_requirements)
    calib_name = str(opts.calib) if opts.calib else "default_images"
    if opts.onnx_int8:
        from .quantize import quantize_onnx_static

        bar.set_postfix_str("onnx-int8")
        rel = "model.int8.onnx"
        s = quantize_onnx_static(tmp / onnx_rel, tmp / rel, patches or [], float_ends=opts.int8_float_ends)
        s["calib"] = calib_name
        manifest.artifacts.append(_entry(tmp, "onnx-int8", rel, "onnxruntime", "int8", s, opts.opset))
        bar.update()
    if opts.openvino:
        from . import openvino as ovx

        (tmp / "openvino").mkdir()
        for prec in opts.precisions:
            bar.set_postfix_str(f"openvino-{prec}")
            rel = f"openvino/model.{prec}.xml"
            if prec == "int8":
                bench = _validation_bench(desc, opts.validation_data) if opts.max_drop is not None else None
                model, s = ovx.quantize_int8(tmp / onnx_rel, desc, patches or [], opts.max_drop, bench,
                                             float_ends=opts.int8_float_ends)
                s.update(ovx.save_ir(model, tmp / rel, "fp32"))
                s["calib"] = calib_name
            else:
                s = ovx.save_ir(ovx.convert_onnx(tmp / onnx_rel, desc), tmp / rel, prec)
            manifest.artifacts.append(_entry(tmp, f"openvino-{prec}", rel, "openvino", prec, s, None,
                                             [rel[:-4] + ".bin"]))
            bar.update()
    if opts.trt:
        from .tensorrt import build_engine

        (tmp / "tensorrt").mkdir()
        for prec in opts.trt_precisions:
            bar.set_postfix_str(f"tensorrt-{prec}")
            rel = f"tensorrt/model.{prec}.engine"
            s = build_engine(tmp / onnx_rel, tmp / rel, prec, desc.size_requirements, opts.tile,
                             patches if prec == "int8" else None, timing_cache=tmp / "tensorrt" / "timing.cache")
            manifest.artifacts.append(_entry(tmp, f"tensorrt-{prec}", rel, "tensorrt", prec, s, opts.opset))
            bar.update()
    bar.close()
    if not opts.onnx:
        (tmp / onnx_rel).unlink()
    if opts.keep_reference:
        _save_reference(desc, tmp / REFERENCE_NAME, manifest)
    return manifest


def _save_reference(desc: ModelDescriptor, path: Path, manifest: Manifest) -> None:
    """Keep the exact PyTorch weights next to the artifacts, so validate needs nothing else."""
    try:
        from ..models.load import save_model
    except ImportError:
        return
    try:
        save_model(desc, path)
    except (ValueError, TypeError):  # hyper-parameters not serialisable: the source path must do
        return
    manifest.reference = {"path": path.name, "sha256": sha256_file(path)}
