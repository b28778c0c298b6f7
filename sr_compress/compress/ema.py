"""Exponential moving average of the student's weights (used for validation and export)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ModelEMA:
    """``ema = decay * ema + (1 - decay) * student`` after every iteration; buffers are copied.

    Same rule as BasicSR's ``model_ema`` (which DUKD's official code calls with 0.999).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = dict(model.named_parameters())
        for name, p in self.module.named_parameters():
            p.mul_(self.decay).add_(src[name].detach(), alpha=1 - self.decay)
        src_b = dict(model.named_buffers())
        for name, b in self.module.named_buffers():
            b.copy_(src_b[name])

    @torch.no_grad()
    def rebuild(self, model: nn.Module) -> None:
        """After the student changed shape (progressive growth): keep matching averages."""
        old = self.module.state_dict()
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        new = self.module.state_dict()
        for k, v in old.items():
            if k in new and new[k].shape == v.shape:
                new[k].copy_(v)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "params": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = state["decay"]
        self.module.load_state_dict(state["params"])
