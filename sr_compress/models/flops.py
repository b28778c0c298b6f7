"""Multiply-accumulate (MAC) counting by forward hooks.

What is counted: every ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d`` and ``nn.Linear``
call during one forward pass of a zero input of ``input_shape`` (batch included), one MAC per
weight tap per output element (bias adds, activations, pixel shuffle, pooling, element-wise
attention products, ``torch.matmul`` inside transformer blocks and interpolation are NOT
counted). This is the convention of most efficient-SR papers (IMDN, RLFN, NTIRE ESR reports
quote "FLOPs" that are these MACs), so a module called twice is counted twice.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence

import torch
from torch import nn

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONVT = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _conv_macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    conv = typing.cast(nn.Conv2d, module)  # any of _CONV/_CONVT: the attributes below are common
    kernel = math.prod(conv.weight.shape[2:])
    if isinstance(module, _CONVT):
        # each input element scatters into out_channels/groups * kernel outputs
        return inp.numel() * (conv.out_channels // conv.groups) * kernel
    return out.numel() * (conv.in_channels // conv.groups) * kernel


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """MACs of one forward pass of ``model`` on a zero tensor of ``input_shape`` (e.g. ``(1, 3, 256, 256)``).

    Runs the model once under ``torch.no_grad`` on the device of its first parameter; the
    model's training flag is restored afterwards.
    """
    total = 0

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        inp = args[0]
        if isinstance(module, nn.Linear):
            total += out.numel() * module.in_features
        else:
            total += _conv_macs(module, inp, out)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, _CONV + _CONVT + (nn.Linear,))
    ]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape), device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)
