"""ONNX → TensorRT engine (TensorRT 10 Python API), FP16 or INT8, with a timing cache.

The optimization profile is derived from the model and the tile size: ``min`` is the smallest
legal LR input (``size_requirements.minimum`` rounded to ``multiple_of``), ``opt`` is the tile
the tiler will send (so the fastest kernels are chosen for exactly that shape, batch ``opt_batch``)
and ``max`` is the tile at ``max_batch`` (spatially a bit larger than the tile when
``max_side`` allows, so untiled small images work too). INT8 uses the entropy calibrator v2 fed
with real LR calibration patches of the tile size; device buffers are torch CUDA tensors, so no
pycuda is needed.

Preconditions are checked before anything is written: TensorRT importable and a CUDA device
visible, else :class:`MissingDependency` at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..compat import require
from ..errors import ExportError, MissingDependency
from ..models.registry import SizeRequirements
from ..runtime.tiling import round_tile


def check_tensorrt_available() -> Any:
    """Import TensorRT and check for a CUDA GPU; raise MissingDependency otherwise."""
    trt = require("tensorrt", "gpu", "TensorRT")
    import torch

    major = int(str(getattr(trt, "__version__", "10")).split(".")[0])
    if major != 10:
        # TensorRT 11 removed the weak-typing precision flags and the INT8 calibrator this
        # builder uses; TensorRT 8/9 lack the tensor API the runner uses.
        raise MissingDependency(
            f"--trt needs TensorRT 10.x, found {trt.__version__}: pip install 'tensorrt>=10,<11'"
        )

    if not torch.cuda.is_available():
        raise MissingDependency(
            "--trt needs a CUDA GPU visible to torch (none found); install a CUDA build of torch "
            "and run on a GPU machine, or drop --trt"
        )
    return trt


def profile_shapes(req: SizeRequirements, tile: int, max_batch: int = 8, opt_batch: int = 4,
                   max_side: int | None = None) -> dict[str, tuple[int, int, int, int]]:
    t = round_tile(tile, req)
    lo = round_tile(max(req.minimum, req.multiple_of, 8), req)
    hi = round_tile(max_side, req) if max_side else t
    hi = max(hi, t)
    return {"min": (1, 3, lo, lo), "opt": (min(opt_batch, max_batch), 3, t, t), "max": (max_batch, 3, hi, hi)}


def _make_calibrator(trt: Any, patches: list[np.ndarray], batch: int, cache_file: Path) -> Any:
    import torch

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = [np.concatenate(patches[i : i + batch]) for i in range(0, len(patches), batch)]
            self.batches = [b for b in self.batches if b.shape[0] == batch]
            self.index = 0
            self.device_buf: torch.Tensor | None = None

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.index >= len(self.batches):
                return None
            self.device_buf = torch.from_numpy(self.batches[self.index]).cuda().contiguous()
            self.index += 1
            return [int(self.device_buf.data_ptr())]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: bytes) -> None:
            cache_file.write_bytes(bytes(cache))

    return EntropyCalibrator()


def build_engine(
    onnx_path: str | Path,
    engine_path: str | Path,
    precision: str,
    req: SizeRequirements,
    tile: int,
    patches: list[np.ndarray] | None = None,
    max_batch: int = 8,
    timing_cache: str | Path | None = None,
    workspace_gb: float = 4.0,
) -> dict[str, Any]:
    """Build and serialize an engine; returns the settings for the manifest."""
    trt = check_tensorrt_available()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errs = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError(f"TensorRT could not parse {onnx_path}: {'; '.join(errs)[:400]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    shapes = profile_shapes(req, tile, max_batch=max_batch)
    profile = builder.create_optimization_profile()
    inp = network.get_input(0)
    profile.set_shape(inp.name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    if precision == "fp16":
        import torch

        # builder.platform_has_fast_fp16 is deprecated since TensorRT 10.5: ask CUDA (sm_53+ has FP16 math)
        if torch.cuda.get_device_capability() < (5, 3):
            raise ExportError("this GPU has no fast FP16; build --trt-precision fp32 or int8 instead")
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        if not patches:
            raise ExportError("INT8 TensorRT needs calibration patches (--calib)")
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)  # layers INT8 cannot take fall back to FP16, not FP32
        cache = Path(engine_path).with_suffix(".calib")
        config.int8_calibrator = _make_calibrator(trt, patches, min(4, len(patches)), cache)
        config.set_calibration_profile(profile)
    elif precision != "fp32":
        raise ExportError(f"unknown TensorRT precision {precision!r} (use fp32, fp16, int8)")
    cache_obj = None
    if timing_cache is not None:
        tc_path = Path(timing_cache)
        blob = tc_path.read_bytes() if tc_path.is_file() else b""
        cache_obj = config.create_timing_cache(blob)
        config.set_timing_cache(cache_obj, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT failed to build a {precision} engine from {onnx_path} (see the log above)")
    Path(engine_path).write_bytes(bytes(serialized))
    if cache_obj is not None and timing_cache is not None:
        Path(timing_cache).write_bytes(bytes(config.get_timing_cache().serialize()))
    return {
        "precision": precision, "profile": {k: list(v) for k, v in shapes.items()}, "tile": tile,
        "max_batch": max_batch, "workspace_gb": workspace_gb, "tensorrt": trt.__version__,
        "timing_cache": Path(timing_cache).name if timing_cache else None,
        "calibrator": "IInt8EntropyCalibrator2" if precision == "int8" else None,
    }
