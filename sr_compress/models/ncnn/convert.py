"""Turn an imported ncnn graph into a native architecture when it is one we know.

Each converter reads the graph's weighted layers in ``.param`` order, names them with the
architecture's state-dict keys and returns ``(arch name, state dict)``; :func:`to_native` then
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
Converter = Callable[[NcnnGraphModule], StateDict | None]


def _weighted(graph: NcnnGraphModule) -> list[NcnnLayer]:
    return [m for m in graph.layers if isinstance(m, NcnnLayer) and any(True for _ in m.parameters())]


def _conv_items(prefix: str, layer: nn.Module) -> StateDict:
    assert isinstance(layer, Convolution)
    out = {f"{prefix}.weight": layer.conv.weight.detach().clone()}
    if layer.conv.bias is not None:
        out[f"{prefix}.bias"] = layer.conv.bias.detach().clone()
    return out


def rrdbnet_state_dict(graph: NcnnGraphModule) -> StateDict | None:
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
    sd: StateDict = {}
    for name, layer in zip(names, convs):
        sd.update(_conv_items(name, layer))
    return sd


def srvgg_state_dict(graph: NcnnGraphModule) -> StateDict | None:
    """Alternating conv / PReLU, a last conv, then a PixelShuffle (body.0 .. body.2B+2)."""
    layers = _weighted(graph)
    if len(layers) < 3 or not any(isinstance(m, PixelShuffle) for m in graph.layers):
        return None
    sd: StateDict = {}
    for i, layer in enumerate(layers):
        want = Convolution if i % 2 == 0 else PReLU
        if not isinstance(layer, want):
            return None
        if isinstance(layer, PReLU):
            sd[f"body.{i}.weight"] = layer.weight.detach().clone()
        else:
            sd.update(_conv_items(f"body.{i}", layer))
    return sd if len(layers) % 2 == 1 else None


CONVERTERS: dict[str, Converter] = {"rrdbnet": rrdbnet_state_dict, "srvgg": srvgg_state_dict}


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
