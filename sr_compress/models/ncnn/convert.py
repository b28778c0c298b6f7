"""Turn an imported ncnn graph into a native architecture when it is one we know.

Each layout function pairs the graph's weighted layers (in ``.param`` order) with the
architecture's state-dict prefixes, so the mapping runs both ways: :func:`state_dict_of` for the
import, :func:`load_state_dict_into` for writing the (possibly retrained) native weights back into
the graph (``write.py``, ``export --ncnn``). :func:`to_native` then
builds the network through the normal registry path and keeps it only if it reproduces the
interpreter on the probe input of the scale measurement (max abs <= ``tol``), so a graph that merely looks similar (e.g.
animevideov3-x2, which adds a bicubic downscale) stays interpreted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..registry import ModelDescriptor
from .graph import NcnnGraphModule
from .layers import Convolution, NcnnLayer
from .ops import PixelShuffle, PReLU

StateDict = dict[str, torch.Tensor]
# (state-dict prefix, ncnn layer) for every weighted layer, in .param order
Layout = list[tuple[str, NcnnLayer]]
LayoutFn = Callable[[NcnnGraphModule], Layout | None]


def _weighted(graph: NcnnGraphModule) -> list[NcnnLayer]:
    return [m for m in graph.layers if isinstance(m, NcnnLayer) and any(True for _ in m.parameters())]


def _tensors(layer: NcnnLayer) -> dict[str, torch.Tensor]:
    """The layer's weights under the native architecture's suffixes (``weight``, ``bias``)."""
    if isinstance(layer, Convolution):
        out: dict[str, torch.Tensor] = {"weight": layer.conv.weight}
        if layer.conv.bias is not None:
            out["bias"] = layer.conv.bias
        return out
    assert isinstance(layer, PReLU)
    return {"weight": layer.weight}


def rrdbnet_layout(graph: NcnnGraphModule) -> Layout | None:
    """conv_first, 15 convs per RRDB, conv_body, conv_up1, conv_up2, conv_hr, conv_last — all plain convs."""
    convs = _weighted(graph)
    if not convs or any(not isinstance(c, Convolution) for c in convs):
        return None
    n_body, rem = divmod(len(convs) - 6, 15)
    if rem or n_body < 1:
        return None
    names = ["conv_first"]
    names += [f"body.{b}.rdb{r}.conv{c}" for b in range(n_body) for r in (1, 2, 3) for c in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    return list(zip(names, convs))


def srvgg_layout(graph: NcnnGraphModule) -> Layout | None:
    """Alternating conv / PReLU, a last conv, then a PixelShuffle (body.0 .. body.2B+2)."""
    layers = _weighted(graph)
    if len(layers) < 3 or len(layers) % 2 == 0 or not any(isinstance(m, PixelShuffle) for m in graph.layers):
        return None
    for i, layer in enumerate(layers):
        if not isinstance(layer, Convolution if i % 2 == 0 else PReLU):
            return None
    return [(f"body.{i}", layer) for i, layer in enumerate(layers)]


def state_dict_of(layout: Layout) -> StateDict:
    """The native state dict of the graph's weights (copies)."""
    return {f"{prefix}.{k}": t.detach().clone() for prefix, layer in layout for k, t in _tensors(layer).items()}


def load_state_dict_into(layout: Layout, sd: StateDict) -> None:
    """Copy a native state dict back into the graph's layers (the inverse of :func:`state_dict_of`).

    A missing key or a shape that differs is a ``ValueError`` naming the key: the native model no
    longer has the imported graph's shape.
    """
    with torch.no_grad():
        for prefix, layer in layout:
            for k, t in _tensors(layer).items():
                key = f"{prefix}.{k}"
                src = sd.get(key)
                if src is None or tuple(src.shape) != tuple(t.shape):
                    got = "missing" if src is None else f"shape {tuple(src.shape)}"
                    raise ValueError(f"{key}: {got}, the imported graph has {tuple(t.shape)}")
                t.copy_(src)


def rrdbnet_state_dict(graph: NcnnGraphModule) -> StateDict | None:
    layout = rrdbnet_layout(graph)
    return None if layout is None else state_dict_of(layout)


def srvgg_state_dict(graph: NcnnGraphModule) -> StateDict | None:
    layout = srvgg_layout(graph)
    return None if layout is None else state_dict_of(layout)


LAYOUTS: dict[str, LayoutFn] = {"rrdbnet": rrdbnet_layout, "srvgg": srvgg_layout}
CONVERTERS: dict[str, Callable[[NcnnGraphModule], StateDict | None]] = {"rrdbnet": rrdbnet_state_dict,
                                                                        "srvgg": srvgg_state_dict}


@torch.no_grad()
def max_abs_diff(model: nn.Module, x: torch.Tensor, reference: torch.Tensor) -> float:
    y = model(x)
    return float((y - reference).abs().max()) if y.shape == reference.shape else float("inf")


Describe = Callable[..., ModelDescriptor]  # models.load.descriptor_from_state_dict(sd, source=...)


def to_native(graph: NcnnGraphModule, source: str, probe: torch.Tensor, reference: torch.Tensor,
              describe: Describe, tol: float = 1e-4) -> tuple[ModelDescriptor, float] | None:
    """(native descriptor, max abs difference to the interpreter's ``reference`` output for ``probe``), or None.

    ``describe`` turns a state dict into a descriptor through the architecture registry; it is passed
    in by ``models.load`` (which imports this package) so that this package never imports it back.
    """
    from ...errors import CheckpointError

    for arch, convert in CONVERTERS.items():
        sd = convert(graph)
        if sd is None:
            continue
        try:
            desc = describe(sd, source=source)
        except CheckpointError:
            continue
        if desc.arch != arch:
            continue
        diff = max_abs_diff(desc.model.eval(), probe, reference)
        if diff <= tol:
            return desc, diff
    return None
