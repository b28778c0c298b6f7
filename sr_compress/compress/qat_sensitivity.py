"""Per-quantizer sensitivity of an NNCF-quantized model: which quantizers cost the most PSNR.

The model is quantized once (same calibration as QAT); then each quantizer in turn is left in
float while all others stay INT8, and the PSNR of the output against the FP32 model's output is
measured on a few LR images (the embedded held-out photographs, or the first ``--data`` folder).
The gain over the all-INT8 model is that quantizer's sensitivity; the table is sorted by it, so
``--keep-float K`` keeps the top K in float.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.registry import ModelDescriptor
from .qat import QATOptions, output_psnr, quantizers, wrap_for

MAX_IMAGES = 4


def _images(desc: ModelDescriptor, opts: QATOptions, size: int = 96) -> list[torch.Tensor]:
    from ..data.defaults import default_benchmark_dir
    from ..data.io import list_images, read_uint8

    folder = default_benchmark_dir(desc.scale) / "LR_bicubic" / f"X{desc.scale}"
    out = []
    m = max(1, desc.size_requirements.multiple_of)
    s = size // m * m
    for f in list_images(folder)[:MAX_IMAGES]:
        lr = read_uint8(f)[:s, :s].astype(np.float32) / 255.0
        out.append(torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)[None])))
    return out


def _psnr(model: nn.Module, images: list[torch.Tensor], refs: list[np.ndarray]) -> float:
    with torch.no_grad():
        return float(np.mean([output_psnr(model(x).numpy(), r) for x, r in zip(images, refs)]))


def sensitivity_table(desc: ModelDescriptor, opts: QATOptions) -> list[dict[str, Any]]:
    """Rows ``{quantizer, psnr_float, gain_db}`` sorted by gain (most sensitive first)."""
    from .qat import use_reference_kernels

    use_reference_kernels()
    fp32 = desc.model.eval()
    images = _images(desc, opts)
    with torch.no_grad():
        refs = [fp32(x).numpy() for x in images]
    q = wrap_for(desc, opts, fp32).eval()
    base = _psnr(q, images, refs)
    rows: list[dict[str, Any]] = []
    for name, mod in quantizers(q).items():
        mod.disable_quantization()
        db = _psnr(q, images, refs)
        mod.enable_quantization()
        rows.append({"quantizer": name, "psnr_float": round(db, 3), "gain_db": round(db - base, 3),
                     "all_int8_psnr": round(base, 3)})
    rows.sort(key=lambda r: -float(r["gain_db"]))
    return rows


def format_table(rows: list[dict[str, Any]], top: int = 15) -> str:
    if not rows:
        return "no quantizers"
    lines = [f"all-INT8 output vs FP32: {rows[0]['all_int8_psnr']:.2f} dB (peak 1, {MAX_IMAGES} default images)",
             f"{'rank':>4}  {'gain dB':>8}  {'PSNR if float':>13}  quantizer"]
    for i, r in enumerate(rows[:top], 1):
        lines.append(f"{i:>4}  {r['gain_db']:>8.3f}  {r['psnr_float']:>13.2f}  {r['quantizer']}")
    if len(rows) > top:
        lines.append(f"... {len(rows) - top} more in sensitivity.json")
    return "\n".join(lines)
