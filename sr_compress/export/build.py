"""Export a model to deployable artifacts plus ``manifest.json`` — all or nothing.

Everything is built in a hidden temporary directory next to ``out`` and renamed into place at
the end, so a failure (unexportable op, missing TensorRT, bad calibration folder, read-only or
full disk) never leaves a partial export directory behind. Which artifacts are written is
``ExportOptions.targets`` (backend name -> precisions); each backend in the registry
(``sr_compress/backends``) writes its own, in registration order.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..backends import tool_versions
from ..errors import ExportError, SRCompressError, UserInputError
from ..models.registry import ModelDescriptor
from ..runtime.manifest import ArtifactEntry, Manifest, sha256_file

PRECISIONS = ("fp32", "fp16", "int8")
REFERENCE_NAME = "reference.pth"


@dataclass
class ExportOptions:
    # shorthands of the built-in backends (kept for the Python API); they fill ``targets``
    onnx: bool = True
    openvino: bool = False
    precisions: list[str] = field(default_factory=lambda: ["fp32"])  # OpenVINO precisions
    onnx_int8: bool = False
    trt: bool = False
    trt_precisions: list[str] = field(default_factory=lambda: ["fp16"])
    # backend name -> precisions, for any registered backend (e.g. {"ncnn": ["fp32", "fp16"]});
    # merged over the shorthands above
    targets: dict[str, list[str]] = field(default_factory=dict)
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
    # backend-specific settings of backends added later (read by their own export)
    extra: dict[str, Any] = field(default_factory=dict)
    # free-form "how the model was made", copied into manifest.provenance (e.g. by quantize --qat)
    provenance: dict[str, Any] = field(default_factory=dict)
    # artifact name -> an already-built file to adopt instead of building it, e.g.
    # {"openvino-int8": "qat/model.xml", "onnx-int8": "qat/model.qdq.onnx"} (quantize --qat);
    # the sidecar weights (.bin) beside it are copied too
    prebuilt: dict[str, str] = field(default_factory=dict)

    def selected(self) -> dict[str, list[str]]:
        """backend name -> precisions to export, in no particular order."""
        out: dict[str, list[str]] = {}
        ort = (["fp32"] if self.onnx else []) + (["int8"] if self.onnx_int8 else [])
        if ort:
            out["onnxruntime"] = ort
        if self.openvino:
            out["openvino"] = list(self.precisions)
        if self.trt:
            out["tensorrt"] = list(self.trt_precisions)
        out.update({k: list(v) for k, v in self.targets.items() if v})
        return out


def parse_precisions(text: str | list[str], option: str = "--precision",
                     allowed: tuple[str, ...] = PRECISIONS) -> list[str]:
    items = [p.strip().lower() for p in (text.split(",") if isinstance(text, str) else text) if p.strip()]
    bad = [p for p in items if p not in allowed]
    if bad or not items:
        raise UserInputError(f"{option}: unknown precision(s) {', '.join(bad) or '(none)'}; use {','.join(allowed)}")
    return list(dict.fromkeys(items))


def _source_hash(desc: ModelDescriptor) -> str | None:
    if desc.source_sha256:
        return desc.source_sha256
    if desc.source and Path(desc.source).is_file():
        return sha256_file(desc.source)
    return None


class _Context:
    """The :class:`~sr_compress.backends.ExportContext` of one export (shared, built-once inputs)."""

    def __init__(self, desc: ModelDescriptor, tmp: Path, opts: ExportOptions, bar: Any) -> None:
        self.desc, self.tmp, self.opts, self._bar = desc, tmp, opts, bar
        self._onnx: Path | None = None
        self._onnx_settings: dict[str, Any] = {}
        self._patches: list[np.ndarray] | None = None

    def onnx(self) -> Path:
        if self._onnx is None:
            from .onnx import export_onnx

            o = self.opts
            path = self.tmp / "model.onnx"
            self._bar.set_postfix_str("onnx")
            self._onnx_settings = export_onnx(self.desc, path, opset=o.opset, tile=o.tile, optimize=o.optimize,
                                              exporter=o.exporter)
            self._onnx_settings["tile"] = o.tile
            self._onnx = path
        return self._onnx

    def onnx_settings(self) -> dict[str, Any]:
        self.onnx()
        return self._onnx_settings

    def patches(self) -> list[np.ndarray]:
        if self._patches is None:
            from .quantize import calibration_patches

            o = self.opts
            self._patches = calibration_patches(o.calib, self.desc.scale, patch=min(o.tile, 64), count=o.calib_count,
                                                req=self.desc.size_requirements)
        return self._patches

    def calib_name(self) -> str:
        return str(self.opts.calib) if self.opts.calib else "default_images"

    def validation_bench(self) -> Any:
        from ..data.datasets import load_benchmark

        if self.opts.validation_data:
            return load_benchmark(self.opts.validation_data, self.desc.scale)
        # no --val-data: the embedded held-out photographs (present on every machine); pass
        # --val-data ../shared/data/benchmarks/Set5 to optimise the Set5 PSNR itself
        from ..data.defaults import default_benchmark_dir

        return load_benchmark(default_benchmark_dir(self.desc.scale), self.desc.scale)

    def entry(self, name: str, rel: str, backend: str, precision: str, settings: dict[str, Any],
              opset: int | None = None, extra_files: list[str] | None = None) -> ArtifactEntry:
        files = [rel, *(extra_files or [])]
        return ArtifactEntry(name=name, path=rel, backend=backend, precision=precision,
                             sha256=sha256_file(self.tmp / rel), opset=opset, settings=settings, files=files,
                             file_sha256={f: sha256_file(self.tmp / f) for f in files[1:]})

    def adopt(self, name: str, rel: str, sidecars: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """Copy ``opts.prebuilt[name]`` (+ sidecars with the same stem) to ``rel``; its settings, or None."""
        src_s = self.opts.prebuilt.get(name)
        if not src_s:
            return None
        src = Path(src_s)
        if not src.is_file():
            raise UserInputError(f"prebuilt {name}: {src} is not a file")
        dst = self.tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        for suffix in sidecars:
            side = src.with_suffix(suffix)
            if not side.is_file():
                raise UserInputError(f"prebuilt {name}: {side.name} is missing beside {src}")
            shutil.copyfile(side, dst.with_suffix(suffix))
        return {"prebuilt": str(src), "prebuilt_sha256": sha256_file(src)}

    def step(self, label: str) -> None:
        self._bar.set_postfix_str(label)
        self._bar.update()


def plan_export(opts: ExportOptions) -> list[tuple[Any, list[str]]]:
    """(backend, precisions) in registration order, preconditions checked (nothing written yet).

    Unknown backends or precisions are one line; a backend whose dependency is missing raises
    MissingDependency with its install hint.
    """
    from ..backends import BACKENDS, export_backends

    wanted = opts.selected()
    if not wanted:
        flags = ", ".join(f for b in export_backends() for f in b.flags())
        raise UserInputError(f"nothing to export: pass at least one of {flags}")
    unknown = sorted(set(wanted) - set(BACKENDS.names()))
    if unknown:
        raise UserInputError(f"unknown backend {unknown[0]!r} (known: {', '.join(BACKENDS.names())})")
    plan = []
    for name in BACKENDS.names():
        if name in wanted:
            backend = BACKENDS.get(name)  # MissingDependency (with the install hint) before anything is written
            precs = parse_precisions(wanted[name], f"{name} precisions", backend.precisions)
            plan.append((backend, precs))
    for backend, precs in plan:
        backend.check(opts, precs)  # fail before anything is written
    return plan


def export_model(desc: ModelDescriptor, out: str | Path, opts: ExportOptions) -> Manifest:
    """Write the artifacts selected by ``opts`` and ``manifest.json`` to ``out`` atomically."""
    out = Path(out)
    plan = plan_export(opts)
    from ..backends.adapt import check_export

    for backend, _precs in plan:
        check_export(backend, desc.size_requirements, opts.tile, desc.arch)  # before anything is written
    if any(b.needs_onnx for b, _ in plan) and not desc.onnx_exportable:
        raise ExportError(f"architecture {desc.arch} is marked as not ONNX-exportable in the registry")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not opts.force:
        raise UserInputError(f"--out {out} already exists and is not empty; choose a new folder or pass --force")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as err:
        raise _write_error(out, err) from None
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the published folder should not be
    try:
        manifest = _build(desc, tmp, opts, plan)
        manifest.write(tmp)
        _publish(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _write_error(out, err) from None
    except SRCompressError as err:
        disk_full = _disk_full(out.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        if disk_full:  # a truncated file read back by a tool reads as "INVALID_PROTOBUF" etc.
            raise _write_error(out, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from None
        raise err from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest.root = out
    return manifest


def _disk_full(folder: Path, need: int = 16 << 20) -> bool:
    try:
        return shutil.disk_usage(folder).free < need
    except OSError:
        return False


def _write_error(out: Path, err: OSError) -> ExportError:
    """One line naming the folder that could not be written (read-only, not a folder, disk full)."""
    folder = next((p for p in [out.parent, *out.parent.parents] if p.exists()), out.parent)
    if folder.exists() and not folder.is_dir():
        return ExportError(f"--out {out}: {folder} is a file, not a folder; choose a writable folder for --out")
    why = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        return ExportError(f"--out {out}: the disk holding {folder} is full ({why}); free some space or "
                           "choose another --out")
    return ExportError(f"--out {out}: cannot write to {folder} ({why}); choose a writable folder for --out")


def _publish(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name[-8:]}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def _build(desc: ModelDescriptor, tmp: Path, opts: ExportOptions, plan: list[tuple[Any, list[str]]]) -> Manifest:
    desc.model.eval()
    manifest = Manifest(
        arch=desc.arch, scale=desc.scale, size_requirements=desc.summary()["size_requirements"],
        source=desc.source, source_sha256=_source_hash(desc), hyperparams=dict(desc.hyperparams),
        params=desc.params, tile_hint=desc.tile_hint, provenance=dict(opts.provenance), tools=tool_versions(),
    )
    steps = int(any(b.needs_onnx for b, _ in plan)) + sum(len(p) for _, p in plan)
    bar = tqdm(total=steps, desc="export", unit="artifact", leave=False)
    ctx = _Context(desc, tmp, opts, bar)
    if any(b.needs_onnx for b, _ in plan):
        ctx.onnx()
        bar.update()
    for backend, precs in plan:
        manifest.artifacts.extend(backend.export(ctx, precs))
    bar.close()
    onnx = tmp / "model.onnx"
    if onnx.exists() and not any(a.path == "model.onnx" for a in manifest.artifacts):
        onnx.unlink()  # built only as the source of other artifacts
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
