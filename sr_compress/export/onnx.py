"""PyTorch → ONNX with dynamic batch/height/width, checked, optimized, self-contained.

Exporter choice: the TorchScript-based exporter (``dynamo=False``) is tried first: it is fast,
handles dynamic H/W of conv/pixel-shuffle networks without guards, and writes one file. The
dynamo exporter (``torch.export``) is the fallback; which one produced the file is recorded in
the manifest settings. When both fail, :func:`map_export_error` names the unsupported operator
and the module(s) that call it, found by running the model once under a dispatch mode that
records which module was executing when each aten op ran.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ExportError
from ..models.registry import ModelDescriptor
from ..runtime.tiling import round_tile

INPUT_NAME, OUTPUT_NAME = "lr", "sr"
# an exported FP32 graph farther than this from PyTorch (outputs in [0, 1]) is a broken export
VERIFY_TOLERANCE = 1e-2
# onnx files above this are written with external data (protobuf's 2 GB limit)
SINGLE_FILE_LIMIT = 1_800_000_000

_OP_PATTERNS = [
    re.compile(r"operator '?([\w:.]+)'? to ONNX"),
    re.compile(r"Unsupported: ONNX export of operator ([\w:.]+)"),
    re.compile(r"(aten::\w+(?:\.\w+)?)"),
    re.compile(r"(aten\.\w+(?:\.\w+)?)"),
    re.compile(r"(torchvision::\w+)"),
    re.compile(r"namespace (\w+::\w+)"),
    re.compile(r"\b([a-z_][\w]*::\w+)"),
]


def trace_op_modules(model: nn.Module, example: torch.Tensor) -> dict[str, list[str]]:
    """aten op name → qualified names of the innermost modules that executed it."""
    from torch.utils._python_dispatch import TorchDispatchMode

    names = {m: n or type(model).__name__ for n, m in model.named_modules()}
    stack: list[str] = []
    seen: dict[str, list[str]] = {}

    def pre(mod: nn.Module, _args: Any) -> None:
        stack.append(names.get(mod, type(mod).__name__))

    def post(_mod: nn.Module, _args: Any, _out: Any) -> None:
        if stack:
            stack.pop()

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            op = str(func.overloadpacket._qualified_op_name) if hasattr(func, "overloadpacket") else str(func)
            where = stack[-1] if stack else "<top>"
            lst = seen.setdefault(op, [])
            if where not in lst:
                lst.append(where)
            return func(*args, **(kwargs or {}))

    handles = [m.register_forward_pre_hook(pre) for m in model.modules()]
    handles += [m.register_forward_hook(post) for m in model.modules()]
    try:
        with torch.no_grad(), Recorder():
            model(example)
    finally:
        for h in handles:
            h.remove()
    return seen


def map_export_error(err: BaseException, model: nn.Module, example: torch.Tensor, arch: str) -> ExportError:
    text = f"{type(err).__name__}: {err}"
    op = None
    for pat in _OP_PATTERNS:
        m = pat.search(text)
        if m:
            op = m.group(1).replace("aten.", "aten::").split(".")[0]
            break
    first = text.strip().splitlines()[0][:240] if text.strip() else type(err).__name__
    if op is None:
        return ExportError(f"{arch}: ONNX export failed ({first})")
    try:
        users = trace_op_modules(model, example).get(op.replace("::", "::", 1), [])
    except Exception:  # tracing is a best effort diagnostic
        users = []
    where = f" used by module(s) {', '.join(users[:5])}" if users else ""
    return ExportError(
        f"{arch}: operator {op}{where} cannot be exported to ONNX ({first}); "
        "replace that module or try another --opset"
    )


@contextlib.contextmanager
def _quiet_fds():
    """Silence C++-level prints (the legacy exporter dumps whole graphs on failure)."""
    import os
    import sys
    import tempfile

    saved = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        with tempfile.TemporaryFile() as sink:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(sink.fileno(), fd)
            yield
    finally:
        for fd, dup in saved:
            os.dup2(dup, fd)
            os.close(dup)


def _export_legacy(model: nn.Module, x: torch.Tensor, path: Path, opset: int) -> None:
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_fds():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (x,), str(path), dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes},
            do_constant_folding=True,
        )


def _export_dynamo(model: nn.Module, x: torch.Tensor, path: Path, opset: int) -> None:
    dim = torch.export.Dim
    shapes = {"x": {0: dim("batch", min=1, max=64), 2: dim.AUTO, 3: dim.AUTO}}
    # the forward argument may not be called "x"; pass shapes positionally
    shapes_pos = (shapes["x"],)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_fds():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            model, (x,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_shapes=shapes_pos, external_data=False,
        )
        if prog is None:  # only a dynamo=False export returns None
            raise ExportError(f"torch.onnx.export returned no program for {path.name}")
        prog.save(str(path))


def embed_metadata(model_proto: Any, desc: ModelDescriptor) -> None:
    import onnx

    meta = {
        "sr_compress.arch": desc.arch,
        "sr_compress.scale": str(desc.scale),
        "sr_compress.minimum": str(desc.size_requirements.minimum),
        "sr_compress.multiple_of": str(desc.size_requirements.multiple_of),
    }
    keep = [p for p in model_proto.metadata_props if p.key not in meta]
    del model_proto.metadata_props[:]
    model_proto.metadata_props.extend(keep)
    for k, v in meta.items():
        model_proto.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))


def optimize_offline(path: Path, level: str = "basic") -> None:
    """Save onnxruntime's graph optimizations into the file (portable "basic" level by default)."""
    import onnxruntime as ort

    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED}
    so = ort.SessionOptions()
    so.graph_optimization_level = levels[level]
    tmp = path.with_name(path.stem + ".opt.onnx")
    so.optimized_model_filepath = str(tmp)
    so.log_severity_level = 3
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    tmp.replace(path)


