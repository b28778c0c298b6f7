"""DUKD's invertible label-consistency ops: colour inversion, two flips, H<->W transpose.

Each op is its own inverse, so the inverse of a composition is the same ops in REVERSE order:
``F = t ∘ v ∘ h ∘ i`` (applied i first) has ``F⁻¹ = i ∘ h ∘ v ∘ t`` (applied t first).

The official DUKD code (``noising`` in ``dukd_model.py``) maps the student's output back by
applying the ops again in the SAME order. For samples where the transpose meets exactly one
flip this is not the inverse: ``t∘h∘t∘h`` is a 180° rotation, so the student is pulled towards a
rotated teacher label. With each op drawn with probability q = 0.3 that happens to
``q·2q(1−q)`` = 12.6 % of the samples. ``official_inverse`` keeps that behaviour for comparison.
Names follow the official code: ``h`` flips dim -2 (rows), ``v`` flips dim -1 (columns).
"""

from __future__ import annotations

import torch

OPS: tuple[str, ...] = ("i", "h", "v", "t")


def draw_ops(n: int, q: float, device: torch.device | str = "cpu",
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-sample boolean masks: each op is drawn independently with probability ``q``."""
    u = torch.rand((len(OPS), n), generator=generator)
    return {op: (u[k] < q).to(device) for k, op in enumerate(OPS)}


def _apply_one(x: torch.Tensor, op: str, mask: torch.Tensor, img_range: float) -> torch.Tensor:
    if not bool(mask.any()):
        return x
    m = mask.view(-1, *([1] * (x.dim() - 1)))
    if op == "i":
        y = img_range - x
    elif op == "h":
        y = x.flip(-2)
    elif op == "v":
        y = x.flip(-1)
    elif op == "t":
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"transpose needs square images, got {tuple(x.shape[-2:])}")
        y = x.transpose(-2, -1)
    else:
        raise ValueError(f"unknown op {op!r}")
    return torch.where(m, y, x)


def apply_ops(x: torch.Tensor, masks: dict[str, torch.Tensor], img_range: float = 1.0) -> torch.Tensor:
    """``F(x)``: the drawn ops in the order i, h, v, t (differentiable, out of place)."""
    for op in OPS:
        x = _apply_one(x, op, masks[op], img_range)
    return x


def invert_ops(y: torch.Tensor, masks: dict[str, torch.Tensor], img_range: float = 1.0) -> torch.Tensor:
    """``F⁻¹(y)``: the same ops in reverse order (t, v, h, i)."""
    for op in reversed(OPS):
        y = _apply_one(y, op, masks[op], img_range)
    return y


def official_inverse(y: torch.Tensor, masks: dict[str, torch.Tensor], img_range: float = 1.0) -> torch.Tensor:
    """What the official code does: re-apply the ops in the forward order (not an inverse when a
    transpose meets a single flip)."""
    return apply_ops(y, masks, img_range)
