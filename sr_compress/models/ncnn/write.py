"""Write an imported ncnn graph back as ``.param`` + ``.bin``, with the module's current weights.

The inverse of :mod:`.param` + :mod:`.weights`: the layer lines are re-serialised from their
parsed parameters (so the graph ncnn runs is the one that was imported, layer for layer) and
each weighted layer's blobs are written in ncnn's ``.bin`` order from the PyTorch parameters,
so a graph that was fine-tuned or distilled after import exports its new weights. Weights are
stored as fp32 (tag 0) or fp16 (tag ``0x01306B47``); biases, slopes and per-channel values are
bare fp32 as ncnn reads them. int8 layers are written dequantized (float weights, int8 off).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import torch

from .graph import NcnnGraphModule, load_ncnn_graph
from .layers import ConvBase, DeconvBase, NcnnLayer
from .ops import PReLU
from .param import MAGIC, LayerSpec, NcnnGraph, ParamValue, read_param
from .resize import Padding
from .weights import TAG_FP16

if TYPE_CHECKING:
    from ..registry import ModelDescriptor


class UnwritableGraph(ValueError):
    """The graph cannot be written back (a weighted layer type the writer does not know)."""


def _fmt_scalar(v: int | float) -> str:
    # ncnn tells floats by a '.' or 'e' and reads at most 15 characters: 9 significant digits
    # round-trip a float32 exactly
    return f"{v:.8e}" if isinstance(v, float) else str(int(v))


def format_params(values: dict[int, ParamValue]) -> list[str]:
    """``{0: 64, 10: [0.2]}`` -> ``["0=64", "-23310=1,2.00000000e-01"]`` (arrays in the ``-233XX`` form)."""
    out = []
    for key in sorted(values):
        v = values[key]
        if isinstance(v, list):
            out.append(f"{-23300 - key}={len(v)}" + "".join(f",{_fmt_scalar(x)}" for x in v))
        elif isinstance(v, str):
            out.append(f"{key}={v}")
        else:
            out.append(f"{key}={_fmt_scalar(v)}")
    return out


def _tagged(f: BinaryIO, values: torch.Tensor, fp16: bool) -> None:
    arr = values.detach().to("cpu", torch.float32).contiguous().numpy().reshape(-1)
    if fp16:
        data = arr.astype("<f2").tobytes()
        f.write(TAG_FP16.to_bytes(4, "little") + data + b"\0" * (-len(data) % 4))
    else:
        f.write(b"\0\0\0\0" + arr.astype("<f4").tobytes())


def _raw(f: BinaryIO, values: torch.Tensor) -> None:
    f.write(values.detach().to("cpu", torch.float32).contiguous().numpy().reshape(-1).astype("<f4").tobytes())


def _deconv_weight(layer: DeconvBase) -> torch.Tensor:
    """torch [in][out_g][kh][kw] -> ncnn [group][out_g][in_g][kh][kw] (the reader's transform, inverted)."""
    w = layer.deconv.weight
    in_total, out_g, kh, kw = w.shape
    g = layer.group
    return w.reshape(g, in_total // g, out_g, kh, kw).transpose(1, 2)


def write_layer_weights(f: BinaryIO, layer: NcnnLayer, params: dict[int, ParamValue], fp16: bool) -> None:
    """Append ``layer``'s blobs to ``f``; adjusts ``params`` where the written form differs (int8 off)."""
    if isinstance(layer, (ConvBase, DeconvBase)):
        w = layer.conv.weight if isinstance(layer, ConvBase) else layer.deconv.weight
        if w.numel() != params.get(6):  # weight_data_size: the .param must describe the weights written
            raise UnwritableGraph(f"ncnn layer {layer.ncnn_name} ({layer.ncnn_type}) now has {w.numel()} weights, "
                                  f"its .param line says {params.get(6)}")
    if isinstance(layer, ConvBase):
        _tagged(f, layer.conv.weight, fp16)
        if layer.conv.bias is not None:
            _raw(f, layer.conv.bias)
        params.pop(8, None)  # the weights are float now: no int8 scales follow them
    elif isinstance(layer, DeconvBase):
        _tagged(f, _deconv_weight(layer), fp16)
        if layer.bias is not None:
            _raw(f, layer.bias)
    elif isinstance(layer, PReLU):
        _raw(f, layer.weight)
    elif isinstance(layer, Padding):
        if layer.per_channel.numel():
            _raw(f, layer.per_channel)
    elif any(True for _ in layer.parameters()) or any(True for _ in layer.buffers()):
        raise UnwritableGraph(f"ncnn layer {layer.ncnn_name} ({layer.ncnn_type}) has weights the writer does not know")


def _renamer(specs: Sequence[LayerSpec], rename: dict[str, str]) -> dict[str, str]:
    """``rename`` plus a fresh name for any other blob that already uses one of the new names."""
    taken = set(rename.values())
    blobs = {b for s in specs for b in (*s.inputs, *s.outputs)}
    out = dict(rename)
    for b in sorted(blobs):
        if b in taken and b not in rename:
            new = b
            while new in taken or new in blobs:
                new += "_"
            out[b] = new
    return out


def write_ncnn(specs: Sequence[LayerSpec], module: NcnnGraphModule, param_path: str | Path, fp16: bool,
               blob_count: int, rename: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Write ``specs`` (the parsed ``.param`` the module was built from) with ``module``'s weights.

    ``rename`` maps blob names (e.g. the input and output to ``in0``/``out0``). Returns the paths of
    the ``.param`` and ``.bin`` written.
    """
    param_path = Path(param_path)
    bin_path = param_path.with_suffix(".bin")
    if len(specs) != len(module.layers):
        raise UnwritableGraph(f"the graph has {len(specs)} layer lines but the module {len(module.layers)} layers")
    names = _renamer(specs, rename or {})
    lines = [str(MAGIC), f"{len(specs)} {blob_count}"]
    with open(bin_path, "wb") as f:
        for spec, layer in zip(specs, module.layers):
            if not isinstance(layer, NcnnLayer) or (layer.ncnn_type, layer.ncnn_name) != (spec.type, spec.name):
                raise UnwritableGraph(f"layer {spec.name} ({spec.type}) does not match the module's layer {layer}")
            params = dict(spec.params.values)
            write_layer_weights(f, layer, params, fp16)
            blobs = [names.get(b, b) for b in (*spec.inputs, *spec.outputs)]
            lines.append(" ".join([spec.type, spec.name, str(len(spec.inputs)), str(len(spec.outputs)), *blobs,
                                   *format_params(params)]))
    param_path.write_text("\n".join(lines) + "\n")
    return param_path, bin_path


__all__ = ["UnwritableGraph", "format_params", "source_graph", "write_layer_weights", "write_ncnn"]


def source_graph(desc: ModelDescriptor) -> tuple[NcnnGraph, NcnnGraphModule] | None:
    """The ncnn graph ``desc`` was imported from, carrying ``desc``'s current weights; else None.

    None when ``desc`` did not come from a ``.param`` (or the file is gone), or when its native
    architecture no longer fits the graph (other hyper-parameters, pruned channels).
    """
    from .convert import LAYOUTS, load_state_dict_into

    src = Path(desc.source) if desc.source else None
    if src is None or src.suffix.lower() != ".param" or not src.is_file() or not src.with_suffix(".bin").is_file():
        return None
    graph = read_param(src)
    if isinstance(desc.model, NcnnGraphModule):
        return graph, desc.model
    layout_fn = LAYOUTS.get(desc.arch)
    if layout_fn is None:
        return None
    module = load_ncnn_graph(src)
    layout = layout_fn(module)
    if layout is None:
        return None
    try:
        load_state_dict_into(layout, desc.model.state_dict())
    except ValueError:
        return None
    return graph, module
