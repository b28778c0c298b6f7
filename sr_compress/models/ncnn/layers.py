"""PyTorch versions of the ncnn layers SR networks use, one class per ncnn layer type.

Semantics follow ncnn's reference CPU layers (``src/layer/<type>.cpp``): parameter ids and
defaults, weight order in the ``.bin`` and edge handling. A 3-D ncnn blob (c, h, w) is an
NCHW tensor here (the batch is an extra leading axis ncnn does not have), so an ncnn axis ``a``
of a 3-D blob is tensor dim ``a + 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import Registry
from .param import LayerSpec, ParamDict
from .weights import WeightReader

Tensor = torch.Tensor
LayerBuilder = Callable[[LayerSpec, WeightReader], "NcnnLayer"]
# graph.py imports ops.py and resize.py, which register the other layer types
LAYERS: Registry[LayerBuilder] = Registry("ncnn layer type", builtins="sr_compress.models.ncnn.graph")


class NcnnLayer(nn.Module):
    """One ncnn layer: ``forward(*inputs)`` returns the list of its output blobs."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        self.ncnn_type = spec.type
        self.ncnn_name = spec.name

    def extra_repr(self) -> str:
        return f"{self.ncnn_type} {self.ncnn_name!r}"


def _param(t: Tensor) -> nn.Parameter:
    return nn.Parameter(t.clone(), requires_grad=True)


# ---------------------------------------------------------------------------------- activations
def fused_activation(x: Tensor, kind: int, params: list[float]) -> Tensor:
    """ncnn's ``activation_type`` fused into conv layers (``fused_activation.h``)."""
    if kind == 0:
        return x
    if kind == 1:
        return F.relu(x)
    if kind == 2:
        return torch.where(x > 0, x, x * params[0])
    if kind == 3:
        return x.clamp(params[0], params[1])
    if kind == 4:
        return torch.sigmoid(x.clamp(-88.3762626647949, 88.3762626647949))
    if kind == 5:
        return x * torch.tanh(F.softplus(x))
    if kind == 6:
        alpha, beta = params[0], params[1]
        lower = -beta / alpha
        upper = 1.0 / alpha + lower
        return torch.where(x < lower, torch.zeros_like(x), torch.where(x > upper, x, x * (x * alpha + beta)))
    raise ValueError(f"unknown fused activation_type {kind}")


def _round_away(x: Tensor) -> Tensor:
    # ncnn's float2int8 rounds half away from zero (C round()), torch.round rounds half to even
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def fake_quant_int8(x: Tensor, scale: float) -> Tensor:
    """ncnn's input quantisation of an int8 layer, kept in float: round(x*s) clipped to ±127, / s."""
    if scale == 0:
        return torch.zeros_like(x)
    return _round_away(x * scale).clamp(-127, 127) / scale


# ------------------------------------------------------------------------------- convolutions
def _window(pd: ParamDict) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """(kernel, dilation, stride, pads) as (h, w) pairs and (left, right, top, bottom): param ids 1-4
    and 11-16, which Convolution* and Deconvolution* share (each w value is the h default)."""
    kw = pd.get_int(1, 0)
    dw = pd.get_int(2, 1)
    sw = pd.get_int(3, 1)
    left = pd.get_int(4, 0)
    top = pd.get_int(14, left)
    pads = (left, pd.get_int(15, left), top, pd.get_int(16, top))
    return (pd.get_int(11, kw), kw), (pd.get_int(12, dw), dw), (pd.get_int(13, sw), sw), pads


