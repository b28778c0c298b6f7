"""Export: one model -> the artifacts of the selected backends + ``manifest.json``.

The orchestration is :mod:`sr_compress.export.build`; each backend's export step lives in
``sr_compress/backends/<name>.py`` and uses the converters here (``onnx.py``, ``openvino.py``,
``quantize.py``, ``tensorrt.py``, ``triton.py``, ``ncnn.py``).
"""

from __future__ import annotations

from .build import PRECISIONS, REFERENCE_NAME, ExportOptions, export_model, parse_precisions

__all__ = ["PRECISIONS", "REFERENCE_NAME", "ExportOptions", "export_model", "parse_precisions"]
