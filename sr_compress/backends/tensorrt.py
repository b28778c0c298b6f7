"""TensorRT: serialized engines built from the shared ONNX graph (needs the [gpu] extra and a CUDA GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ..compat import require
from ..errors import MissingDependency, UserInputError
from ..models.registry import SizeRequirements
from ..runtime.base import Runner, RunnerInfo, probe_scale
from ..runtime.manifest import ArtifactEntry
from .base import Backend, ClickDecorator, ExportContext


class TensorRTRunner(Runner):
    """A serialized TensorRT engine (TensorRT 10 tensor API, execute_async_v3)."""

    def __init__(self, path: str | Path, device: str = "cuda", precision: str = "fp16",
                 scale: int | None = None, size_requirements: SizeRequirements | None = None) -> None:
        trt = require("tensorrt", "gpu", "TensorRT")
        import torch

        if not torch.cuda.is_available():
            raise MissingDependency("TensorRT engines need a CUDA GPU visible to torch; none was found")
        path = Path(path)
        if not path.is_file():
            raise UserInputError(f"TensorRT engine not found: {path}")
        self.torch, self.trt = torch, trt
        dev = device if device.startswith("cuda") else "cuda"
        self.device = torch.device(dev)
        torch.cuda.set_device(self.device)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise UserInputError(
                f"{path}: TensorRT could not deserialize the engine (built for another GPU or TensorRT "
                "version?); rebuild it with 'sr-compress export --trt' on this machine"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        ins = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.in_name, self.out_name = ins[0], outs[0]
        self.in_dtype = self._torch_dtype(self.engine.get_tensor_dtype(self.in_name))
        self.out_dtype = self._torch_dtype(self.engine.get_tensor_dtype(self.out_name))
        mn, _opt, mx = self.engine.get_tensor_profile_shape(self.in_name, 0)
        fixed = (int(mn[2]), int(mn[3])) if tuple(mn[2:]) == tuple(mx[2:]) else None
        self.stream = torch.cuda.Stream(device=self.device)
        self.info = RunnerInfo(
            backend="tensorrt", precision=precision, scale=scale or 0,
            size_requirements=size_requirements or SizeRequirements(), fixed_shape=fixed,
            max_batch=int(mx[0]), artifact=str(path),
            extra={"device": dev, "profile_min": list(mn), "profile_max": list(mx),
                   "max_hw": [int(mx[2]), int(mx[3])]},
        )
        if not self.info.scale:
            self.info.scale = probe_scale(self, fixed or (int(mn[2]), int(mn[3])))

    def _torch_dtype(self, dt: Any) -> Any:
        trt, torch = self.trt, self.torch
        return {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}.get(dt, torch.float32)

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.cuda.stream(self.stream):
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device, self.in_dtype)
            self.context.set_input_shape(self.in_name, tuple(x.shape))
            out_shape = tuple(self.context.get_tensor_shape(self.out_name))
            y = torch.empty(out_shape, dtype=self.out_dtype, device=self.device)
            self.context.set_tensor_address(self.in_name, x.data_ptr())
            self.context.set_tensor_address(self.out_name, y.data_ptr())
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
        self.stream.synchronize()
        return y.float().cpu().numpy()


class TensorRTBackend(Backend):
    name = "tensorrt"
    description = "TensorRT 10 engines (CUDA GPU)"
    suffixes = (".engine", ".plan")
    precisions = ("fp32", "fp16", "int8")
    requires = ("tensorrt",)
    install_hint = "TensorRT is not installed: pip install 'sr-compress[gpu]' (and run on a CUDA GPU)"
    tools = ("tensorrt",)
    needs_onnx = True
    # the engine's optimization profile bounds batch and H/W (see export/tensorrt.py)
    honours = ("minimum", "multiple_of", "square")
    default_device = "cuda"
    serve_rank = 2

    def cli_options(self) -> list[ClickDecorator]:
        return [
            click.option("--trt", is_flag=True, help="Build TensorRT engines (needs the [gpu] extra and a CUDA GPU)."),
            click.option("--trt-precision", default="fp16", show_default=True,
                         help="TensorRT precisions: fp32,fp16,int8."),
        ]

    def flags(self) -> list[str]:
        return ["--trt"]

    def select(self, values: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        from ..export.build import parse_precisions

        precs = parse_precisions(values["trt_precision"], "--trt-precision")
        return (precs if values["trt"] else []), {"trt_precisions": precs}

    def check(self, opts: Any, precisions: list[str]) -> None:
        from ..export.tensorrt import check_tensorrt_available

        check_tensorrt_available()

    def export(self, ctx: ExportContext, precisions: list[str]) -> list[ArtifactEntry]:
        from ..export.tensorrt import build_engine

        (ctx.tmp / "tensorrt").mkdir(exist_ok=True)
        onnx, out = ctx.onnx(), []
        for prec in precisions:
            rel = f"tensorrt/model.{prec}.engine"
            s = build_engine(onnx, ctx.tmp / rel, prec, ctx.desc.size_requirements, ctx.opts.tile,
                             ctx.patches() if prec == "int8" else None,
                             timing_cache=ctx.tmp / "tensorrt" / "timing.cache")
            out.append(ctx.entry(f"tensorrt-{prec}", rel, self.name, prec, s, ctx.opts.opset))
            ctx.step(f"tensorrt-{prec}")
        return out

    def runner(self, path: Path, *, device: str = "cuda", threads: int | None = None, precision: str = "fp16",
               scale: int | None = None, size_requirements: SizeRequirements | None = None,
               **kwargs: Any) -> Runner:
        return TensorRTRunner(path, device, precision, scale, size_requirements)


BACKEND = TensorRTBackend()
