"""Python-side sizes that pruning changes but torch-pruning cannot see.

IMDN's block splits each of c1..c3's outputs into (distilled | remaining) with sizes stored as
Python ints. torch-pruning tracks the split through the graph (it prunes the right slices of the
next conv and of the concatenation) but cannot rewrite those ints, and the three splits of one
block may end with different sizes. The fix-up swaps the block's class for a subclass whose
``forward`` splits with per-stage sizes derived from the layer shapes (distilled_i =
c_i.out - c_{i+1}.in), so it needs nothing stored and is re-applied on every load.
"""

from __future__ import annotations

import torch
from torch import nn

from ..archs.imdn import IMDModule


class PrunedIMDModule(IMDModule):
    """IMDModule with one (distilled, remaining) pair per split."""

    splits: list[tuple[int, int]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (a1, b1), (a2, b2), (a3, b3) = self.splits
        d1, r1 = torch.split(self.act(self.c1(x)), [a1, b1], dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), [a2, b2], dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), [a3, b3], dim=1)
        out = torch.cat([d1, d2, d3, self.c4(r3)], dim=1)
        return self.c5(self.cca(out)) + x

    def concat_sizes(self) -> list[int]:
        return [a for a, _ in self.splits] + [self.c4.out_channels]


def _imdn_splits(m: IMDModule) -> list[tuple[int, int]]:
    convs = [m.c1, m.c2, m.c3, m.c4]
    return [(convs[i].out_channels - convs[i + 1].in_channels, convs[i + 1].in_channels) for i in range(3)]


def apply_fixups(model: nn.Module) -> nn.Module:
    """Re-derive the Python-side sizes of every block of ``model`` from its current layer shapes."""
    for m in model.modules():
        if isinstance(m, IMDModule):
            splits = _imdn_splits(m)
            m.__class__ = PrunedIMDModule
            m.splits = splits  # type: ignore[assignment]
            m.distilled, m.remaining = splits[0]
    return model
