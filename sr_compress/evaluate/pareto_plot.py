"""Markdown table and PNG of a Pareto report (see ``pareto.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .pareto import Point, datasets_of, pareto_front


def markdown(pts: list[Point], dataset: str) -> str:
    sets = datasets_of(pts)
    on_front = {id(p) for p in pareto_front(pts, dataset)} | {id(p) for p in pareto_front(pts, dataset, "macs")}
    head = ["point", *[f"{ds} PSNR" for ds in sets], "latency ms (b1)", "GMACs", "Pareto"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in sorted(pts, key=lambda p: -p.psnr.get(dataset, 0.0)):
        cells = [p.name, *[f"{p.psnr[ds]:.2f}" if ds in p.psnr else "-" for ds in sets],
                 f"{p.latency_ms:.1f}" if p.latency_ms is not None else "-",
                 f"{p.macs / 1e9:.2f}" if p.macs else "-", "yes" if id(p) in on_front else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nPareto front on {dataset} PSNR vs latency and vs MACs.\n"


def plot(pts: list[Point], dataset: str, path: Path) -> Path | None:
    """PSNR vs latency and PSNR vs MACs, front highlighted; None when matplotlib is absent.

    Points carry numbers and a key beside the axes: with a dozen artifacts of one network their
    names overlap on the axes. Latency is on a log axis (PyTorch FP32 rows are 10x the INT8 ones).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    numbered = [p for p in sorted(pts, key=lambda p: -p.psnr.get(dataset, 0.0))
                if dataset in p.psnr and p.kind != "bicubic"]
    number = {id(p): i + 1 for i, p in enumerate(numbered)}
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5), gridspec_kw={"width_ratios": [1, 1, 0.75]})
    for ax, cost, label, div in ((axes[0], "latency_ms", "median latency, batch 1 (ms, log)", 1.0),
                                 (axes[1], "macs", "GMACs per image", 1e9)):
        _panel(ax, pts, dataset, cost, div, number)
        ax.set_xlabel(label)
        ax.set_xscale("log" if cost == "latency_ms" else "linear")
    _key(axes[2], numbered)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _panel(ax: Any, pts: list[Point], dataset: str, cost: str, div: float, number: dict[int, int]) -> None:
    front = pareto_front(pts, dataset, cost)
    for p in pts:
        if dataset not in p.psnr:
            continue
        c = getattr(p, cost)
        if c is None:  # bicubic: a horizontal reference line; other un-measured points are left out
            if p.kind == "bicubic":
                ax.axhline(p.psnr[dataset], ls=":", color="gray")
                ax.annotate(p.name, (0.01, p.psnr[dataset]), xycoords=("axes fraction", "data"), fontsize=7)
            continue
        style = {"reference": ("s", "black"), "artifact": ("o", "tab:blue")}.get(p.kind, ("o", "tab:blue"))
        ax.scatter(c / div, p.psnr[dataset], marker=style[0], color=style[1], zorder=3)
        ax.annotate(str(number[id(p)]), (c / div, p.psnr[dataset]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    if front:
        ax.plot([getattr(p, cost) / div for p in front], [p.psnr[dataset] for p in front], "-",
                color="tab:red", lw=2, label="Pareto front", zorder=2)
        ax.legend(loc="lower right")
    ax.set_ylabel(f"{dataset} PSNR (dB, Y)")
    ax.grid(alpha=0.3)


def _key(ax: Any, numbered: list[Point]) -> None:
    ax.axis("off")
    lines = [f"{i:>2}  {p.name}" for i, p in enumerate(numbered, 1)]
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", fontsize=7, family="monospace",
            transform=ax.transAxes)
