"""``sr-compress info CKPT``: what a checkpoint is (architecture, scale, size, cost)."""

from __future__ import annotations

import json

import click


def _fmt_count(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


@click.command("info")
@click.argument("checkpoint")
@click.option("--scale", type=int, default=None, help="Expected scale (picks the head of multi-scale nets).")
@click.option("--size", "size", type=int, default=256, show_default=True,
              help="LR input side used for the MAC count.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(checkpoint: str, scale: int | None, size: int, as_json: bool) -> None:
    """Describe CHECKPOINT (a file or a zoo name): architecture, scale, parameters, MACs."""
    import torch

    from ..models.load import load_model

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    desc = load_model(checkpoint, scale=scale)
    info = desc.summary()
    pad_h, pad_w = desc.size_requirements.padding_for(size, size)
    info["macs"] = desc.macs(size + pad_h, size + pad_w)
    info["macs_input"] = [size + pad_h, size + pad_w]
    pruned = getattr(desc.model, "sr_compress_pruned", None)  # compress/prune: widths before/after
    if isinstance(pruned, dict):
        info["pruned"] = pruned
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    sr = desc.size_requirements
    rows = [
        ("checkpoint", checkpoint),
        ("architecture", info["arch"]),
        ("scale", f"x{info['scale']}"),
        ("channels in/out", f"{info['in_channels']}/{info['out_channels']}"),
        ("parameters", f"{info['params']:,} ({_fmt_count(info['params'])})"),
        (f"MACs @ {info['macs_input'][0]}x{info['macs_input'][1]} LR", f"{info['macs']:,} ({_fmt_count(info['macs'])})"),
        ("size requirements", f"minimum {sr.minimum}, multiple of {sr.multiple_of}" + (", square" if sr.square else "")),
        ("tile hint", str(info["tile_hint"])),
        ("ONNX exportable", "yes" if info["onnx_exportable"] else "not verified"),
        ("hyper-parameters", ", ".join(f"{k}={v}" for k, v in info["hyperparams"].items()) or "-"),
        ("sha256", info["source_sha256"] or "-"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k:<{width}}  {v}")
    if isinstance(pruned, dict):
        from ..compress.prune.report import pruned_lines

        for line in pruned_lines(pruned):
            click.echo(line)
