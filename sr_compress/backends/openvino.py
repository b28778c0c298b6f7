"""OpenVINO: IR converted from the shared ONNX graph, FP32 / FP16 / INT8 (NNCF PTQ or accuracy control)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import UserInputError
from ..models.registry import SizeRequirements
from ..runtime.base import Runner, RunnerInfo, default_threads, probe_scale
from ..runtime.manifest import ArtifactEntry
from .base import Backend, ClickDecorator, ExportContext


class OpenVINORunner(Runner):
    def __init__(self, path: str | Path, device: str = "cpu", threads: int | None = None,
                 precision: str = "fp32", scale: int | None = None,
                 size_requirements: SizeRequirements | None = None,
                 fixed_shape: tuple[int, int] | None = None, batch: int | None = None) -> None:
        import openvino as ov

        path = Path(path)
        if not path.is_file():
            raise UserInputError(f"OpenVINO IR not found: {path}")
        if not path.with_suffix(".bin").is_file():
            raise UserInputError(f"{path}: weights file {path.with_suffix('.bin').name} is missing next to it")
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as err:
            msg = str(err).splitlines()[0][:300]
            raise UserInputError(f"{path}: not a readable OpenVINO IR ({msg}); re-export it") from None
        if fixed_shape is not None:
            model.reshape([batch or -1, 3, fixed_shape[0], fixed_shape[1]])
        dev = "GPU" if device.startswith(("cuda", "gpu")) else "CPU"
        threads = threads or default_threads()
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        # CPUs with AVX512-BF16/AMX would otherwise silently run FP32/FP16 IRs in bf16, which
        # costs far more fidelity than the artifact's own precision; keep f32 arithmetic.
        config["INFERENCE_PRECISION_HINT"] = "f32"
        try:
            self.compiled = core.compile_model(model, dev, config)
        except Exception as err:
            msg = str(err).splitlines()[0][:300]
            raise UserInputError(f"{path}: OpenVINO could not compile the model on {dev} ({msg})") from None
        self.request = self.compiled.create_infer_request()
        self.output = self.compiled.output(0)
        meta_scale = None
        try:
            rt = model.get_rt_info(["sr_compress", "scale"])
            meta_scale = int(str(rt))
        except Exception:
            meta_scale = None
        self.info = RunnerInfo(
            backend="openvino", precision=precision, scale=scale or meta_scale or 0,
            size_requirements=size_requirements or SizeRequirements(), fixed_shape=fixed_shape,
            max_batch=batch or 16, artifact=str(path), extra={"threads": threads, "device": dev},
        )
        if not self.info.scale:
            self.info.scale = probe_scale(self, fixed_shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        res = self.request.infer({0: x})
        return np.asarray(res[self.output], dtype=np.float32)


class OpenVINOBackend(Backend):
    name = "openvino"
    description = "OpenVINO IR on the CPU (or GPU) plugin"
    suffixes = (".xml",)
    precisions = ("fp32", "fp16", "int8")
    tools = ("openvino", "nncf")
    needs_onnx = True
    serve_rank = 0  # the fastest CPU runtime we ship

    def cli_options(self) -> list[ClickDecorator]:
        return [
            click.option("--openvino", is_flag=True, help="Write OpenVINO IR for each --precision."),
            click.option("--precision", default="fp32", show_default=True, help="OpenVINO precisions: fp32,fp16,int8."),
            click.option("--max-drop", type=float, default=None,
                         help="OpenVINO INT8: NNCF accuracy-controlled quantization with this max PSNR drop (dB)."),
            click.option("--val-data", type=click.Path(path_type=Path), default=None,
                         help="Validation set for --max-drop, e.g. ../shared/data/benchmarks/Set5 "
                              "(default: the embedded held-out images)."),
        ]

    def flags(self) -> list[str]:
        return ["--openvino"]

    def select(self, values: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        from ..export.build import parse_precisions

        max_drop = values["max_drop"]
        if max_drop is not None and max_drop <= 0:
            raise UserInputError(f"--max-drop must be a positive number of dB, got {max_drop}")
        precs = parse_precisions(values["precision"])  # checked even without --openvino, as before
        val = values["val_data"]
        return (precs if values["openvino"] else []), {
            "precisions": precs, "max_drop": max_drop, "validation_data": str(val) if val else None}

    def export(self, ctx: ExportContext, precisions: list[str]) -> list[ArtifactEntry]:
        from ..export import openvino as ovx

        (ctx.tmp / "openvino").mkdir(exist_ok=True)
        onnx, out = ctx.onnx(), []
        for prec in precisions:
            rel = f"openvino/model.{prec}.xml"
            s = ctx.adopt(f"openvino-{prec}", rel, (".bin",))  # e.g. a QAT INT8 IR from quantize --qat
            if s is not None:
                pass
            elif prec == "int8":
                o = ctx.opts
                bench = ctx.validation_bench() if o.max_drop is not None else None
                model, s = ovx.quantize_int8(onnx, ctx.desc, ctx.patches(), o.max_drop, bench,
                                             float_ends=o.int8_float_ends)
                s.update(ovx.save_ir(model, ctx.tmp / rel, "fp32"))
                s["calib"] = ctx.calib_name()
            else:
                s = ovx.save_ir(ovx.convert_onnx(onnx, ctx.desc), ctx.tmp / rel, prec)
            out.append(ctx.entry(f"openvino-{prec}", rel, self.name, prec, s, None, [rel[:-4] + ".bin"]))
            ctx.step(f"openvino-{prec}")
        return out

    def runner(self, path: Path, *, device: str = "cpu", threads: int | None = None, precision: str = "fp32",
               scale: int | None = None, size_requirements: SizeRequirements | None = None,
               **kwargs: Any) -> Runner:
        return OpenVINORunner(path, device, threads, precision, scale, size_requirements, **kwargs)


BACKEND = OpenVINOBackend()
