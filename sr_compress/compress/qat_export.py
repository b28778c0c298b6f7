"""Export of a QAT (fake-quant) model: OpenVINO INT8 IR + ONNX QDQ, an export directory with manifest.

Both artifacts are traced from the fake-quant PyTorch model itself (not re-quantized), so they
carry the trained quantizer ranges: OpenVINO gets ``FakeQuantize`` ops (its CPU plugin runs them
as INT8), ONNX gets ``QuantizeLinear``/``DequantizeLinear`` pairs (NNCF's QDQ export mode). Each
export is then checked against the fake-quant and FP32 models on a probe image (``check_artifact``,
``artifact_ok``): an artifact that does not reproduce its model is refused instead of shipped.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ExportError, UserInputError
from ..export.manifest import ArtifactEntry, Manifest, sha256_file, tool_versions
from ..models.registry import ModelDescriptor
from .qat import output_psnr, quantizers

# An artifact within this (dB, peak 1) of the fake-quant model passes outright: rounding-boundary
# differences of INT8 kernels stay above it on well-quantized models (43-96 dB measured), while
# INT8 saturation on a CPU without VNNI (QAT without the overflow fix, see runtime/cpu.py) gave
# 15-38 dB. Below it, an artifact still passes when it is as faithful to the FP32 model as the
# fake-quant model is (within FIDELITY_MARGIN_DB): a rounding flip in one layer moves the next
# layers' values across other rounding boundaries, so after enough layers two correct INT8
# implementations differ by about the quantization noise itself (RLFN x4 QAT on Set5: IR vs
# fake-quant 41.8-42.9 dB with each 40.9-42.8 dB from FP32; ONNX vs IR the same), and a model
# whose fake-quant is 30 dB from FP32 (Real-ESRGAN x4plus) has artifacts ~30 dB from it too.
MIN_ARTIFACT_PSNR = 40.0
FIDELITY_MARGIN_DB = 1.0


def export_mode(model: nn.Module, qdq: bool) -> None:
    """Set every quantizer to export as OpenVINO ``FakeQuantize`` (``qdq=False``) or ONNX QDQ pairs."""
    from nncf.torch.quantization.layers import QuantizerExportMode

    mode = QuantizerExportMode.ONNX_QUANTIZE_DEQUANTIZE_PAIRS if qdq else QuantizerExportMode.FAKE_QUANTIZE
    for q in quantizers(model).values():
        q.set_export_mode(mode)


def to_openvino(model: nn.Module, example: torch.Tensor) -> Any:
    """The fake-quant model as an in-memory OpenVINO model (``FakeQuantize`` ops, any batch and size)."""
    import openvino as ov

    model.eval()
    export_mode(model, qdq=False)
    with torch.no_grad():
        return ov.convert_model(model, example_input=example, input=[ov.PartialShape([-1, 3, -1, -1])])


def export_openvino(model: nn.Module, desc: ModelDescriptor, xml: Path, example: torch.Tensor) -> dict[str, Any]:
    import openvino as ov

    ovm = to_openvino(model, example)
    ovm.set_rt_info(str(desc.scale), ["sr_compress", "scale"])
    ovm.set_rt_info(desc.arch, ["sr_compress", "arch"])
    ovm.set_rt_info(str(desc.size_requirements.multiple_of), ["sr_compress", "multiple_of"])
    ov.save_model(ovm, str(xml), compress_to_fp16=False)
    return {"source": "torch (nncf fake-quant)", "fake_quantize_ops": count_ops_ir(xml)["FakeQuantize"]}


def export_onnx_qdq(model: nn.Module, path: Path, example: torch.Tensor, opset: int = 17) -> dict[str, Any]:
    model.eval()
    export_mode(model, qdq=True)
    try:
        with torch.no_grad():
            torch.onnx.export(model, (example,), str(path), opset_version=opset, dynamo=False,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                            "output": {0: "batch", 2: "height", 3: "width"}})
    finally:
        export_mode(model, qdq=False)
    ops = count_ops_onnx(path)
    return {"format": "QDQ", "source": "torch (nncf fake-quant)", "quantize_linear": ops.get("QuantizeLinear", 0),
            "dequantize_linear": ops.get("DequantizeLinear", 0)}


def count_ops_ir(xml: Path) -> dict[str, int]:
    import openvino as ov

    counts: dict[str, int] = {"FakeQuantize": 0}
    for op in ov.Core().read_model(str(xml)).get_ordered_ops():
        counts[op.get_type_name()] = counts.get(op.get_type_name(), 0) + 1
    return counts


def count_ops_onnx(path: Path) -> dict[str, int]:
    import onnx

    counts: dict[str, int] = {}
    for n in onnx.load(str(path)).graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def run_artifact(path: Path, x: np.ndarray) -> np.ndarray:
    if path.suffix == ".xml":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return np.asarray(compiled(x)[compiled.output(0)])
    from ..backends.onnxruntime import session

    sess = session(path)
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0])


def check_artifact(model: nn.Module, path: Path, x: np.ndarray, fp32: nn.Module) -> dict[str, float]:
    """PSNR (dB) on ``x`` of the artifact vs the fake-quant model, and of the artifact and of the
    fake-quant model vs the FP32 model."""
    y = run_artifact(path, x)
    with torch.no_grad():
        fq = model(torch.from_numpy(x)).numpy()
        ref = fp32.eval()(torch.from_numpy(x)).numpy()
    return {"vs_fake_quant": output_psnr(y, fq), "vs_fp32": output_psnr(y, ref),
            "fake_quant_vs_fp32": output_psnr(fq, ref)}


def artifact_ok(db: dict[str, float], min_psnr: float = MIN_ARTIFACT_PSNR) -> bool:
    """Whether an artifact reproduces its fake-quant model (see MIN_ARTIFACT_PSNR)."""
    if db["vs_fake_quant"] >= min_psnr:
        return True
    return "vs_fp32" in db and db["vs_fp32"] >= db["fake_quant_vs_fp32"] - FIDELITY_MARGIN_DB


def probe_image(desc: ModelDescriptor, size: int = 64) -> np.ndarray:
    from ..data.defaults import default_benchmark_dir
    from ..data.io import list_images, read_uint8

    folder = default_benchmark_dir(desc.scale) / "LR_bicubic" / f"X{desc.scale}"
    lr = read_uint8(list_images(folder)[0])
    m = max(1, desc.size_requirements.multiple_of)
    s = max(m, size // m * m)
    crop = lr[:s, :s].astype(np.float32) / 255.0
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None])


def export_qat(model: nn.Module, desc: ModelDescriptor, out: str | Path, provenance: dict[str, Any],
               force: bool = False, min_psnr: float = MIN_ARTIFACT_PSNR) -> Manifest:
    """Write ``openvino/model.int8.xml``, ``model.qdq.onnx``, ``reference.pth`` and manifest.json to ``out``.

    ``desc.model`` is the FP32 model ``model`` was quantized from (the fidelity check's reference)."""
    from ..models.load import save_model

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise UserInputError(f"--export {out} already exists and is not empty; choose a new folder or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        x = probe_image(desc)
        (tmp / "openvino").mkdir()
        manifest = Manifest(arch=desc.arch, scale=desc.scale, size_requirements=desc.summary()["size_requirements"],
                            source=desc.source, source_sha256=desc.source_sha256, hyperparams=dict(desc.hyperparams),
                            params=desc.params, tile_hint=desc.tile_hint, tools=tool_versions())
        arts = [("openvino-int8", "openvino/model.int8.xml", "openvino", ["openvino/model.int8.bin"]),
                ("onnx-int8", "model.qdq.onnx", "onnxruntime", [])]
        for name, rel, backend, extra in arts:
            if backend == "openvino":
                s = export_openvino(model, desc, tmp / rel, torch.from_numpy(x))
            else:
                s = export_onnx_qdq(model, tmp / rel, torch.from_numpy(x))
            db = check_artifact(model, tmp / rel, x, desc.model)
            if not artifact_ok(db, min_psnr):
                raise ExportError(f"{name}: output is {db['vs_fake_quant']:.1f} dB from the fake-quant model "
                                  f"(< {min_psnr} dB) and {db['vs_fp32']:.1f} dB from FP32 where the fake-quant "
                                  f"model is {db['fake_quant_vs_fp32']:.1f} dB; the export does not reproduce it")
            s.update({"vs_fake_quant_psnr_db": round(db["vs_fake_quant"], 2), "vs_fp32_psnr_db": round(db["vs_fp32"], 2),
                      "fake_quant_vs_fp32_psnr_db": round(db["fake_quant_vs_fp32"], 2), "provenance": provenance})
            manifest.artifacts.append(ArtifactEntry(name=name, path=rel, backend=backend, precision="int8",
                                                    sha256=sha256_file(tmp / rel), opset=17 if extra == [] else None,
                                                    settings=s, files=[rel, *extra]))
        save_model(desc, tmp / "reference.pth")
        manifest.reference = {"path": "reference.pth", "sha256": sha256_file(tmp / "reference.pth")}
        manifest.provenance = provenance
        manifest.write(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest.root = out
    return manifest
