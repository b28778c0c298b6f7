"""NVIDIA Triton Inference Server model repository for an exported model.

Layout written (see https://github.com/triton-inference-server/server docs/model_repository.md)::

    REPO/NAME/config.pbtxt
    REPO/NAME/1/model.onnx      (platform onnxruntime_onnx)   or   REPO/NAME/1/model.plan (tensorrt_plan)

The split of work (docs/triton.md): Triton batches and runs fixed-size LR tiles behind; the
tiling client in front (``sr-serve`` or ``runtime/tiling.py``) cuts images into equal tiles,
sends them, and feathers the SR tiles back together. The config therefore declares -1 H/W (any
tile size the engine accepts) and dynamic batching with preferred batch sizes, so tiles of
different requests share one GPU launch.

The written ``config.pbtxt`` is parsed back with a programmatic subset of Triton's
``model_config.proto`` (:func:`model_config_class`) before returning, so a malformed file is
caught here rather than when Triton starts.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends import find_manifest_for, read_manifest
from ..errors import ExportError, UserInputError
from ..runtime.manifest import MANIFEST_NAME, Manifest

PLATFORMS = {"onnx": "onnxruntime_onnx", "plan": "tensorrt_plan"}
MODEL_FILES = {"onnx": "model.onnx", "plan": "model.plan"}
# ONNX TensorProto elem_type -> Triton DataType name
ONNX_TO_TRITON = {1: "TYPE_FP32", 10: "TYPE_FP16", 11: "TYPE_FP64", 16: "TYPE_BF16", 2: "TYPE_UINT8",
                  3: "TYPE_INT8", 6: "TYPE_INT32", 7: "TYPE_INT64"}
# Triton's DataType enum numbers (model_config.proto)
TRITON_DATA_TYPES = {"TYPE_INVALID": 0, "TYPE_BOOL": 1, "TYPE_UINT8": 2, "TYPE_UINT16": 3, "TYPE_UINT32": 4,
                     "TYPE_UINT64": 5, "TYPE_INT8": 6, "TYPE_INT16": 7, "TYPE_INT32": 8, "TYPE_INT64": 9,
                     "TYPE_FP16": 10, "TYPE_FP32": 11, "TYPE_FP64": 12, "TYPE_STRING": 13, "TYPE_BF16": 14}
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass
class TensorSpec:
    name: str
    data_type: str  # Triton TYPE_*
    dims: list[int]  # without the batch dimension; -1 = dynamic


def onnx_io(path: str | Path) -> tuple[TensorSpec, TensorSpec, bool]:
    """(input, output, has_dynamic_batch) of the ONNX graph; batch dimension stripped."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    ins = [i for i in model.graph.input if i.name not in inits]
    if len(ins) != 1 or len(model.graph.output) != 1:
        raise ExportError(f"{path}: expected one image input and one output, got {len(ins)} and "
                          f"{len(model.graph.output)}")

    def spec(v: Any) -> tuple[TensorSpec, bool]:
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        if len(dims) != 4:
            raise ExportError(f"{path}: tensor {v.name!r} has rank {len(dims)}; an SR model takes NCHW")
        dtype = ONNX_TO_TRITON.get(t.elem_type)
        if dtype is None:
            raise ExportError(f"{path}: tensor {v.name!r} has ONNX element type {t.elem_type}, unknown to Triton")
        return TensorSpec(v.name, dtype, dims[1:]), dims[0] == -1

    inp, dyn_in = spec(ins[0])
    out, dyn_out = spec(model.graph.output[0])
    return inp, out, dyn_in and dyn_out


def _dims(d: list[int]) -> str:
    return "[ " + ", ".join(str(x) for x in d) + " ]"


def render_config(
    name: str,
    kind: str,
    inp: TensorSpec,
    out: TensorSpec,
    max_batch_size: int,
    preferred: list[int],
    max_queue_delay_us: int,
    instances: int,
    device: str,
    parameters: dict[str, str],
) -> str:
    """``config.pbtxt`` text (protobuf text format of ``inference.ModelConfig``)."""
    lines = [
        f'name: "{name}"',
        f'platform: "{PLATFORMS[kind]}"',
        f"max_batch_size: {max_batch_size}",
    ]
    for section, t in (("input", inp), ("output", out)):
        lines += [f"{section} [", "  {", f'    name: "{t.name}"', f"    data_type: {t.data_type}",
                  f"    dims: {_dims(t.dims)}", "  }", "]"]
    if max_batch_size > 0:
        lines += ["dynamic_batching {", f"  preferred_batch_size: {_dims(preferred)}",
                  f"  max_queue_delay_microseconds: {max_queue_delay_us}", "}"]
    lines += ["instance_group [", "  {", f"    count: {instances}",
              f"    kind: {'KIND_GPU' if device == 'gpu' else 'KIND_CPU'}", "  }", "]"]
    for k, v in parameters.items():
        lines += ["parameters {", f'  key: "{k}"', f'  value: {{ string_value: "{v}" }}', "}"]
    return "\n".join(lines) + "\n"


