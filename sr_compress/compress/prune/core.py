"""Channel pruning to a MACs or channel budget with torch-pruning's dependency graph.

Rules kept by construction:

* the network input stays 3 channels (an input is never a prunable output);
* the LAST convolution (the one feeding the pixel shuffle / the image output) is ignored, so it
  keeps ``3 * scale**2`` (or 3) outputs; its inputs are still pruned with their group;
* the FIRST convolution is NOT ignored: it roots the global residual group (every block output
  is added to it), and ignoring it would freeze that whole group;
* magnitude (L1/L2) importance ignores biases: on RLFN's global skip group (features x255)
  removing the 4 lowest-L1 channels of 52 moved the output by 2.3 (mean |diff|, [0, 1] range),
  while Taylor's 4 moved it by 0.04 -- so Taylor (gradients of L1 to HR on a few batches of
  the embedded photos or --data) is the default;
* every trainable-ness is checked: torch-pruning silently prunes nothing when parameters have
  ``requires_grad=False`` (a deep copy of a frozen teacher), so the copy is made trainable and a
  run that removes nothing is an error, never a silent no-op.

A ``--macs`` target is met by a grid over the uniform per-layer ratio (each trial prunes a fresh
copy); channel counts are multiples of ``round_to``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...errors import UserInputError
from ...models.flops import count_macs
from ...models.pruned import attach_record
from ...models.pruned.fixups import apply_fixups
from ...models.registry import ModelDescriptor
from .tp_deep import memoised_channel_inference

IMPORTANCE = ("l1", "l2", "taylor")
# architectures the dependency graph cannot prune safely, and why
PRUNE_NOTES: dict[str, str] = {
    "imdn_rtc": "its blocks split with Python-side sizes that no fix-up re-derives yet",
    "imdn_rte": "its blocks split with Python-side sizes that no fix-up re-derives yet",
}


@dataclass
class PruneResult:
    desc: ModelDescriptor
    record: dict[str, Any]
    ratio: float
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    extra: dict[str, Any] = field(default_factory=dict)


def _fixed_convs(model: nn.Module, x: torch.Tensor) -> list[nn.Module]:
    """Convolutions whose outputs must keep their count: the last one run by ``forward`` (it makes
    the image / the final pixel-shuffle input) and every one feeding a pixel shuffle (torch-pruning
    does not map channels through ``PixelShuffle``; EDSR's x2/x4 upsampling stages)."""
    order: list[nn.Module] = []
    made: dict[int, nn.Module] = {}
    fixed: list[nn.Module] = []

    def conv_hook(mod: nn.Module, _a: Any, out: torch.Tensor) -> None:
        order.append(mod)
        made[id(out)] = mod

    def shuffle_hook(_mod: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        src = made.get(id(args[0]))
        if src is not None:
            fixed.append(src)

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_pre_hook(shuffle_hook) for m in model.modules() if isinstance(m, nn.PixelShuffle)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    if not order:
        raise UserInputError("the model has no convolution to prune")
    return list({id(m): m for m in [*fixed, order[-1]]}.values())


def _importance(kind: str) -> Any:
    import torch_pruning as tp  # type: ignore[import-untyped]

    if kind == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if kind == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind == "taylor":
        return tp.importance.GroupTaylorImportance()
    raise UserInputError(f"--importance {kind!r}: use one of {', '.join(IMPORTANCE)}")


def _prune_copy(model: nn.Module, ratio: float, kind: str, round_to: int, example: torch.Tensor) -> nn.Module:
    import torch_pruning as tp  # type: ignore[import-untyped]

    m = copy.deepcopy(model)
    for src, dst in zip(model.parameters(), m.parameters()):  # deepcopy drops .grad, which Taylor reads
        if src.grad is not None:
            dst.grad = src.grad.clone()
    with memoised_channel_inference():  # deep residual nets (RRDBNet x4plus) exhaust tp's graph walk
        pruner = tp.pruner.BasePruner(m, example, importance=_importance(kind), pruning_ratio=ratio,
                                      ignored_layers=_fixed_convs(m, example), round_to=round_to or None)
        pruner.step()
    return apply_fixups(m)


def _taylor_grads(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    model.zero_grad()
    for lr, hr in batches:
        torch.nn.functional.l1_loss(model(lr), hr).backward()


def _check(desc: ModelDescriptor, macs: float | None, channels: float | None) -> None:
    if desc.arch in PRUNE_NOTES:
        raise UserInputError(f"{desc.arch} cannot be pruned: {PRUNE_NOTES[desc.arch]}")
    if desc.arch.startswith("spandrel:"):
        raise UserInputError(f"{desc.arch} is loaded through spandrel, whose modules cannot be rebuilt at "
                             "pruned widths from our checkpoint format; prune a registered architecture")
    if (macs is None) == (channels is None):
        raise UserInputError("give exactly one target: --macs FRACTION or --channels FRACTION")
    target = macs if macs is not None else channels
    if not 0.0 < float(target) < 1.0:  # type: ignore[arg-type]
        raise UserInputError(f"--{'macs' if macs is not None else 'channels'} {target}: the kept fraction "
                             "must be in (0, 1), e.g. 0.5")


def prune_model(desc: ModelDescriptor, macs: float | None = None, channels: float | None = None,
                importance: str = "taylor", round_to: int = 8, ref_size: int = 64,
                batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> PruneResult:
    """A pruned copy of ``desc`` keeping ``macs`` of its MACs (at ``ref_size``²) or ``channels`` of its channels."""
    _check(desc, macs, channels)
    importance = importance.lower()
    _importance(importance)
    model = copy.deepcopy(desc.model).cpu().eval()
    for p in model.parameters():  # frozen copies would be pruned to nothing, silently
        p.requires_grad_(True)
    example = torch.rand(1, desc.in_channels, ref_size, ref_size)
    if importance == "taylor":
        if not batches:
            raise UserInputError("--importance taylor needs a few (LR, HR) batches")
        _taylor_grads(model, batches)
    base_macs = count_macs(model, example.shape)
    if channels is not None:
        ratio = 1.0 - float(channels)
        pruned = _prune_copy(model, ratio, importance, round_to, example)
    else:
        ratio, pruned = _search(model, float(macs), importance, round_to, example, base_macs)  # type: ignore[arg-type]
    after = count_macs(pruned, example.shape)
    if after >= base_macs:
        raise UserInputError(f"pruning removed nothing from {desc.arch} (target too close to 1 for --round-to "
                             f"{round_to}?); lower the target or --round-to")
    pruned.zero_grad(set_to_none=True)
    pruned.eval()
    out = copy.copy(desc)
    out.model = pruned
    rec = attach_record(pruned, desc.model, {
        "importance": importance, "round_to": round_to, "ratio": round(ratio, 4), "ref_size": ref_size,
        "macs_before": base_macs, "macs_after": after,
        "params_before": desc.params, "params_after": sum(p.numel() for p in pruned.parameters()),
        "target": {"macs": macs} if macs is not None else {"channels": channels},
    })
    out.source = f"{desc.source} (pruned)"
    return PruneResult(out, rec, ratio, base_macs, after, desc.params, rec["params_after"])


def _search(model: nn.Module, target: float, kind: str, round_to: int, example: torch.Tensor,
            base_macs: int) -> tuple[float, nn.Module]:
    """The uniform ratio whose pruned copy has the most MACs not above ``target`` of the original.

    A grid, not a bisection: with rounding and coupled split groups (IMDN) the MACs are not
    monotonic in the ratio.
    """
    best: tuple[float, nn.Module, int] | None = None
    under = 0
    for step in range(1, 18):
        ratio = step * 0.05
        m = _prune_copy(model, ratio, kind, round_to, example)
        macs = count_macs(m, example.shape)
        if macs <= target * base_macs:
            under += 1
            if best is None or macs > best[2]:
                best = (ratio, m, macs)
            if under >= 3:  # MACs only keep falling, up to rounding wobbles: stop searching
                break
    if best is None:
        raise UserInputError(f"--macs {target}: unreachable with uniform per-layer pruning up to 85% "
                             f"(and --round-to {round_to}); choose a larger fraction or a smaller --round-to")
    return best[0], best[1]
