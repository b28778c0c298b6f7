"""OpenVINO IR: FP32, FP16 (compressed weights) and INT8 (NNCF) from the exported ONNX graph.

The IR is converted from our ONNX file (not traced again from torch) so every backend runs the
same graph; dynamic batch/H/W are kept. INT8 uses NNCF post-training quantization calibrated on
real LR patches; with ``max_drop`` it uses NNCF's accuracy-controlled quantization whose
validation function is our Set5 PSNR-Y (full images, SR protocol), so layers are reverted to
floating point until the PSNR drop is within the budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.io import to_uint8
from ..metrics.sr import evaluate_pair
from ..models.registry import ModelDescriptor, SizeRequirements
from ..runtime.base import Runner, RunnerInfo
from ..runtime.tiling import upscale
from .quantize import nncf_quantize_openvino


def _with_metadata(model: Any, desc: ModelDescriptor) -> Any:
    model.set_rt_info(str(desc.scale), ["sr_compress", "scale"])
    model.set_rt_info(desc.arch, ["sr_compress", "arch"])
    model.set_rt_info(str(desc.size_requirements.multiple_of), ["sr_compress", "multiple_of"])
    return model


def convert_onnx(onnx_path: str | Path, desc: ModelDescriptor) -> Any:
    import openvino as ov

    return _with_metadata(ov.convert_model(str(onnx_path)), desc)


def save_ir(model: Any, xml_path: str | Path, precision: str) -> dict[str, Any]:
    import openvino as ov

    ov.save_model(model, str(xml_path), compress_to_fp16=precision == "fp16")
    return {"compress_to_fp16": precision == "fp16", "source": "onnx"}


class _CompiledRunner(Runner):
    """Wraps an ``openvino.CompiledModel`` (what NNCF hands the validation function)."""

    def __init__(self, compiled: Any, scale: int, req: SizeRequirements) -> None:
        self.compiled = compiled
        self.out = compiled.output(0)
        self.info = RunnerInfo("openvino", "int8", scale, req)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.compiled(np.ascontiguousarray(batch))[self.out], dtype=np.float32)


def set5_validation(desc: ModelDescriptor, bench: Any) -> tuple[list[Any], Any]:
    """(items, validation_fn) for ``nncf.quantize_with_accuracy_control``: mean PSNR-Y in dB."""
    items = [(lr.astype(np.float32).transpose(2, 0, 1) / 255.0, hr) for _n, lr, hr in bench.items]

    def validate(compiled: Any, data: Any) -> float:
        runner = _CompiledRunner(compiled, desc.scale, desc.size_requirements)
        scores = []
        for lr, hr in data:
            sr = upscale(runner, lr)
            sr_u8 = to_uint8(sr)
            scores.append(evaluate_pair(sr_u8, hr, desc.scale)["psnr"])
        return float(np.mean(scores))

    return items, validate


def quantize_int8(onnx_path: str | Path, desc: ModelDescriptor, patches: list[np.ndarray],
                  max_drop: float | None = None, bench: Any = None,
                  float_ends: bool = False) -> tuple[Any, dict[str, Any]]:
    model = convert_onnx(onnx_path, desc)
    validation = set5_validation(desc, bench) if max_drop is not None and bench is not None else None
    q, settings = nncf_quantize_openvino(model, patches, validation=validation, max_drop=max_drop,
                                         float_ends=float_ends)
    if bench is not None:
        settings["validation_set"] = bench.name
    return _with_metadata(q, desc), settings
