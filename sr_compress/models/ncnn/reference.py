"""The ncnn runtime's own output for an ncnn graph: the reference the importer is checked against.

Float32 everywhere (no fp16/bf16 storage or arithmetic, no packed layouts), so the only
difference left to our interpreter is the order of float additions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...compat import require

_FP32_ONLY = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage",
              "use_bf16_packed", "use_packing_layout")


class NcnnReference:
    """``NcnnReference(param)(x)``: run ``x`` (1, C, H, W) in [0, 1] through ncnn, return (1, C', H', W')."""

    def __init__(self, param_path: str | Path, threads: int = 1, input_name: str = "data",
                 output_name: str = "output") -> None:
        ncnn = require("ncnn", "core", "ncnn")
        self._ncnn = ncnn
        self.net = ncnn.Net()
        for opt in _FP32_ONLY:
            setattr(self.net.opt, opt, False)
        self.net.opt.num_threads = int(threads)
        param_path = Path(param_path)
        if self.net.load_param(str(param_path)) != 0 or self.net.load_model(str(param_path.with_suffix(".bin"))) != 0:
            raise RuntimeError(f"ncnn could not load {param_path}")
        self.input_name, self.output_name = input_name, output_name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu()[0].numpy())
        # clone: a Mat borrowing numpy memory has no refcount, and ncnn's in-place layers crash on it
        mat = self._ncnn.Mat(arr).clone()
        ex = self.net.create_extractor()
        ex.input(self.input_name, mat)
        ret, out = ex.extract(self.output_name)
        if ret != 0:
            raise RuntimeError(f"ncnn extract({self.output_name!r}) failed with {ret}")
        return torch.from_numpy(np.array(out).copy()).reshape(1, out.c, out.h, out.w)
