"""``NcnnGraphModule``: an ncnn graph (``.param`` + ``.bin``) run by PyTorch, layer by layer.

Each layer line becomes one :class:`~.layers.NcnnLayer` (weights as ``nn.Parameter``, so the
graph can be fine-tuned, distilled from, or counted by ``models/flops.py``). Blobs live in a
dict keyed by name and are dropped after their last consumer, so memory stays close to ncnn's.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ...errors import CheckpointError
from . import ops, resize  # noqa: F401 - importing registers their layer types
from .layers import LAYERS, NcnnLayer
from .param import LayerSpec, NcnnGraph, read_param
from .weights import WeightReader


def _graph_io(graph: NcnnGraph) -> tuple[list[str], list[str]]:
    produced: list[str] = []
    consumed: set[str] = set()
    inputs: list[str] = []
    for spec in graph.layers:
        for b in spec.inputs:
            if b not in produced and b not in inputs:
                inputs.append(b)  # fed from outside (ncnn allows blobs without an Input layer)
            consumed.add(b)
        if spec.type == "Input":
            inputs.extend(b for b in spec.outputs if b not in inputs)
        produced.extend(spec.outputs)
    outputs = [b for b in produced if b not in consumed]
    return inputs, outputs


class NcnnGraphModule(nn.Module):
    """Runs a parsed ncnn graph: ``forward(x)`` feeds the input blob and returns the output blob.

    ``input_name``/``output_name`` default to the graph's only Input blob and its only
    unconsumed blob (for Real-ESRGAN: ``data`` and ``output``).
    """

    def __init__(self, graph: NcnnGraph, reader: WeightReader, input_name: str | None = None,
                 output_name: str | None = None) -> None:
        super().__init__()
        self.source = graph.source
        self.layers = nn.ModuleList(self._build(spec, reader, graph.source) for spec in graph.layers)
        self.wiring = [(spec.inputs, spec.outputs, spec.type == "Input") for spec in graph.layers]
        self.weight_storages = dict(reader.storages)
        inputs, outputs = _graph_io(graph)
        self.input_name = self._pick(input_name, inputs, "input", graph.source)
        self.output_name = self._pick(output_name, outputs, "output", graph.source)
        self._last_use = self._last_uses()

    @staticmethod
    def _build(spec: LayerSpec, reader: WeightReader, source: str) -> NcnnLayer:
        if spec.type not in LAYERS:
            raise CheckpointError(
                f"{source}:{spec.line}: ncnn layer type {spec.type!r} (layer {spec.name}) is not supported by the "
                f"importer (supported: {', '.join(sorted(LAYERS.names()))})")
        try:
            return LAYERS.get(spec.type)(spec, reader)
        except (ValueError, IndexError, RuntimeError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"{source}:{spec.line}: cannot build {spec.type} layer {spec.name}: "
                                  f"{str(err).splitlines()[0][:200]}") from None

    @staticmethod
    def _pick(wanted: str | None, found: Sequence[str], what: str, source: str) -> str:
        if wanted is not None:
            return wanted
        if len(found) != 1:
            raise CheckpointError(f"{source}: the graph has {len(found)} {what} blobs ({', '.join(found[:6])}); "
                                  f"sr-compress needs exactly one")
        return found[0]

    def _last_uses(self) -> dict[str, int]:
        last: dict[str, int] = {}
        for i, (ins, _outs, _is_input) in enumerate(self.wiring):
            for b in ins:
                last[b] = i
        return last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blobs: dict[str, torch.Tensor] = {self.input_name: x}
        for i, (layer, (ins, outs, is_input)) in enumerate(zip(self.layers, self.wiring)):
            if is_input:
                continue
            try:
                args = [blobs[b] for b in ins]
            except KeyError as err:
                raise RuntimeError(f"ncnn layer {layer.ncnn_name} needs blob {err} that nothing produced") from None
            results = layer(*args)
            for b in ins:
                if self._last_use.get(b) == i and b != self.output_name:
                    blobs.pop(b, None)
            blobs.update(zip(outs, results))
            if self.output_name in outs:
                break
        return blobs[self.output_name]


def load_ncnn_graph(param_path: str | Path, bin_path: str | Path | None = None) -> NcnnGraphModule:
    """Parse ``param_path`` and its weights (default: the ``.bin`` beside it) into a module in eval mode."""
    param_path = Path(param_path)
    bin_path = Path(bin_path) if bin_path is not None else param_path.with_suffix(".bin")
    graph = read_param(param_path)
    if not bin_path.is_file():
        raise CheckpointError(f"{param_path}: its weights {bin_path} are missing (put the .bin beside the .param)")
    reader = WeightReader(bin_path)
    module = NcnnGraphModule(graph, reader)
    if reader.remaining() != 0:
        # ncnn itself ignores trailing bytes; they usually mean a .bin from another graph
        warnings.warn(f"{bin_path} has {reader.remaining()} bytes left after the last layer of {param_path}",
                      stacklevel=2)
    return module.eval()
