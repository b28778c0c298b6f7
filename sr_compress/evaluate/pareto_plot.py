"""Markdown table and PNG of a Pareto report (see ``pareto.py``)."""

from __future__ import annotations

from pathlib import Path

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
    """PSNR vs latency and PSNR vs MACs, front highlighted; None when matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for ax, cost, label, div in ((axes[0], "latency_ms", "median latency, batch 1 (ms)", 1.0),
                                 (axes[1], "macs", "GMACs per image", 1e9)):
        front = pareto_front(pts, dataset, cost)
        for p in pts:
            if dataset not in p.psnr:
                continue
            c = getattr(p, cost)
            if c is None:  # bicubic: a horizontal reference line; other un-measured points are left out
                if p.kind != "bicubic":
                    continue
                ax.axhline(p.psnr[dataset], ls=":", color="gray")
                ax.annotate(p.name, (0.01, p.psnr[dataset]), xycoords=("axes fraction", "data"), fontsize=7)
                continue
            style = {"reference": ("s", "black"), "artifact": ("o", "tab:blue")}.get(p.kind, ("o", "tab:blue"))
            ax.scatter(c / div, p.psnr[dataset], marker=style[0], color=style[1], zorder=3)
            ax.annotate(p.name, (c / div, p.psnr[dataset]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if front:
            ax.plot([getattr(p, cost) / div for p in front], [p.psnr[dataset] for p in front], "-",
                    color="tab:red", lw=2, label="Pareto front", zorder=2)
            ax.legend(loc="lower right")
        ax.set_xlabel(label)
        ax.set_ylabel(f"{dataset} PSNR (dB, Y)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
