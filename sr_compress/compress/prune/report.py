"""Text lines describing a pruning record (``sr-compress info`` of a pruned checkpoint)."""

from __future__ import annotations

from typing import Any


def pruned_lines(rec: dict[str, Any]) -> list[str]:
    """Params / MACs before -> after, then one ``layer  in x out  (was in x out)`` line per re-shaped layer."""
    mb, ma = int(rec.get("macs_before", 0)), int(rec.get("macs_after", 0))
    pb, pa = int(rec.get("params_before", 0)), int(rec.get("params_after", 0))
    ref = rec.get("ref_size", "?")
    lines = [
        f"pruned: {rec.get('importance', '?')} importance, ratio {rec.get('ratio', '?')}, round to "
        f"{rec.get('round_to', '?')}" + (" (re-initialised)" if rec.get("random_init") else ""),
        f"  params {pb:,} -> {pa:,} ({pa / pb:.3f})" if pb else "  params ?",
        f"  MACs @ {ref}x{ref} {mb:,} -> {ma:,} ({ma / mb:.3f})" if mb else "  MACs ?",
        "  layer widths (in x out, was):",
    ]
    before = rec.get("original_widths", {})
    widths = rec.get("widths", {})
    name_w = max((len(n) for n in widths), default=5)
    for name, w in widths.items():
        b = before.get(name, {})
        lines.append(f"    {name:<{name_w}}  {w['in']:>4} x {w['out']:<4} (was {b.get('in', '?')} x {b.get('out', '?')})")
    return lines
