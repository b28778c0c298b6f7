"""The stored form of a pruned network and how ``load_model`` rebuilds it.

A pruned checkpoint is our ordinary format (``models/load.py``: a plain state dict + the arch
name and ORIGINAL hyper-parameters) plus ``sr_compress["pruned"]``: per-layer widths of every
convolution / PReLU / norm whose shape changed. Loading builds the original architecture, then
re-creates those layers at the stored widths and lets arch fix-ups (``fixups.py``) re-derive the
few Python-side sizes (IMDN's split sizes) from the new shapes. Only tensors, ints and strings
are stored, so ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...errors import CheckpointError

PRUNED_KEY = "pruned"
_ATTR = "sr_compress_pruned"  # plain dict attached to the pruned module; save_model writes it back


def layer_widths(model: nn.Module) -> dict[str, dict[str, int]]:
    """{module name: {"in", "out", "groups"}} of every conv / PReLU / norm layer."""
    out: dict[str, dict[str, int]] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            out[name] = {"in": m.in_channels, "out": m.out_channels, "groups": m.groups}
        elif isinstance(m, nn.PReLU):
            out[name] = {"in": m.num_parameters, "out": m.num_parameters, "groups": 1}
        elif isinstance(m, nn.BatchNorm2d):
            out[name] = {"in": m.num_features, "out": m.num_features, "groups": 1}
    return out


def pruned_record(model: nn.Module) -> dict[str, Any] | None:
    """The pruning record attached to ``model`` (None for an unpruned network)."""
    rec = getattr(model, _ATTR, None)
    return dict(rec) if isinstance(rec, dict) else None


def attach_record(model: nn.Module, original: nn.Module, extra: dict[str, Any]) -> dict[str, Any]:
    """Attach the widths that differ from ``original``'s (plus ``extra`` facts) to ``model``."""
    before, after = layer_widths(original), layer_widths(model)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    rec = {"format": 1, "widths": changed, "original_widths": {k: before[k] for k in changed}, **extra}
    setattr(model, _ATTR, rec)
    return rec


def _conv_like(old: nn.Conv2d, w: dict[str, int]) -> nn.Conv2d:
    return nn.Conv2d(w["in"], w["out"], old.kernel_size, old.stride, old.padding, old.dilation,  # type: ignore[arg-type]
                     w["groups"], old.bias is not None, old.padding_mode)


def apply_record(model: nn.Module, record: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """Re-shape a freshly built original network to the widths in ``record`` (in place)."""
    from .fixups import apply_fixups

    modules = dict(model.named_modules())
    widths = record.get("widths")
    if not isinstance(widths, dict):
        raise CheckpointError(f"{source}: its pruning record has no per-layer widths (file damaged?)")
    for name, w in widths.items():
        old = modules.get(name)
        if old is None:
            raise CheckpointError(f"{source}: pruned layer {name!r} does not exist in the rebuilt network "
                                  "(saved by another version?)")
        if isinstance(old, nn.Conv2d):
            new: nn.Module = _conv_like(old, w)
        elif isinstance(old, nn.PReLU):
            new = nn.PReLU(int(w["out"]))
        elif isinstance(old, nn.BatchNorm2d):
            new = nn.BatchNorm2d(int(w["out"]), old.eps, old.momentum, old.affine, old.track_running_stats)
        else:
            raise CheckpointError(f"{source}: cannot re-shape layer {name!r} ({type(old).__name__})")
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, child, new)
    apply_fixups(model)
    setattr(model, _ATTR, dict(record))
    return model
