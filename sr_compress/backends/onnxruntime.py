"""ONNX Runtime: the FP32 ONNX graph (``--onnx``, on by default) and static-QDQ INT8 (``--onnx-int8``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import MissingDependency, UserInputError
from ..models.registry import SizeRequirements
from ..runtime.base import Runner, RunnerInfo, default_threads, probe_scale
from ..runtime.manifest import ArtifactEntry
from .base import Backend, ClickDecorator, ExportContext

# onnxruntime's WeightBiasQuantization (basic level, 1.20+) quantizes a float conv weight that
# sits between DequantizeLinear and QuantizeLinear: a QAT model's deliberately float weights
# (--keep-float) ran per-tensor INT8 and IMDN x4 lost 0.14 dB on Set5 against its fake-quant model
KEEP_FLOAT_WEIGHTS = ("WeightBiasQuantization",)


def session(path: str | Path, options: Any = None, providers: list[str] | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` that runs float weights of a QDQ graph in float."""
    import onnxruntime as ort

    return ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"],
                                disabled_optimizers=list(KEEP_FLOAT_WEIGHTS))


class OnnxRuntimeRunner(Runner):
    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None,
                 precision: str = "fp32", scale: int | None = None,
                 size_requirements: SizeRequirements | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise UserInputError(f"ONNX file not found: {path}")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or default_threads()
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        available = ort.get_available_providers()
        if device.startswith("cuda"):
            wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
            providers = [p for p in wanted if p in available]
            if not providers:
                raise MissingDependency(
                    "onnxruntime has no CUDA execution provider: pip install 'sr-compress[gpu]' (onnxruntime-gpu)"
                )
            providers.append("CPUExecutionProvider")
        else:
            providers = ["CPUExecutionProvider"]
        try:
            self.session = session(path, so, providers)
        except Exception as err:  # onnxruntime raises its own untyped errors for corrupt files
            msg = str(err).splitlines()[0][:300]
            raise UserInputError(
                f"{path}: not a loadable ONNX model ({msg}); re-export it with 'sr-compress export'"
            ) from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        meta = self.session.get_modelmeta().custom_metadata_map
        if scale is None and "sr_compress.scale" in meta:
            scale = int(meta["sr_compress.scale"])
        if size_requirements is None and "sr_compress.multiple_of" in meta:
            size_requirements = SizeRequirements(
                int(meta.get("sr_compress.minimum", 1)), int(meta["sr_compress.multiple_of"])
            )
        shape = inp.shape
        fixed = (shape[2], shape[3]) if all(isinstance(s, int) for s in shape[2:4]) else None
        max_batch = shape[0] if isinstance(shape[0], int) else 16
        self.info = RunnerInfo(
            backend="onnxruntime", precision=precision, scale=scale or 0,
            size_requirements=size_requirements or SizeRequirements(), fixed_shape=fixed,
            max_batch=max_batch, artifact=str(path),
            extra={"threads": so.intra_op_num_threads, "providers": self.session.get_providers()},
        )
        if not scale:
            self.info.scale = probe_scale(self, fixed)

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=self.input_dtype)
        y = self.session.run(None, {self.input_name: x})[0]
        return y.astype(np.float32, copy=False)


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    description = "ONNX Runtime (CPU EP; CUDA/TensorRT EPs with onnxruntime-gpu)"
    suffixes = (".onnx",)
    precisions = ("fp32", "int8")
    tools = ("onnxruntime", "onnxruntime-gpu")
    needs_onnx = True
    serve_rank = 1

    def cli_options(self) -> list[ClickDecorator]:
        return [
            click.option("--onnx/--no-onnx", "onnx", default=True, show_default=True,
                         help="Keep the FP32 ONNX artifact."),
            click.option("--onnx-int8", is_flag=True,
                         help="Also write a static-QDQ INT8 ONNX (onnxruntime.quantization)."),
            click.option("--opset", type=int, default=17, show_default=True),
            click.option("--exporter", type=click.Choice(["auto", "legacy", "dynamo"]), default="auto",
                         show_default=True),
            click.option("--no-optimize", is_flag=True, help="Skip onnxruntime's offline graph optimization."),
        ]

    def flags(self) -> list[str]:
        return ["--onnx", "--onnx-int8"]

    def select(self, values: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        precs = (["fp32"] if values["onnx"] else []) + (["int8"] if values["onnx_int8"] else [])
        return precs, {"opset": values["opset"], "exporter": values["exporter"],
                       "optimize": None if values["no_optimize"] else "basic"}

    def export(self, ctx: ExportContext, precisions: list[str]) -> list[ArtifactEntry]:
        out = []
        onnx = ctx.onnx()
        if "fp32" in precisions:
            out.append(ctx.entry("onnx-fp32", onnx.name, self.name, "fp32", ctx.onnx_settings(), ctx.opts.opset))
        if "int8" in precisions:
            from ..export.quantize import quantize_onnx_static

            rel = "model.int8.onnx"
            s = ctx.adopt("onnx-int8", rel)  # an already-quantized graph (quantize --qat), else PTQ
            if s is None:
                s = quantize_onnx_static(onnx, ctx.tmp / rel, ctx.patches(), float_ends=ctx.opts.int8_float_ends)
                s["calib"] = ctx.calib_name()
            out.append(ctx.entry("onnx-int8", rel, self.name, "int8", s, ctx.opts.opset))
            ctx.step("onnx-int8")
        return out

    def runner(self, path: Path, *, device: str = "cpu", threads: int | None = None, precision: str = "fp32",
               scale: int | None = None, size_requirements: SizeRequirements | None = None,
               **kwargs: Any) -> Runner:
        return OnnxRuntimeRunner(path, device, threads, precision, scale, size_requirements)


BACKEND = OnnxRuntimeBackend()
