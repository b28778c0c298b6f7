"""Weight-free ncnn layers (and PReLU): element-wise ops, graph plumbing, resizing, cropping, padding.

Registered into :data:`layers.LAYERS` next to the convolutions; semantics from ncnn's
``src/layer/*.cpp`` (see each class).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .layers import LAYERS, NcnnLayer, Tensor
from .param import LayerSpec
from .weights import WeightReader

_FLT_MAX = 3.4028234663852886e38


def _nchw_dim(axis: int, dims: int = 3) -> int:
    """ncnn axis of a ``dims``-D blob -> tensor dim (the batch axis comes first here)."""
    a = axis + dims if axis < 0 else axis
    if not 0 <= a < dims:
        raise ValueError(f"axis {axis} out of range for a {dims}-D blob")
    return a + 1


@LAYERS.register("Input")
@LAYERS.register("Noop")
class Identity(NcnnLayer):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)

    def forward(self, *xs: Tensor) -> list[Tensor]:  # type: ignore[override]
        return list(xs)


@LAYERS.register("Split")
class Split(NcnnLayer):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        self.n = len(spec.outputs)

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [x] * self.n


@LAYERS.register("Dropout")
class Dropout(NcnnLayer):
    """Inference Dropout: multiply by ``scale`` (id 0, default 1)."""

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        self.scale = spec.params.get_float(0, 1.0)

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [x if self.scale == 1.0 else x * self.scale]


@LAYERS.register("ReLU")
class ReLU(NcnnLayer):
    """``x < 0 ? x * slope : x`` (slope id 0, default 0: plain ReLU)."""

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        self.slope = spec.params.get_float(0, 0.0)

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [F.relu(x) if self.slope == 0.0 else F.leaky_relu(x, self.slope)]


@LAYERS.register("PReLU")
class PReLU(NcnnLayer):
    """Per-channel slopes (``num_slope`` id 0; one slope is shared by all channels)."""

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        n = spec.params.get_int(0, 0)
        if n <= 0:
            raise ValueError("PReLU needs num_slope (id 0) >= 1")
        self.weight = nn.Parameter(reader.raw(n, spec.name))

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [F.prelu(x, self.weight)]


@LAYERS.register("Sigmoid")
class Sigmoid(NcnnLayer):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [torch.sigmoid(x)]


@LAYERS.register("TanH")
class TanH(Sigmoid):
    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [torch.tanh(x)]


@LAYERS.register("Swish")
class Swish(Sigmoid):
    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [x * torch.sigmoid(x)]


@LAYERS.register("Clip")
class Clip(NcnnLayer):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        self.lo = spec.params.get_float(0, -_FLT_MAX)
        self.hi = spec.params.get_float(1, _FLT_MAX)

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [x.clamp(self.lo, self.hi)]


def _fmod(a: Tensor, b: Tensor) -> Tensor:
    return torch.fmod(a, b)


def _remainder(a: Tensor, b: Tensor) -> Tensor:
    # C remainderf: a - round_half_even(a / b) * b
    return a - torch.round(a / b) * b


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    return torch.logaddexp(a, b)


_BINARY: dict[int, Callable[[Tensor, Tensor], Tensor]] = {
    0: torch.add, 1: torch.sub, 2: torch.mul, 3: torch.div, 4: torch.maximum, 5: torch.minimum,
    6: torch.pow, 10: torch.atan2, 12: _fmod, 14: _logaddexp,
    15: lambda a, b: torch.floor(a / b), 17: _remainder,
}
# the "reversed" ops swap their operands
_REVERSED = {7: 1, 8: 3, 9: 6, 11: 10, 13: 12, 16: 15, 18: 17}


@LAYERS.register("BinaryOp")
class BinaryOp(NcnnLayer):
    """op_type (id 0) of ``a`` and ``b``, or of ``a`` and the scalar ``b`` (id 2) when with_scalar (id 1)."""

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        op = spec.params.get_int(0, 0)
        self.swap = op in _REVERSED
        base = _REVERSED.get(op, op)
        if base not in _BINARY:
            raise ValueError(f"BinaryOp op_type {op} is unknown")
        self.op_type = op
        self.fn: Callable[[Tensor, Tensor], Tensor] = _BINARY[base]
        self.with_scalar = spec.params.get_int(1, 0) != 0
        self.b = spec.params.get_float(2, 0.0)

    def forward(self, a: Tensor, b: Tensor | None = None) -> list[Tensor]:  # type: ignore[override]
        other = torch.full_like(a, self.b) if self.with_scalar or b is None else b
        x, y = (other, a) if self.swap else (a, other)
        return [self.fn(x, y)]


@LAYERS.register("Eltwise")
class Eltwise(NcnnLayer):
    """op_type 0 product, 1 (weighted, coeffs id 1) sum, 2 max over all inputs."""

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        self.op = spec.params.get_int(0, 0)
        if self.op not in (0, 1, 2):
            raise ValueError(f"Eltwise op_type {self.op} is unknown")
        self.coeffs = spec.params.floats(1)
        if self.op == 1 and self.coeffs and len(self.coeffs) != len(spec.inputs):
            raise ValueError(f"Eltwise has {len(spec.inputs)} inputs but {len(self.coeffs)} coeffs")

    def forward(self, *xs: Tensor) -> list[Tensor]:  # type: ignore[override]
        if self.op == 0:
            out = xs[0]
            for x in xs[1:]:
                out = out * x
        elif self.op == 2:
            out = xs[0]
            for x in xs[1:]:
                out = torch.maximum(out, x)
        elif self.coeffs:
            out = xs[0] * self.coeffs[0]
            for x, c in zip(xs[1:], self.coeffs[1:]):
                out = out + x * c
        else:
            out = xs[0]
            for x in xs[1:]:
                out = out + x
        return [out]


@LAYERS.register("Concat")
class Concat(NcnnLayer):
    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        self.dim = _nchw_dim(spec.params.get_int(0, 0))

    def forward(self, *xs: Tensor) -> list[Tensor]:  # type: ignore[override]
        return [torch.cat(xs, dim=self.dim)]


@LAYERS.register("PixelShuffle")
class PixelShuffle(NcnnLayer):
    """mode 0: torch's pixel_shuffle (channel = c*r*r + dy*r + dx); mode 1: depth-to-space DCR."""

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        self.r = spec.params.get_int(0, 1)
        self.mode = spec.params.get_int(1, 0)

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        if self.mode == 0:
            return [F.pixel_shuffle(x, self.r)]
        n, c, h, w = x.shape
        r = self.r
        y = x.view(n, r, r, c // (r * r), h, w).permute(0, 3, 4, 1, 5, 2)
        return [y.reshape(n, c // (r * r), h * r, w * r)]
