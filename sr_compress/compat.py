"""The one place that deals with environment quirks.

torchvision on CPU torch
    PyPI only ships CUDA builds of torchvision. Installed next to the CPU build of torch, its
    compiled extension fails to register its operators, and ``import torchvision`` raises
    ``RuntimeError: operator torchvision::nms does not exist``. Every package that imports
    torchvision at module level (spandrel, basicsr, pyiqa) then fails to import too.
    :func:`ensure_torchvision` imports torchvision once; if the compiled ops are the problem it
    registers placeholder schemas for the handful of ``torchvision::`` operators that
    torchvision's Python code declares fake kernels for, and imports again. The pure-Python
    parts (transforms, model definitions, ``torchvision.ops`` layers built from plain torch ops)
    then work; calling one of the compiled kernels (nms, roi_align, deform_conv2d) raises a
    clear error instead. Nothing in sr-compress needs those kernels.

Optional dependencies
    :func:`require` imports an optional module lazily and turns ImportError into
    :class:`~sr_compress.errors.MissingDependency` naming the extra to install.
"""

from __future__ import annotations

import importlib
import re
import sys
from types import ModuleType

from .errors import MissingDependency

_TV_STATE: dict[str, object] = {"done": False, "module": None, "patched": False, "error": None}

# Operators whose fake (meta) kernels torchvision registers at import time; registering those
# fails when the compiled library did not define the schema.
_TV_OP_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align": (
        "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor"
    ),
    "_roi_align_backward": (
        "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
        "int sampling_ratio, bool aligned) -> Tensor"
    ),
    "ps_roi_align": (
        "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)"
    ),
    "_ps_roi_align_backward": (
        "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
        "SymInt pooled_height, SymInt pooled_width, int sampling_ratio, SymInt batch_size, "
        "SymInt channels, SymInt height, SymInt width) -> Tensor"
    ),
    "roi_pool": (
        "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width) -> (Tensor, Tensor)"
    ),
    "_roi_pool_backward": (
        "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
        "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
        "SymInt height, SymInt width) -> Tensor"
    ),
    "ps_roi_pool": (
        "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width) -> (Tensor, Tensor)"
    ),
    "_ps_roi_pool_backward": (
        "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, float spatial_scale, "
        "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
        "SymInt height, SymInt width) -> Tensor"
    ),
    "deform_conv2d": (
        "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
        "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
        "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor"
    ),
    "_deform_conv2d_backward": (
        "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, Tensor mask, "
        "Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
        "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) "
        "-> (Tensor, Tensor, Tensor, Tensor, Tensor)"
    ),
}

_KEEP_LIBS: list[object] = []


def _purge(prefix: str) -> None:
    for name in list(sys.modules):
        if name == prefix or name.startswith(prefix + "."):
            del sys.modules[name]


def _define_placeholder_op(op: str) -> None:
    import torch

    lib = torch.library.Library("torchvision", "FRAGMENT")
    schema = _TV_OP_SCHEMAS.get(op, f"{op}(Tensor[] args) -> Tensor")
    lib.define(schema)

    def _unavailable(*_args: object, **_kw: object) -> object:
        raise RuntimeError(
            f"torchvision::{op} is unavailable: the installed torchvision is a CUDA build that "
            "cannot load its compiled ops on CPU torch (see sr_compress.compat)."
        )

    lib.impl(op, _unavailable, "CompositeExplicitAutograd")
    _KEEP_LIBS.append(lib)  # a Library deregisters its ops when garbage-collected


_MISSING_OP = re.compile(r"operator torchvision::(\w+) does not exist")


def ensure_torchvision() -> ModuleType | None:
    """Import torchvision so that packages importing it work on CPU torch.

    Returns the module, or ``None`` when torchvision is not installed at all. Idempotent.
    """
    if _TV_STATE["done"]:
        return _TV_STATE["module"]  # type: ignore[return-value]
    _TV_STATE["done"] = True
    try:
        module = importlib.import_module("torchvision")
    except ImportError:
        return None
    except RuntimeError as err:
        # Each failed import names the next operator whose schema the CUDA build did not
        # register; define a placeholder for it and try again (a handful of rounds at most).
        _TV_STATE["error"] = str(err)
        module = None
        last = err
        for _ in range(2 * len(_TV_OP_SCHEMAS) + 4):
            match = _MISSING_OP.search(str(last))
            if match is None:
                raise last from None
            _purge("torchvision")
            _define_placeholder_op(match.group(1))
            try:
                module = importlib.import_module("torchvision")
                break
            except RuntimeError as again:
                last = again
        if module is None:
            raise last from None
        _TV_STATE["patched"] = True
    _TV_STATE["module"] = module
    return module


def torchvision_was_patched() -> bool:
    """True when :func:`ensure_torchvision` had to install placeholder operators."""
    ensure_torchvision()
    return bool(_TV_STATE["patched"])


def require(module: str, extra: str, what: str | None = None) -> ModuleType:
    """Import an optional dependency or raise :class:`MissingDependency` naming the extra."""
    if module.split(".")[0] in {"spandrel", "spandrel_extra_arches", "basicsr", "pyiqa"}:
        ensure_torchvision()
    try:
        return importlib.import_module(module)
    except ImportError as err:
        label = what or module
        raise MissingDependency(
            f"{label} is not installed ({err}): pip install 'sr-compress[{extra}]'"
        ) from None
