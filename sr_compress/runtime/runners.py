"""One :class:`Runner` per backend and :func:`make_runner`, which picks the right one.

* ``torch``        — a :class:`ModelDescriptor` (the reference), fp32, or fp16 on CUDA;
* ``onnxruntime``  — ``.onnx``; CPU EP, CUDA/TensorRT EPs when onnxruntime-gpu is installed;
* ``openvino``     — ``.xml`` IR; CPU plugin, dynamic shapes or a fixed reshape;
* ``tensorrt``     — ``.engine``/``.plan`` serialized engines (TensorRT 10 API; device memory is
  held in torch CUDA tensors so pycuda is not needed).

The backend is inferred from the artifact suffix or its manifest entry. Scale and size
requirements come from the manifest next to the artifact, else from the metadata we embed in the
ONNX file, else from probing the model once with a small input.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..compat import require
from ..errors import MissingDependency, UserInputError
from ..export.manifest import BACKEND_BY_SUFFIX, ArtifactEntry, Manifest, find_manifest_for
from ..models.registry import ModelDescriptor, SizeRequirements
from .base import Runner, RunnerInfo

BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
CHECKPOINT_SUFFIXES = {".pth", ".pt", ".ckpt", ".safetensors", ".bin"}


def default_threads() -> int:
    env = os.environ.get("SR_COMPRESS_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


class TorchRunner(Runner):
    """The PyTorch reference: eager (or ``torch.compile``d) module."""

    def __init__(self, desc: ModelDescriptor, precision: str = "fp32", device: str = "cpu",
                 threads: int | None = None, compile: bool = False) -> None:
        import torch

        if precision not in ("fp32", "fp16"):
            raise UserInputError(f"torch runner precision must be fp32 or fp16, got {precision!r}")
        if precision == "fp16" and not device.startswith("cuda"):
            raise UserInputError("fp16 PyTorch inference needs a CUDA device (--device cuda); use fp32 on CPU")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise MissingDependency("CUDA is not available to torch: install a CUDA build of torch or use --device cpu")
        self.torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        if threads:
            torch.set_num_threads(threads)
        self.desc = desc
        model = desc.model.eval().to(self.device, self.dtype)
        self.module = torch.compile(model) if compile else model
        self.info = RunnerInfo(
            backend="torch", precision=precision, scale=desc.scale, size_requirements=desc.size_requirements,
            artifact=desc.source, extra={"threads": torch.get_num_threads(), "device": device, "compiled": compile},
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device, self.dtype)
            y = self.module(x)
            return y.float().cpu().numpy()


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
            self.session = ort.InferenceSession(str(path), so, providers=providers)
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


def probe_scale(runner: Runner, shape: tuple[int, int] | None) -> int:
    """Scale of a model without metadata: run it once on a small input and compare sizes."""
    h, w = shape or (32, 32)
    y = runner.run(np.zeros((1, 3, h, w), dtype=np.float32))
    if y.ndim != 4 or y.shape[2] % h or y.shape[2] // h != y.shape[3] // w:
        raise UserInputError(f"{runner.info.artifact}: output shape {y.shape} is not an integer upscale of {h}x{w}")
    return y.shape[2] // h


def infer_backend(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in BACKEND_BY_SUFFIX:
        return BACKEND_BY_SUFFIX[suffix]
    if suffix in CHECKPOINT_SUFFIXES:
        return "torch"
    raise UserInputError(
        f"{path}: cannot tell the backend from the suffix {suffix or '(none)'!r}; "
        "expected .onnx, .xml, .engine/.plan or a PyTorch checkpoint"
    )


def make_runner(
    artifact_or_descriptor: ModelDescriptor | str | Path | ArtifactEntry,
    backend: str | None = None,
    precision: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    manifest: Manifest | None = None,
    scale: int | None = None,
    **kwargs: Any,
) -> Runner:
    """A runner for a descriptor (torch), an artifact path, or a manifest entry (with ``manifest``)."""
    if isinstance(artifact_or_descriptor, ModelDescriptor):
        if backend not in (None, "torch"):
            raise UserInputError(f"a loaded PyTorch model runs on backend 'torch', not {backend!r}")
        return TorchRunner(artifact_or_descriptor, precision or "fp32", device, threads, **kwargs)
    entry: ArtifactEntry | None = None
    if isinstance(artifact_or_descriptor, ArtifactEntry):
        entry = artifact_or_descriptor
        if manifest is None:
            raise UserInputError(f"artifact {entry.name!r}: pass the manifest it belongs to")
        path = manifest.path_of(entry)
    else:
        path = Path(artifact_or_descriptor)
        if path.is_dir():
            raise UserInputError(f"{path} is a directory; pass one artifact file (see its manifest.json)")
        if not path.exists():
            raise UserInputError(f"artifact not found: {path}")
        found = find_manifest_for(path) if manifest is None else None
        if found is not None:
            manifest, entry = found
    reqs = manifest.requirements if manifest is not None else None
    scale = scale or (manifest.scale if manifest is not None else None)
    backend = backend or (entry.backend if entry is not None else infer_backend(path))
    precision = precision or (entry.precision if entry is not None else "fp32")
    if backend == "torch":
        from ..models.load import load_model

        return TorchRunner(load_model(path, scale), precision, device, threads, **kwargs)
    if backend == "onnxruntime":
        return OnnxRuntimeRunner(path, device, threads, precision, scale, reqs)
    if backend == "openvino":
        return OpenVINORunner(path, device, threads, precision, scale, reqs, **kwargs)
    if backend == "tensorrt":
        return TensorRTRunner(path, device, precision, scale, reqs)
    raise UserInputError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
