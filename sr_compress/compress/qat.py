"""INT8 fake-quantization of a PyTorch model with NNCF, and its OpenVINO INT8 IR (groundwork for QAT).

Status: the building blocks of ``sr-compress quantize --qat`` -- the fake-quant model NNCF
inserts (``nncf.quantize`` on calibration patches; trainable quantizer scales) and its export to
an OpenVINO IR whose fidelity to the fake-quant model is measured, not assumed. Fine-tuning it
through the distillation engine and the CLI verb are not written yet (see docs/compression.md).

NNCF's PyTorch quantizers call a C++ extension that NNCF JIT-compiles on first use; on a small
shared machine the build overruns NNCF's 60 s load timeout, and NNCF's own fallback wraps its
reference kernels in ``torch.compile`` (minutes of recompiles). ``use_eager_kernels`` points NNCF
at the same reference kernels, uncompiled: no compiler needed, deterministic, and fast enough for
SR-sized models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..compat import require

_EAGER = False


def use_eager_kernels() -> None:
    """Make NNCF's CPU quantize/dequantize functions its eager PyTorch reference (idempotent)."""
    global _EAGER
    if _EAGER:
        return
    from nncf.torch.quantization import extensions  # type: ignore[import-untyped]
    from nncf.torch.quantization.reference import ReferenceBackendType, ReferenceQuantize  # type: ignore[import-untyped]

    ref = ReferenceQuantize(ReferenceBackendType.TORCH)

    class _Eager:
        Quantize_forward = staticmethod(ref.forward)
        Quantize_backward = staticmethod(ref.backward)

    extensions.QuantizedFunctionsCPU._loaded_namespace = _Eager
    _EAGER = True


def fake_quantize(model: nn.Module, patches: list[np.ndarray], subset_size: int | None = None) -> nn.Module:
    """NNCF INT8 fake-quant copy of ``model`` calibrated on ``patches`` ((1, 3, h, w) float32 in [0, 1])."""
    nncf = require("nncf", "openvino", "nncf")
    use_eager_kernels()
    data = [torch.from_numpy(np.ascontiguousarray(p)) for p in patches]
    import copy

    src = copy.deepcopy(model).cpu().eval()
    for p in src.parameters():  # NNCF trains only the scales of a frozen copy, silently
        p.requires_grad_(True)
    return nncf.quantize(src, nncf.Dataset(data), subset_size=subset_size or len(data))  # type: ignore[no-any-return]


def export_openvino(qmodel: nn.Module, example: torch.Tensor, xml_path: str | Path) -> Any:
    """Convert the fake-quant model to an OpenVINO IR (FakeQuantize ops -> INT8 kernels at run time)."""
    ov = require("openvino", "openvino", "openvino")
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        ov_model = ov.convert_model(qmodel.eval(), example_input=example)
    ov.save_model(ov_model, str(xml_path), compress_to_fp16=False)
    return ov_model


def ir_op_types(ov_model: Any) -> set[str]:
    return {op.get_type_name() for op in ov_model.get_ops()}


def fidelity_db(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) between two [0, 1] outputs (clipped); inf when identical."""
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))
