"""``.param`` (+ ``.bin``) -> :class:`ModelDescriptor`: a native architecture when the graph is one, else the interpreter."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from ..registry import ModelDescriptor, SizeRequirements
from .convert import Describe, to_native
from .graph import NcnnGraphModule, load_ncnn_graph

PROBES = (8, 16, 32)  # LR sides tried for the forward pass that measures the scale (8 is cheapest)


def _measure(module: NcnnGraphModule, probe: int, source: str) -> tuple[int, torch.Tensor, torch.Tensor]:
    x = torch.rand(1, 3, probe, probe, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = module(x)
    if y.dim() != 4 or y.shape[1] != 3:
        raise CheckpointError(f"{source}: output blob {module.output_name} has shape {tuple(y.shape)}, "
                              "not an RGB image (sr-compress handles 3-channel SR models)")
    sh, rh = divmod(int(y.shape[-2]), probe)
    sw, rw = divmod(int(y.shape[-1]), probe)
    if rh or rw or sh != sw or sh < 1:
        raise ValueError(f"a {probe}x{probe} input gives {y.shape[-2]}x{y.shape[-1]}")
    return sh, x, y


def infer_scale(module: NcnnGraphModule, source: str) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(integer upscaling factor, probe input, graph output) from one small forward pass.

    Sides 8, 16, 32 are tried in turn (a graph with downsampling stages may need a multiple of 16).
    """
    problem = ""
    for probe in PROBES:
        try:
            return _measure(module, probe, source)
        except (RuntimeError, ValueError) as err:
            problem = str(err).splitlines()[0][:200]
    raise CheckpointError(f"{source}: cannot measure the scale on RGB inputs of {'/'.join(map(str, PROBES))} px: "
                          f"{problem} (not an integer-scale 3-channel SR model?)")


def graph_sha256(param_path: Path, chunk: int = 1 << 20) -> str:
    """One digest for the pair: sha256 over the ``.param`` bytes followed by the ``.bin`` bytes."""
    h = hashlib.sha256()
    for path in (param_path, param_path.with_suffix(".bin")):
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def load_ncnn_model(param_path: str | Path, scale: int | None = None, native: bool = True,
                    describe: Describe | None = None) -> ModelDescriptor:
    """Import an ncnn SR model; ``native=False`` keeps the graph interpreter even for known architectures.

    ``describe`` (``models.load.descriptor_from_state_dict``) is needed for the native conversion;
    without it the graph stays interpreted. ``models.load.load_model`` passes it.
    """
    param_path = Path(param_path)
    source = str(param_path.resolve())
    graph = load_ncnn_graph(param_path)
    found, probe, reference = infer_scale(graph, source)
    if scale is not None and scale != found:
        raise CheckpointError(f"{param_path} is a x{found} model but x{scale} was requested: "
                              f"use --scale {found} or a x{scale} model")
    sha = graph_sha256(param_path)
    converted = to_native(graph, source, probe, reference, describe) if native and describe else None
    if converted is not None:
        desc, _diff = converted
        desc.source_sha256 = sha
        return desc.eval()
    hp: dict[str, Any] = {
        "param": param_path.name,
        "layers": len(graph.layers),
        "weight_storage": ",".join(f"{k}:{v}" for k, v in sorted(graph.weight_storages.items())),
        "scale_from": f"forward {probe.shape[-1]}px -> {reference.shape[-1]}px",
    }
    return ModelDescriptor(
        model=graph, arch="ncnn", scale=found, size_requirements=SizeRequirements(minimum=1),
        tile_hint=256, onnx_exportable=False, hyperparams=hp, source=source, source_sha256=sha,
    )