def export_onnx(
    desc: ModelDescriptor,
    path: str | Path,
    opset: int = 17,
    tile: int | None = None,
    optimize: str | None = "basic",
    exporter: str = "auto",
) -> dict[str, Any]:
    """Write ``desc`` as one ONNX file; returns the settings recorded in the manifest."""
    import onnx

    path = Path(path)
    model = desc.model.eval().to("cpu", torch.float32)
    side = round_tile(min(tile or 64, 64), desc.size_requirements)
    m = desc.size_requirements.multiple_of
    other_h = side + max(m, 8 // m * m if m <= 8 else m)
    example, other = example_inputs(desc.in_channels, side, other_h)
    order = {"auto": ["legacy", "dynamo"], "legacy": ["legacy"], "dynamo": ["dynamo"]}[exporter]
    errors: list[BaseException] = []
    used = None
    for name in order:
        try:
            (_export_legacy if name == "legacy" else _export_dynamo)(model, example, path, opset)
            used = name
            break
        except Exception as err:  # every exporter failure is mapped below
            errors.append(err)
            for p in path.parent.glob(path.name + "*"):
                p.unlink()
    if used is None:
        raise map_export_error(errors[0], model, example, desc.arch) from None
    proto = onnx.load(str(path), load_external_data=True)
    embed_metadata(proto, desc)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as err:
        raise ExportError(f"{desc.arch}: exported ONNX graph is invalid ({str(err).splitlines()[0]})") from None
    for p in path.parent.glob(path.name + ".data"):
        p.unlink()
    external = proto.ByteSize() > SINGLE_FILE_LIMIT
    onnx.save_model(proto, str(path), save_as_external_data=external,
                    location=path.name + ".data" if external else None)
    if optimize:
        optimize_offline(path, optimize)
    check = verify_onnx(path, model, [example, other])
    if not check["max_abs_vs_torch"] <= VERIFY_TOLERANCE:
        raise ExportError(
            f"{desc.arch}: the exported ONNX graph computes something else than PyTorch (max abs difference "
            f"{check['max_abs_vs_torch']:.3g} > {VERIFY_TOLERANCE} on image crops); try --exporter dynamo "
            "or another --opset"
        )
    return {
        "exporter": used, "opset": opset, "dynamic_axes": ["batch", "height", "width"],
        "ort_offline_optimization": optimize, "external_data": external,
        "export_check": check, "fallback_reason": str(errors[0]).splitlines()[0][:200] if errors else None,
    }


def example_inputs(channels: int, side: int, other_h: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, side, side) and (2, C, other_h, side) crops of a real photograph.

    Natural images, not noise: some real checkpoints (e.g. PAN x4) amplify uniform noise to
    1e21, where float rounding differences between runtimes are meaningless. Falls back to
    seeded noise when the embedded photographs are unavailable.
    """
    try:
        from ..data.defaults import default_images_dir
        from ..data.io import list_images, read_uint8

        img = read_uint8(list_images(default_images_dir())[0])
        if img.shape[0] < 2 * other_h or img.shape[1] < 2 * side:
            raise ValueError("photograph too small")
        t = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[:channels]
        if t.shape[0] < channels:
            t = t.repeat(channels, 1, 1)[:channels]
        a = t[:, :side, :side][None]
        b = torch.stack([t[:, :other_h, side : 2 * side], t[:, other_h : 2 * other_h, :side]])
        return a.contiguous(), b.contiguous()
    except Exception:  # no photographs: seeded noise still checks shapes and most arithmetic
        g = torch.Generator().manual_seed(0)
        return torch.rand(1, channels, side, side, generator=g), torch.rand(2, channels, other_h, side, generator=g)


def verify_onnx(path: Path, model: nn.Module, examples: list[torch.Tensor]) -> dict[str, float]:
    """Run the file once with onnxruntime on two input sizes against PyTorch (catches bad dynamic axes)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in examples:
        with torch.no_grad():
            ref = model(x).numpy()
        try:
            out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        except Exception as err:  # onnxruntime raises its own Fail/RuntimeException types
            # typically a shape the tracer baked in (window attention reshapes): the graph only
            # runs at the example's size, so dynamic H/W would break every other image
            msg = str(err).split("Status Message:")[0].strip().splitlines()[0][:300]
            raise ExportError(
                f"the exported ONNX graph fails on a {tuple(x.shape)} input ({msg}); it is not usable with "
                "dynamic height/width — the architecture likely bakes the trace-time shape into a Reshape"
            ) from None
        if out.shape != ref.shape:
            raise ExportError(f"ONNX output shape {out.shape} != PyTorch {ref.shape} for input {tuple(x.shape)}")
        worst = max(worst, float(np.abs(out - ref).max()))
    return {"max_abs_vs_torch": worst}