class ConvBase(NcnnLayer):
    """Shared parameter reading of Convolution / ConvolutionDepthWise (ids 0-18 of the table)."""

    def __init__(self, spec: LayerSpec, reader: WeightReader, depthwise: bool) -> None:
        super().__init__(spec)
        pd = spec.params
        self.num_output = pd.get_int(0, 0)
        self.kernel, self.dilation, self.stride, self.pads = _window(pd)
        kh, kw = self.kernel
        self.pad_value = pd.get_float(18, 0.0)
        self.group = pd.get_int(7, 1) if depthwise else 1
        self.activation = (pd.get_int(9, 0), pd.floats(10))
        self.int8_scale_term = pd.get_int(8, 0)
        if pd.get_int(19, 0):
            raise ValueError("dynamic_weight convolutions (weights as an input blob) are not supported")
        wsize = pd.get_int(6, 0)
        maxk = kh * kw
        if self.num_output <= 0 or maxk <= 0 or wsize % (self.num_output * maxk) or self.num_output % self.group:
            raise ValueError(f"inconsistent num_output={self.num_output} kernel={kw}x{kh} weight_data_size={wsize}")
        in_g = wsize // (self.num_output * maxk)
        self.in_channels = in_g * self.group
        w, self.weight_storage = reader.tagged(wsize, spec.name)
        bias = reader.raw(self.num_output, spec.name) if pd.get_int(5, 0) else None
        self.input_scale: float | None = None
        if self.int8_scale_term:
            w = self._dequantize(w, reader, spec.name, depthwise)
        self.conv = nn.Conv2d(self.in_channels, self.num_output, self.kernel, self.stride, 0, self.dilation,
                              self.group, bias=bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(w.view(self.num_output, in_g, kh, kw))
            if bias is not None:
                self.conv.bias.copy_(bias)  # type: ignore[union-attr]

    def _dequantize(self, w: Tensor, reader: WeightReader, name: str, depthwise: bool) -> Tensor:
        per_group = depthwise and self.int8_scale_term in (2, 102)
        n_scales = (1 if per_group else self.group) if depthwise else self.num_output
        scales = reader.raw(n_scales, name)
        self.input_scale = float(reader.raw(1, name)[0])
        if self.int8_scale_term > 100:
            reader.raw(1, name)  # output requantisation scale: int8 chaining, not modelled
        rows = scales.numel()
        per_row = scales.clamp_min(1e-12).view(rows, 1)
        w = w.view(rows, -1)
        if self.weight_storage != "int8":
            # float weights with int8 scales: ncnn quantises them at load time, so do we
            w = _round_away(w * per_row).clamp(-127, 127)
        return (w / per_row).reshape(-1)

    def _pad(self, x: Tensor) -> Tensor:
        left, right, top, bottom = self.pads
        if left > 0 or right > 0 or top > 0 or bottom > 0:
            return F.pad(x, (left, right, top, bottom), value=self.pad_value)
        if left in (-233, -234) and (left, right, top, bottom) == (left,) * 4:
            kh, kw = ((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation))
            h, w = x.shape[-2:]
            wpad = kw + (w - 1) // self.stride[1] * self.stride[1] - w
            hpad = kh + (h - 1) // self.stride[0] * self.stride[0] - h
            if wpad > 0 or hpad > 0:
                lo_w, lo_h = (wpad // 2, hpad // 2) if left == -233 else (wpad - wpad // 2, hpad - hpad // 2)
                return F.pad(x, (lo_w, wpad - lo_w, lo_h, hpad - lo_h), value=self.pad_value)
        return x

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        if self.input_scale is not None:
            x = fake_quant_int8(x, self.input_scale)
        y = self.conv(self._pad(x))
        return [fused_activation(y, *self.activation)]


@LAYERS.register("Convolution")
class Convolution(ConvBase):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec, reader, depthwise=False)


@LAYERS.register("ConvolutionDepthWise")
class ConvolutionDepthWise(ConvBase):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec, reader, depthwise=True)


class DeconvBase(NcnnLayer):
    """Deconvolution(DepthWise): full transposed conv, bias, output_pad, activation, then crop."""

    def __init__(self, spec: LayerSpec, reader: WeightReader, depthwise: bool) -> None:
        super().__init__(spec)
        pd = spec.params
        out = pd.get_int(0, 0)
        (kh, kw), self.dilation, self.stride, self.pads = _window(pd)
        opr = pd.get_int(18, 0)
        self.output_pad = (pd.get_int(19, opr), opr)
        ow = pd.get_int(20, 0)
        self.output_size = (pd.get_int(21, ow), ow)
        self.activation = (pd.get_int(9, 0), pd.floats(10))
        self.group = pd.get_int(7, 1) if depthwise else 1
        if pd.get_int(28, 0):
            raise ValueError("dynamic_weight deconvolutions are not supported")
        wsize, maxk = pd.get_int(6, 0), kh * kw
        if out <= 0 or maxk <= 0 or wsize % (out * maxk) or out % self.group:
            raise ValueError(f"inconsistent num_output={out} kernel={kw}x{kh} weight_data_size={wsize}")
        in_g, out_g = wsize // (out * maxk), out // self.group
        w, self.weight_storage = reader.tagged(wsize, spec.name)
        # ncnn order: [group][out_g][in_g][kh][kw]; torch wants [in][out_g][kh][kw]
        w = w.view(self.group, out_g, in_g, kh, kw).transpose(1, 2).reshape(in_g * self.group, out_g, kh, kw)
        self.deconv = nn.ConvTranspose2d(in_g * self.group, out, (kh, kw), self.stride, 0, 0, self.group,
                                         bias=False, dilation=self.dilation)
        with torch.no_grad():
            self.deconv.weight.copy_(w)
        # bias is added after output_pad so the padded rows get it too, as in ncnn
        self.bias = _param(reader.raw(out, spec.name)) if pd.get_int(5, 0) else None

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        y = self.deconv(x)
        oph, opw = self.output_pad
        if oph or opw:
            y = F.pad(y, (0, opw, 0, oph))
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        y = fused_activation(y, *self.activation)
        return [self._cut(y)]

    def _cut(self, y: Tensor) -> Tensor:
        left, right, top, bottom = self.pads
        h, w = y.shape[-2:]
        if left > 0 or right > 0 or top > 0 or bottom > 0:
            return y[..., max(top, 0):h - max(bottom, 0), max(left, 0):w - max(right, 0)]
        oh, ow = self.output_size
        if oh > 0 and ow > 0:
            hcut, wcut = h - oh, w - ow
            t, lft = (hcut // 2, wcut // 2) if -233 in self.pads else (hcut - hcut // 2, wcut - wcut // 2)
            if -233 in self.pads or -234 in self.pads:
                return y[..., t:t + oh, lft:lft + ow]
        return y


@LAYERS.register("Deconvolution")
class Deconvolution(DeconvBase):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec, reader, depthwise=False)


@LAYERS.register("DeconvolutionDepthWise")
class DeconvolutionDepthWise(DeconvBase):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec, reader, depthwise=True)
