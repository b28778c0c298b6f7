"""ncnn's shape-changing layers: Interp (resize), Crop and Padding (``src/layer/{interp,crop,padding}.cpp``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .layers import LAYERS, NcnnLayer, Tensor
from .param import LayerSpec
from .weights import WeightReader


@LAYERS.register("Interp")
class Interp(NcnnLayer):
    """resize_type 1 nearest, 2 bilinear, 3 bicubic (A = -0.75, edge-clamped), by scale or size.

    The output size is ``int(w * width_scale)`` unless output_width/height (ids 4/3) are set, or
    the size of a second input blob with dynamic_target_size (id 5). Nearest indexes with
    ``int(x * (1/scale))`` (or ``w/outw`` for a fixed size) exactly as ncnn does; bilinear and
    bicubic use half-pixel centres (or align_corner, id 6) with the same 1/scale (or w/outw)
    step, which torch's kernels match. (ncnn's sources up to mid-2026 step by w/outw also for a
    given scale; the runtime this was checked against, 1.0.20261020, steps by 1/scale. The two
    agree whenever the scaled size is exact, as in every shipped Real-ESRGAN model.)
    """

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        pd = spec.params
        self.mode = pd.get_int(0, 0)
        if self.mode not in (1, 2, 3):
            raise ValueError(f"Interp resize_type {self.mode} is not supported (1 nearest, 2 bilinear, 3 bicubic)")
        self.hscale, self.wscale = pd.get_float(1, 1.0), pd.get_float(2, 1.0)
        self.out_h, self.out_w = pd.get_int(3, 0), pd.get_int(4, 0)
        self.dynamic = pd.get_int(5, 0) == 1
        self.align = pd.get_int(6, 0) != 0
        if pd.get_str(9):
            raise ValueError("Interp size expressions (id 9) are not supported")

    def _size(self, x: Tensor, ref: Tensor | None) -> tuple[int, int]:
        h, w = x.shape[-2:]
        if ref is not None:
            return int(ref.shape[-2]), int(ref.shape[-1])
        if self.out_w and self.out_h:
            return self.out_h, self.out_w
        # ncnn multiplies in float32
        hs = torch.tensor(self.hscale, dtype=torch.float32)
        ws = torch.tensor(self.wscale, dtype=torch.float32)
        return int(torch.tensor(float(h)) * hs), int(torch.tensor(float(w)) * ws)

    def forward(self, x: Tensor, ref: Tensor | None = None) -> list[Tensor]:  # type: ignore[override]
        oh, ow = self._size(x, ref if self.dynamic else None)
        h, w = x.shape[-2:]
        if (oh, ow) == (h, w):
            return [x]
        fixed = self.dynamic or bool(self.out_w and self.out_h)
        if self.mode == 1:
            return [self._nearest(x, oh, ow, fixed)]
        mode = "bilinear" if self.mode == 2 else "bicubic"
        if not fixed:
            # a scale-given resize maps coordinates with 1/scale (as the ncnn runtime measured here
            # does, like torch's scale_factor), not with w/outw
            y = F.interpolate(x, scale_factor=(_f32(self.hscale), _f32(self.wscale)), mode=mode,
                              align_corners=self.align, recompute_scale_factor=False)
            if tuple(y.shape[-2:]) == (oh, ow):
                return [y]
        return [F.interpolate(x, size=(oh, ow), mode=mode, align_corners=self.align)]

    def _nearest(self, x: Tensor, oh: int, ow: int, fixed: bool) -> Tensor:
        h, w = x.shape[-2:]
        f32 = torch.float32
        if fixed:
            hs, ws = torch.tensor(h, dtype=f32) / oh, torch.tensor(w, dtype=f32) / ow
        else:
            hs, ws = 1.0 / torch.tensor(self.hscale, dtype=f32), 1.0 / torch.tensor(self.wscale, dtype=f32)
        iy = (torch.arange(oh, dtype=f32) * hs).long().clamp_max(h - 1).to(x.device)
        ix = (torch.arange(ow, dtype=f32) * ws).long().clamp_max(w - 1).to(x.device)
        return x.index_select(-2, iy).index_select(-1, ix)


def _f32(v: float) -> float:
    return float(np.float32(v))


def _slice_bounds(start: int, end: int, size: int) -> tuple[int, int]:
    if start == -233:
        start = 0
    if end == -233:
        end = size
    off = start if start >= 0 else size + start
    return off, min(size, end if end > 0 else size + end) - off


@LAYERS.register("Crop")
class Crop(NcnnLayer):
    """Offsets + sizes (ids 0-8), numpy-style starts/ends/axes (ids 9-11), or the size of a 2nd blob."""

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        pd = spec.params
        self.off = (pd.get_int(2, 0), pd.get_int(1, 0), pd.get_int(0, 0))  # c, h, w
        self.size = (pd.get_int(5, 0), pd.get_int(4, 0), pd.get_int(3, 0))
        self.off2 = (pd.get_int(8, 0), pd.get_int(7, 0), pd.get_int(6, 0))
        self.starts, self.ends, self.axes = pd.ints(9), pd.ints(10), pd.ints(11)
        if pd.get_str(19) or pd.get_str(20) or pd.get_str(21):
            raise ValueError("Crop expressions (ids 19-21) are not supported")

    def _roi(self, shape: tuple[int, ...]) -> list[tuple[int, int]]:
        dims = list(shape[1:])  # c, h, w
        if self.starts and self.ends:
            roi = [(0, d) for d in dims]
            axes = [a + 3 if a < 0 else a for a in self.axes] or list(range(3))
            for a, s, e in zip(axes, self.starts, self.ends):
                roi[a] = _slice_bounds(s, e, dims[a])
            return roi
        out = []
        for d, o, o2, n in zip(dims, self.off, self.off2, self.size):
            length = d - o - o2
            out.append((o, length if n == -233 else min(n, length)))
        return out

    def forward(self, x: Tensor, ref: Tensor | None = None) -> list[Tensor]:  # type: ignore[override]
        if ref is not None:
            c = ref.shape[1] if ref.dim() == 4 else x.shape[1]
            roi = [(self.off[0], c), (self.off[1], ref.shape[-2]), (self.off[2], ref.shape[-1])]
        else:
            roi = self._roi(tuple(x.shape))
        if any(n <= 0 or o < 0 or o + n > d for (o, n), d in zip(roi, x.shape[1:])):
            raise ValueError(f"Crop {self.ncnn_name}: region {roi} does not fit a blob of {tuple(x.shape[1:])}")
        (c0, cn), (h0, hn), (w0, wn) = roi
        return [x[:, c0:c0 + cn, h0:h0 + hn, w0:w0 + wn]]


@LAYERS.register("Padding")
class Padding(NcnnLayer):
    """top/bottom/left/right (ids 0-3), front/behind channels (7/8); type 0 constant, 1 edge, 2 reflect."""

    per_channel: torch.Tensor

    def __init__(self, spec: LayerSpec, reader: WeightReader) -> None:
        super().__init__(spec)
        pd = spec.params
        self.pads = (pd.get_int(2, 0), pd.get_int(3, 0), pd.get_int(0, 0), pd.get_int(1, 0))  # left, right, top, bottom
        self.front, self.behind = pd.get_int(7, 0), pd.get_int(8, 0)
        self.pad_type = pd.get_int(4, 0)
        if self.pad_type not in (0, 1, 2) or min(*self.pads, self.front, self.behind) < 0:
            raise ValueError(f"Padding type {self.pad_type} with pads {self.pads} is not supported")
        self.value = pd.get_float(5, 0.0)
        n = pd.get_int(6, 0)
        self.register_buffer("per_channel", reader.raw(n, spec.name) if n else torch.empty(0))

    def _channels(self, x: Tensor) -> Tensor:
        c = x.shape[1]
        idx = torch.arange(-self.front, c + self.behind)
        if self.pad_type == 1:
            idx = idx.clamp(0, c - 1)
        else:
            idx = (c - 1) - ((idx.abs()) - (c - 1)).abs()
        return x.index_select(1, idx.to(x.device))

    def forward(self, x: Tensor) -> list[Tensor]:  # type: ignore[override]
        left, right, top, bottom = self.pads
        if self.pad_type != 0:
            mode = "replicate" if self.pad_type == 1 else "reflect"
            y = F.pad(x, self.pads, mode=mode) if any(self.pads) else x
            return [self._channels(y) if self.front or self.behind else y]
        n, c, h, w = x.shape
        oc = c + self.front + self.behind
        if self.per_channel.numel():
            fill = self.per_channel[:oc].to(x).view(1, oc, 1, 1)
        else:
            fill = torch.full((1, oc, 1, 1), self.value, dtype=x.dtype, device=x.device)
        out = fill.expand(n, oc, h + top + bottom, w + left + right).clone()
        out[:, self.front:self.front + c, top:top + h, left:left + w] = x
        return [out]
