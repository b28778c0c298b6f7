"""INT8 post-training quantization: calibration patches, ONNX static QDQ, NNCF for OpenVINO.

Calibration data are real LR patches: images from ``--calib DIR`` (default: the embedded
default photographs) are taken as HR, degraded with MATLAB bicubic by the model's scale (the
degradation the models were trained on), and cut into fixed-size patches at deterministic
random positions. Activations ranges measured on these are what the INT8 model will see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..data.imresize import bicubic_degrade_uint8, modcrop
from ..data.io import list_images, read_uint8
from ..errors import UserInputError
from ..models.registry import SizeRequirements
from ..runtime.cpu import int8_saturates
from ..runtime.tiling import round_tile


def default_calib_dir() -> Path:
    from ..data.defaults import default_images_dir

    return default_images_dir()


def calibration_patches(
    calib_dir: str | Path | None,
    scale: int,
    patch: int = 64,
    count: int = 64,
    req: SizeRequirements | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """``count`` LR patches, each (1, 3, p, p) float32 in [0, 1], p = ``patch`` rounded to the model."""
    folder = Path(calib_dir) if calib_dir else default_calib_dir()
    files = list_images(folder)
    p = round_tile(patch, req or SizeRequirements())
    rng = np.random.default_rng(seed)
    lrs = []
    for f in files:
        hr = modcrop(read_uint8(f), scale, channels_last=True)
        lr = bicubic_degrade_uint8(hr, scale) if scale > 1 else hr
        if lr.shape[0] >= p and lr.shape[1] >= p:
            lrs.append(lr)
    if not lrs:
        raise UserInputError(
            f"--calib {folder}: no image is large enough for {p}x{p} LR patches at x{scale}; "
            "use larger images or a smaller --tile"
        )
    out = []
    for i in range(count):
        lr = lrs[i % len(lrs)]
        y = int(rng.integers(0, lr.shape[0] - p + 1))
        x = int(rng.integers(0, lr.shape[1] - p + 1))
        crop = lr[y : y + p, x : x + p].astype(np.float32) / 255.0
        out.append(np.ascontiguousarray(crop.transpose(2, 0, 1)[None]))
    return out


def end_conv_names_onnx(path: str | Path) -> list[str]:
    """Names of the first and last ``Conv`` nodes of an ONNX graph (the SR head and tail)."""
    import onnx

    convs = [n.name for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type == "Conv"]
    return list(dict.fromkeys(convs[:1] + convs[-1:]))


def end_conv_names_openvino(model: Any) -> list[str]:
    """Friendly names of the first and last ``Convolution`` ops of an ``openvino.Model``."""
    convs = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    return list(dict.fromkeys(convs[:1] + convs[-1:]))


class _PatchReader:
    """onnxruntime ``CalibrationDataReader`` over a list of patches."""

    def __init__(self, input_name: str, patches: list[np.ndarray]) -> None:
        self.input_name = input_name
        self.patches = patches
        self._it: Iterator[np.ndarray] = iter(patches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        nxt = next(self._it, None)
        return None if nxt is None else {self.input_name: nxt}

    def rewind(self) -> None:
        self._it = iter(self.patches)


def quantize_onnx_static(src: str | Path, dst: str | Path, patches: list[np.ndarray],
                         per_channel: bool = True, method: str = "minmax",
                         float_ends: bool = False, reduce_range: bool | None = None) -> dict[str, Any]:
    """Static QDQ INT8 (U8 activations, S8 weights) calibrated on ``patches``.

    ``reduce_range`` (default: this CPU lacks VNNI, see runtime/cpu.py) stores 7-bit weights so
    ONNX Runtime's u8 x s8 kernels cannot saturate.

    ``float_ends`` keeps the first and last convolution in float, the usual practice of the SR
    quantization literature: the head sees raw pixels and the tail writes them, so 8-bit
    rounding there shows up directly in the output.
    """
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    class Reader(_PatchReader, CalibrationDataReader):
        pass

    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile}[method]
    exclude = end_conv_names_onnx(src) if float_ends else []
    if reduce_range is None:
        reduce_range = int8_saturates()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_static warns about optional pre-processing on every call
    try:
        quantize_static(
            str(src), str(dst), Reader(name, patches), quant_format=QuantFormat.QDQ, per_channel=per_channel,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=calib,
            reduce_range=reduce_range,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True}, nodes_to_exclude=exclude,
        )
    finally:
        root.setLevel(level)
    return {"format": "QDQ", "activations": "uint8", "weights": "int8", "per_channel": per_channel,
            "calibration": method, "calibration_patches": len(patches), "reduce_range": reduce_range,
            "patch": list(patches[0].shape[2:]) if patches else None, "float_nodes": exclude}


def nncf_quantize_openvino(model: Any, patches: list[np.ndarray], preset: str = "mixed",
                           validation: tuple[list[Any], Callable[[Any, Any], float]] | None = None,
                           max_drop: float | None = None, subset_size: int | None = None,
                           float_ends: bool = False, overflow_fix: bool | None = None) -> tuple[Any, dict[str, Any]]:
    """NNCF PTQ of an ``openvino.Model``; with ``max_drop`` use accuracy-controlled quantization.

    ``overflow_fix`` (default: this CPU lacks VNNI, see runtime/cpu.py) quantizes every weight to
    7 bits (NNCF ``OverflowFix.ENABLE``) instead of only the first layer's (NNCF's default).

    ``float_ends``: the first and last convolution stay in float (see :func:`quantize_onnx_static`).
    """
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    if overflow_fix is None:
        overflow_fix = int8_saturates()
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE if overflow_fix
                                              else OverflowFix.FIRST_LAYER)
    calib = nncf.Dataset(patches)
    float_nodes = end_conv_names_openvino(model) if float_ends else []
    ignored = nncf.IgnoredScope(names=float_nodes) if float_nodes else None
    presets = {"mixed": nncf.QuantizationPreset.MIXED, "performance": nncf.QuantizationPreset.PERFORMANCE}
    subset = subset_size or len(patches)
    settings: dict[str, Any] = {"tool": "nncf", "preset": preset, "subset_size": subset,
                                "calibration_patches": len(patches),
                                "patch": list(patches[0].shape[2:]) if patches else None,
                                "float_nodes": float_nodes, "overflow_fix": "all" if overflow_fix else "first_layer"}
    if max_drop is None:
        q = nncf.quantize(model, calib, preset=presets[preset], subset_size=subset, ignored_scope=ignored,
                          advanced_parameters=advanced)
        settings["mode"] = "ptq"
        return q, settings
    if validation is None:
        raise UserInputError("--max-drop needs a validation set (Set5 or the default benchmark)")
    items, fn = validation
    q = nncf.quantize_with_accuracy_control(
        model, calibration_dataset=calib, validation_dataset=nncf.Dataset(items), validation_fn=fn,
        max_drop=max_drop, drop_type=nncf.DropType.ABSOLUTE, preset=presets[preset], subset_size=subset,
        ignored_scope=ignored, advanced_quantization_parameters=advanced,
    )
    settings.update({"mode": "accuracy_control", "max_drop_db": max_drop, "metric": "PSNR-Y (dB)"})
    return q, settings
