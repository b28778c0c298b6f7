"""The built-in backends, in the order exports are written and listed (one line each).

Each module in this folder defines its :class:`~.base.Backend` subclass and ``BACKEND``, an
instance of it.
"""

from __future__ import annotations

import importlib

from . import declare

BUILTIN_MODULES = (
    "torch",
    "onnxruntime",
    "openvino",
    "tensorrt",
    "triton",
    "ncnn",
)

for _module in BUILTIN_MODULES:
    declare(importlib.import_module(f"{__package__}.{_module}").BACKEND)