def model_config_class() -> type:
    """The subset of Triton's ``inference.ModelConfig`` message that our configs use.

    Built with ``descriptor_pb2`` because neither Triton's generated Python module nor ``protoc``
    is available; field names, numbers and enum values follow ``model_config.proto``.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="sr_compress_triton_model_config.proto",
                                             package="inference", syntax="proto3")
    dt = fdp.enum_type.add(name="DataType")
    for k, v in TRITON_DATA_TYPES.items():
        dt.value.add(name=k, number=v)

    def msg(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> descriptor_pb2.DescriptorProto:
        m = fdp.message_type.add(name=name)
        for fname, num, ftype, label, tname in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = tname
        return m

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    io_fields = [("name", 1, F.TYPE_STRING, opt, None), ("data_type", 2, F.TYPE_ENUM, opt, ".inference.DataType"),
                 ("dims", 4, F.TYPE_INT64, rep, None)]
    msg("ModelInput", io_fields)
    msg("ModelOutput", [("name", 1, F.TYPE_STRING, opt, None),
                        ("data_type", 2, F.TYPE_ENUM, opt, ".inference.DataType"),
                        ("dims", 3, F.TYPE_INT64, rep, None)])
    msg("ModelDynamicBatching", [("preferred_batch_size", 1, F.TYPE_INT32, rep, None),
                                 ("max_queue_delay_microseconds", 2, F.TYPE_UINT64, opt, None)])
    grp = msg("ModelInstanceGroup", [("name", 1, F.TYPE_STRING, opt, None), ("count", 2, F.TYPE_INT32, opt, None),
                                     ("gpus", 3, F.TYPE_INT32, rep, None),
                                     ("kind", 4, F.TYPE_ENUM, opt, ".inference.ModelInstanceGroup.Kind")])
    kind = grp.enum_type.add(name="Kind")
    for i, k in enumerate(("KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL")):
        kind.value.add(name=k, number=i)
    msg("ModelParameter", [("string_value", 1, F.TYPE_STRING, opt, None)])
    cfg = msg("ModelConfig", [
        ("name", 1, F.TYPE_STRING, opt, None), ("platform", 2, F.TYPE_STRING, opt, None),
        ("max_batch_size", 4, F.TYPE_INT32, opt, None),
        ("input", 5, F.TYPE_MESSAGE, rep, ".inference.ModelInput"),
        ("output", 6, F.TYPE_MESSAGE, rep, ".inference.ModelOutput"),
        ("instance_group", 7, F.TYPE_MESSAGE, rep, ".inference.ModelInstanceGroup"),
        ("dynamic_batching", 11, F.TYPE_MESSAGE, opt, ".inference.ModelDynamicBatching"),
        ("parameters", 14, F.TYPE_MESSAGE, rep, ".inference.ModelConfig.ParametersEntry"),
        ("backend", 17, F.TYPE_STRING, opt, None),
    ])
    entry = cfg.nested_type.add(name="ParametersEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=opt)
    entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=opt, type_name=".inference.ModelParameter")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


def parse_config(text: str) -> Any:
    """Parse ``config.pbtxt`` text into a ModelConfig message (raises ``ExportError`` when malformed)."""
    from google.protobuf import text_format

    msg = model_config_class()()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as err:
        raise ExportError(f"generated config.pbtxt does not parse as a Triton ModelConfig: {err}") from None
    return msg


def _resolve_source(source: str | Path, kind: str) -> tuple[Path, Path, Manifest | None]:
    """(model file to copy, ONNX file to read the I/O from, manifest)."""
    src = Path(source)
    if not src.exists():
        raise UserInputError(f"{src} does not exist; pass an export directory or an .onnx/.plan file")
    manifest: Manifest | None = None
    if src.is_dir():
        if not (src / MANIFEST_NAME).is_file():
            raise UserInputError(f"{src} has no {MANIFEST_NAME}; pass a directory written by 'sr-compress export'")
        manifest = read_manifest(src)
        onnx_arts = sorted((a for a in manifest.artifacts if a.path.endswith(".onnx")),
                           key=lambda a: {"fp32": 0, "fp16": 1}.get(a.precision, 2))
        if not onnx_arts:
            raise UserInputError(f"{src}: the export has no ONNX artifact; re-run 'sr-compress export' with onnx")
        onnx_path = manifest.path_of(onnx_arts[0])
        if kind == "onnx":
            return onnx_path, onnx_path, manifest
        plans = [a for a in manifest.artifacts if a.backend == "tensorrt"]
        if not plans:
            raise UserInputError(f"{src}: no TensorRT engine in the export; run 'sr-compress export --trt' on a "
                                 "GPU machine first, or use kind='onnx'")
        return manifest.path_of(plans[0]), onnx_path, manifest
    found = find_manifest_for(src)
    manifest = found[0] if found else None
    if src.suffix == ".onnx":
        if kind != "onnx":
            raise UserInputError(f"{src}: kind='plan' needs a TensorRT engine (.plan/.engine), not an ONNX file")
        return src, src, manifest
    if src.suffix in (".plan", ".engine"):
        if kind != "plan":
            raise UserInputError(f"{src}: a TensorRT engine needs kind='plan'")
        sibling = None
        if manifest is not None:
            sibling = next((manifest.path_of(a) for a in manifest.artifacts if a.path.endswith(".onnx")), None)
        if sibling is None or not sibling.is_file():
            raise UserInputError(f"{src}: cannot find the ONNX file the engine was built from (needed for tensor "
                                 "names and dims); pass the export directory instead")
        return src, sibling, manifest
    raise UserInputError(f"{src}: expected an export directory, .onnx, or .plan/.engine file")


def write_triton_repo(
    source: str | Path,
    repo_dir: str | Path,
    name: str | None = None,
    max_batch_size: int = 8,
    tile: int = 128,
    instances: int = 1,
    kind: str = "onnx",
    device: str | None = None,
    max_queue_delay_us: int = 5000,
) -> Path:
    """Write ``REPO/NAME/{config.pbtxt,1/model.*}`` for ``source``; returns the model directory.

    ``tile`` is the LR tile size clients should send (recorded as a parameter; the dims stay -1
    so other sizes the engine accepts work too). ``device`` defaults to gpu (the reason to use
    Triton); pass "cpu" for an ONNX model served on CPU instances.
    """
    if kind not in PLATFORMS:
        raise UserInputError(f"kind must be 'onnx' or 'plan', got {kind!r}")
    if max_batch_size < 0 or instances < 1 or tile < 1:
        raise UserInputError("max_batch_size must be >= 0, instances >= 1 and tile >= 1")
    device = device or "gpu"
    if device not in ("gpu", "cpu"):
        raise UserInputError(f"device must be 'gpu' or 'cpu', got {device!r}")
    if kind == "plan" and device != "gpu":
        raise UserInputError("TensorRT plans run on GPU instances only; use device='gpu'")
    model_file, onnx_file, manifest = _resolve_source(source, kind)
    name = name or (manifest.arch + f"_x{manifest.scale}" if manifest else model_file.stem)
    if not _NAME_RE.match(name):
        raise UserInputError(f"Triton model name {name!r} may only use letters, digits, '_', '-', '.'")
    inp, out, dyn_batch = onnx_io(onnx_file)
    if max_batch_size > 0 and not dyn_batch:
        raise ExportError(f"{onnx_file}: the batch dimension is fixed; re-export with a dynamic batch axis or "
                          "use max_batch_size=0")
    if inp.dims[1:] != [-1, -1] and inp.dims[1:] != [tile, tile]:
        raise ExportError(f"{onnx_file}: static input {inp.dims[1:]} does not match tile={tile}; pass --tile "
                          f"{inp.dims[1]}")
    preferred = sorted({b for b in (max_batch_size // 2, max_batch_size) if b >= 1})
    params = {"sr_compress.tile": str(tile)}
    if manifest is not None:
        params.update({"sr_compress.scale": str(manifest.scale), "sr_compress.arch": manifest.arch,
                       "sr_compress.multiple_of": str(manifest.requirements.multiple_of)})
    text = render_config(name, kind, inp, out, max_batch_size, preferred, max_queue_delay_us, instances, device,
                         params)
    parse_config(text)  # never hand Triton a file it cannot read
    model_dir = Path(repo_dir) / name
    version = model_dir / "1"
    version.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_file, version / MODEL_FILES[kind])
    if kind == "onnx":
        # external weights keep their original file name: the graph refers to it by that name
        for extra in model_file.parent.glob(model_file.name + ".data"):
            shutil.copyfile(extra, version / extra.name)
    (model_dir / "config.pbtxt").write_text(text)
    return model_dir
