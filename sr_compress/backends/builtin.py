"""The built-in backends, in the order exports are written and listed (one line each)."""

from __future__ import annotations

from . import declare
from .onnxruntime import OnnxRuntimeBackend
from .openvino import OpenVINOBackend
from .tensorrt import TensorRTBackend
from .torch import TorchBackend
from .triton import TritonBackend

declare(TorchBackend())
declare(OnnxRuntimeBackend())
declare(OpenVINOBackend())
declare(TensorRTBackend())
declare(TritonBackend())
