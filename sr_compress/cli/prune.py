"""``sr-compress prune CKPT --out DIR``: structured channel pruning to a MACs or channel budget."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("prune")
@click.argument("checkpoint")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="Output directory (pruned.pth + prune.json).")
@click.option("--macs", type=float, default=None, help="Keep this fraction of the MACs (e.g. 0.5).")
@click.option("--channels", type=float, default=None, help="Keep this fraction of every prunable layer's channels.")
@click.option("--importance", type=click.Choice(["l1", "l2", "taylor"]), default="taylor", show_default=True,
              help="Channel importance: first-order Taylor on a few batches, or weight magnitude (ignores biases).")
@click.option("--round-to", type=int, default=8, show_default=True, help="Channel counts are multiples of this.")
@click.option("--ref-size", type=int, default=64, show_default=True, help="LR side at which MACs are counted.")
@click.option("--scale", type=int, default=None, help="Expected scale of CHECKPOINT.")
@click.option("--data", "-d", default=None, help="HR images for Taylor importance (default: embedded photos).")
@click.option("--random-init", is_flag=True,
              help="Re-initialise the pruned network's weights (the same-MACs from-scratch baseline).")
@click.option("--seed", type=int, default=0, show_default=True)
def command(checkpoint: str, out: str, macs: float | None, channels: float | None, importance: str, round_to: int,
            ref_size: int, scale: int | None, data: str | None, random_init: bool, seed: int) -> None:
    """Prune CHECKPOINT's channels (torch-pruning dependency graph); the result loads like any checkpoint."""
    import torch

    from ..compress.prune import prune_model
    from ..compress.prune.data import importance_batches
    from ..errors import UserInputError
    from ..models.load import load_model, save_model

    if round_to < 1:
        raise UserInputError(f"--round-to {round_to}: must be >= 1")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    torch.manual_seed(seed)
    desc = load_model(checkpoint, scale=scale)
    batches = importance_batches(data, desc.scale, seed=seed) if importance == "taylor" else None
    res = prune_model(desc, macs=macs, channels=channels, importance=importance, round_to=round_to,
                      ref_size=ref_size, batches=batches)
    if random_init:
        for m in res.desc.model.modules():
            reset = getattr(m, "reset_parameters", None)
            if m is not res.desc.model and callable(reset):
                reset()
        res.record["random_init"] = True
    res.record["source"] = str(checkpoint)
    dest = Path(out)
    path = save_model(res.desc, dest / "pruned.pth")
    (dest / "prune.json").write_text(json.dumps(res.record, indent=2))
    click.echo(f"pruned {desc.arch} x{desc.scale}: MACs {res.macs_before:,} -> {res.macs_after:,} "
               f"({res.macs_after / res.macs_before:.3f}) @ {ref_size}x{ref_size}, params {res.params_before:,} -> "
               f"{res.params_after:,} (ratio {res.ratio:.2f}, {importance}, round to {round_to})")
    click.echo(f"wrote {path}  (per-layer widths: sr-compress info {path})")
