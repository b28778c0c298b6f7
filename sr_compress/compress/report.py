"""Run report: ``report.json`` (machine), ``report.md`` (human), ``curves.png`` (training curves)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import yaml


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def plot_curves(out_dir: Path) -> Path | None:
    """Training losses (log scale) and validation PSNR against iterations."""
    train = _read_csv(out_dir / "log.csv")
    val = _read_csv(out_dir / "val.csv")
    if not train and not val:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # one panel per kind of curve present (a run without validation gets no empty second panel)
    n = 2 if train and val else 1
    fig, axes_ = plt.subplots(1, n, figsize=(5.5 * n + (0.5 if n == 1 else 0), 4), squeeze=False)
    axes = list(axes_[0]) if n == 2 else [axes_[0][0], axes_[0][0]]
    if train:
        its = [int(float(r["iteration"])) for r in train]
        keys = [k for k in train[0] if k not in ("iteration", "lr", "wall_s")]
        for k in keys:
            ys = [float(r[k]) if r.get(k) not in (None, "") else float("nan") for r in train]
            axes[0].plot(its, ys, label=k, lw=1.2 if k == "loss" else 0.8)
        axes[0].set_yscale("log")
        axes[0].set_xlabel("iteration")
        axes[0].set_title("training losses")
        axes[0].legend(fontsize=7)
    if val:
        its = [int(float(r["iteration"])) for r in val]
        for k in [k for k in val[0] if k.endswith("_psnr")]:
            axes[1].plot(its, [float(r[k]) for r in val], marker="o", ms=3, label=k[:-5])
        axes[1].set_xlabel("iteration")
        axes[1].set_ylabel("PSNR (Y) dB")
        axes[1].set_title("validation (subset)")
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    path = out_dir / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt_int(v: Any) -> str:
    if v is None:
        return "n/a"
    v = float(v)
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.2f}{unit}"
    return f"{v:.0f}"


def write_report(out_dir: Path, *, cfg: dict[str, Any], teacher: dict[str, Any] | None, student: dict[str, Any],
                 metrics: dict[str, Any], macs_output_hw: tuple[int, int], device: str,
                 num_processes: int) -> None:
    curves = plot_curves(out_dir)
    h, w = macs_output_hw
    s = cfg["scale"]
    report = {
        "config": cfg,
        "teacher": teacher,
        "student": student,
        "macs_input_hw": [h // s, w // s],
        "metrics": metrics,
        "device": device,
        "num_processes": num_processes,
        "curves": curves.name if curves else None,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))

    lines = [f"# Distillation run: `{cfg['method']}` x{s}", ""]
    lines.append(f"- student: `{cfg['student']}`; teacher: `{cfg.get('teacher')}`")
    lines.append(f"- {cfg['train']['iterations']} iterations, batch {cfg['data']['batch_size']}, "
                 f"LR patch {cfg['data']['patch_size']}, seed {cfg['train']['seed']}; "
                 f"training wall time {metrics.get('train_time_s', 0):.1f} s on {device} x{num_processes}")
    lines.append(f"- MACs counted for one {h // s}x{w // s} LR input ({h}x{w} output)")
    lines += ["", "| model | params | MACs |", "|---|---|---|"]
    if teacher:
        lines.append(f"| teacher ({teacher['arch']}) | {_fmt_int(teacher['params'])} | {_fmt_int(teacher.get('macs'))} |")
    lines.append(f"| student ({student['arch']}) | {_fmt_int(student['params'])} | {_fmt_int(student.get('macs'))} |")
    if teacher and teacher.get("macs") and student.get("macs"):
        lines.append(f"\nStudent/teacher MACs: 1/{teacher['macs'] / student['macs']:.1f}.")
    final = metrics.get("final") or {}
    if final:
        sets = list(next(iter(final.values())).keys())
        lines += ["", "## Final validation (PSNR dB / SSIM, Y channel, border = scale)", ""]
        lines.append("| model | " + " | ".join(sets) + " |")
        lines.append("|---|" + "---|" * len(sets))
        for model in ("bicubic", "teacher", "student"):
            if model in final:
                cells = [f"{final[model][n]['psnr']:.2f} / {final[model][n]['ssim']:.4f}" for n in sets]
                lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if curves:
        lines += ["", f"![training curves]({curves.name})"]
    for name, v in (metrics.get("extras") or {}).items():  # method extras, e.g. DFSR's generated images
        if isinstance(v, str) and v.endswith(".png"):
            lines += ["", f"![{name}]({v})"]
    lines += ["", "## Resolved config", "", "```yaml", yaml.safe_dump(cfg, sort_keys=False).rstrip(), "```", ""]
    (out_dir / "report.md").write_text("\n".join(lines))
