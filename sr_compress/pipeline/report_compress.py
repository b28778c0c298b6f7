"""Report sections of the compression stages (prune, recover, qat, upscale) and the closing
quality-speed Pareto table + PNG (``evaluate/pareto.py`` collect + plot over the export directory,
with the teacher and bicubic as reference points from the eval stage)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stages import StageRecord


def compression_sections(recs: dict[str, StageRecord]) -> list[str]:
    md: list[str] = []
    p = recs.get("prune")
    if p and p.status != "skipped":
        o = p.outputs
        md += ["## Pruning", "", f"Structured channel pruning (torch-pruning) of `{Path(o['source']).name}`: MACs "
               f"{o['macs_before']:,} -> {o['macs_after']:,} ({o['macs_after'] / max(o['macs_before'], 1):.3f}), "
               f"params {o['params_before']:,} -> {o['params_after']:,} (uniform ratio {o['ratio']:.2f}).", ""]
    r = recs.get("recover")
    if r and r.status != "skipped":
        md += ["## Recovery", "", f"Distillation (`{r.outputs['method']}`) from the unpruned model into the pruned "
               f"network; run directory `{r.outputs['run_dir']}`.", ""]
    q = recs.get("qat")
    if q and q.status != "skipped":
        o = q.outputs
        arts = ", ".join(f"{a['name']} {a['vs_fake_quant_psnr_db']} dB" for a in o["artifacts"])
        md += ["## Quantization-aware training (INT8)", "",
               f"NNCF fake-quant fine-tuned for {o['iterations']} iterations ({o['train_time_s']:.0f} s) with L1 to "
               f"its FP32 model's outputs (no ground truth); last L1 {o['last_loss']:.5f}. Exported artifacts "
               f"checked against the fake-quant model (PSNR of outputs): {arts}.", ""]
    u = recs.get("upscale")
    if u and u.status != "skipped":
        md += ["## Upscaled samples", "", f"`sr-compress upscale {u.outputs['inputs']} -o {u.outputs['out']} "
               f"--model ...` with `{u.outputs['artifact']}`: {u.outputs['summary']}", ""]
    return md


def _rename(name: str) -> str:
    return name.split(": ", 1)[-1]


def pareto_points(recs: dict[str, StageRecord]) -> tuple[list[Any], str] | None:
    """Points of the export (artifacts + its PyTorch reference) plus teacher and bicubic; None when
    the export was not validated."""
    from ..evaluate.pareto import Point, collect

    export, ev = recs.get("export"), recs.get("eval")
    if not export or export.status == "skipped" or not (Path(export.outputs["export_dir"]) / "validation.json").is_file():
        return None
    pts = collect([export.outputs["export_dir"]])
    rows = ev.outputs.get("rows", []) if ev else []
    sets = list(dict.fromkeys(r["dataset"] for r in rows)) or list(pts[0].psnr)
    specs = ev.outputs.get("specs", {}) if ev else {}
    exported_teacher = set(specs) <= {"teacher", "qat"}  # nothing but QAT changed the float model
    for p in pts:
        p.name = _rename(p.name)
        if p.kind == "reference":
            p.name = "teacher (pytorch fp32)" if exported_teacher else "compressed (pytorch fp32)"
    for model, kind in (("bicubic", "bicubic"), ("teacher", "reference")):
        if model == "teacher" and exported_teacher:
            continue
        psnr = {r["dataset"]: float(r["psnr"]) for r in rows if r["model"] == model}
        if psnr:
            pts.append(Point(f"{model} (pytorch fp32)" if model == "teacher" else model, psnr, None,
                             _teacher_macs(specs, pts) if model == "teacher" else None, kind, "eval stage"))
    return pts, sets[0]


def _teacher_macs(specs: dict[str, Any], pts: list[Any]) -> int | None:
    """The teacher's MACs at the size the export's MACs were counted (bench's first size)."""
    ckpt = specs.get("teacher", {}).get("checkpoint")
    ref = next((p for p in pts if p.kind == "reference" and p.macs), None)
    if not ckpt or ref is None:
        return None
    import json

    bench = json.loads((Path(ref.source) / "bench.json").read_text())
    size = next(iter(bench.get("macs") or {}), None)
    if size is None:
        return None
    from ..models.load import load_model

    h, w = (int(v) for v in str(size).split("x"))
    return int(load_model(ckpt).macs(h, w))


def pareto_section(recs: dict[str, StageRecord], run: Path) -> tuple[list[str], Path | None]:
    """The closing "Quality vs speed" section: pareto.md table, pareto.png, pareto.json in the run dir."""
    import json
    from dataclasses import asdict

    from ..evaluate.pareto import pareto_front
    from ..evaluate.pareto_plot import markdown, plot

    got = pareto_points(recs)
    if got is None:
        return [], None
    pts, ds = got
    table = markdown(pts, ds)
    (run / "pareto.md").write_text(table)
    (run / "pareto.json").write_text(json.dumps({"dataset": ds, "points": [asdict(p) for p in pts],
                                                 "front_latency": [p.name for p in pareto_front(pts, ds)]}, indent=2))
    png = plot(pts, ds, run / "pareto.png")
    md = ["## Quality vs speed (Pareto)", "", f"PSNR-Y on {ds} (standard protocol, ground truth) vs the median "
          "batch-1 latency of the bench stage and vs MACs; the teacher and bicubic are reference points. "
          "`sr-compress report` makes the same table from export directories.", "", table]
    if png:
        md += ["![pareto](pareto.png)", ""]
    return md, png
