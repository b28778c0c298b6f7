"""Forward passes with temporary hooks: what a module saw, recorded without changing the model."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

PreHook = Callable[[nn.Module, tuple[Any, ...]], None]


def run_with_pre_hooks(model: nn.Module, hooks: Iterable[tuple[nn.Module, PreHook]],
                       inputs: Iterable[torch.Tensor]) -> None:
    """Run ``model`` on each input (no grad) with each ``(module, hook)`` attached as a forward
    pre-hook; the hooks are removed afterwards, also when a forward raises."""
    handles = [m.register_forward_pre_hook(h) for m, h in hooks]
    try:
        with torch.no_grad():
            for x in inputs:
                model(x)
    finally:
        for h in handles:
            h.remove()
