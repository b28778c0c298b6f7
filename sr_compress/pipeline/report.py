"""The pipeline's final report: report.md (people), report.html (people, with pictures), report.json."""

from __future__ import annotations

import base64
import html
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import to_dict
from ..metrics.sr import PROTOCOL
from .report_compress import compression_sections, pareto_section

if TYPE_CHECKING:
    from .config import PipelineConfig
    from .stages import PipelineResult


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _demote(markdown: str) -> str:
    """Nest a sub-report under the report's own '## section' headings; point its pictures here."""
    out = []
    for line in markdown.splitlines():
        if line.startswith("#"):
            line = "##" + line
        out.append(line)
    return "\n".join(out)


def _compared_models(cfg: PipelineConfig, result: PipelineResult) -> dict[str, Any] | None:
    """Label -> upscale fn of the pictured models: teacher and the final compressed model (its
    exported QAT INT8 artifact when there is one, since that is what ships)."""
    from ..evaluate.sr_eval import runner_upscale_fn, torch_upscale_fn
    from .compress_steps import QAT_SUFFIX, pick_artifact
    from .steps import load_eval_model

    recs = {r.name: r for r in result.records}
    ev = recs.get("eval")
    specs = ev.outputs.get("specs") if ev else None
    if not specs:  # a run directory from before the eval stage recorded its models
        if "teacher" not in recs or "distill" not in recs or recs["distill"].status == "skipped":
            return None
        specs = {"teacher": {"checkpoint": recs["teacher"].outputs["checkpoint"]},
                 "student": {"checkpoint": recs["distill"].outputs["student"]}}
    fns = {"teacher": torch_upscale_fn(load_eval_model(specs["teacher"]))}
    export = recs.get("export")
    if "qat" in specs and export and export.status != "skipped":
        from ..runtime.runners import make_runner

        man, art = pick_artifact(export.outputs["export_dir"], None)
        if art.name.endswith(QAT_SUFFIX):
            fns[art.name] = runner_upscale_fn(make_runner(art, manifest=man))
            return fns
    last = [k for k in specs if k != "teacher"]
    if last:
        fns[last[-1]] = torch_upscale_fn(load_eval_model(specs[last[-1]]))
    return fns


def side_by_side(cfg: PipelineConfig, result: PipelineResult, out: Path,
                 crop: int = 96) -> tuple[Path, list[str]] | None:
    """Bicubic | teacher | compressed | HR crops of the first eval image, upscaled for viewing (and the labels)."""
    from PIL import Image, ImageDraw

    from ..data.datasets import load_benchmark
    from ..data.imresize import bicubic_upscale_uint8

    fns = _compared_models(cfg, result)
    if not fns:
        return None
    bench = load_benchmark(result.eval_data[0], cfg.scale)
    name, lr, hr = bench.items[0]
    outputs = {"bicubic": bicubic_upscale_uint8(lr, cfg.scale), **{k: fn(lr) for k, fn in fns.items()}, "HR": hr}
    h, w = hr.shape[:2]
    c = min(crop, h, w)
    # the crop with the most detail (largest HR variance) shows differences best
    best, best_var = (0, 0), -1.0
    for y in range(0, h - c + 1, max(1, c // 2)):
        for x in range(0, w - c + 1, max(1, c // 2)):
            v = float(hr[y : y + c, x : x + c].astype(np.float32).var())
            if v > best_var:
                best, best_var = (y, x), v
    y, x = best
    zoom = max(1, 192 // c)
    tiles = []
    for label, img in outputs.items():
        tile = Image.fromarray(img[y : y + c, x : x + c]).resize((c * zoom, c * zoom), Image.Resampling.NEAREST)
        canvas = Image.new("RGB", (tile.width, tile.height + 18), "white")
        canvas.paste(tile, (0, 18))
        ImageDraw.Draw(canvas).text((4, 3), label, fill="black")
        tiles.append(canvas)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), tiles[0].height), "white")
    xo = 0
    for t in tiles:
        sheet.paste(t, (xo, 0))
        xo += t.width + 4
    sheet.save(out)
    return out, list(outputs)


def _fmt_opt(v: Any, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def _model_sections(cfg: PipelineConfig, ev: Any) -> list[str]:
    """The "Models" (size, MACs) and "Quality" (standard protocol, fidelity, NIQE) sections from the eval stage."""
    md: list[str] = []
    if ev and ev.outputs.get("models"):
        md += ["## Models", "", "MACs for one 1280x720 output image (the convention of the efficient-SR papers).", ""]
        md.append(_table(["model", "architecture", "params", "GMACs (720p out)"],
                         [[m["model"], m["arch"], f"{m['params']:,}", round(m["gmacs_720p"], 2)]
                          for m in ev.outputs["models"]]))
        t_ = ev.outputs["models"][0]
        smaller = [m for m in ev.outputs["models"][1:] if m["model"] != "qat"]
        if smaller and smaller[-1]["gmacs_720p"] > 0:
            s_ = smaller[-1]
            md += ["", f"The {s_['model']} model is {t_['params'] / max(s_['params'], 1):.1f}x smaller and "
                   f"{t_['gmacs_720p'] / s_['gmacs_720p']:.1f}x cheaper than the teacher.", ""]
        md.append("")
    rows = ev.outputs.get("rows") if ev else None
    if rows:
        md += ["## Quality (standard SR protocol)", "", f"Protocol: {PROTOCOL.as_dict(cfg.scale)['description']}. "
               "Fidelity = PSNR-Y of the model's output against the teacher's output (same protocol; the "
               "teacher's output is the label, no ground truth involved). NIQE: lower is better.", ""]
        md.append(
            _table(
                ["dataset", "model", "PSNR (dB)", "SSIM", "fidelity to teacher (dB)", "NIQE"],
                [[r["dataset"], r["model"], r["psnr"], r["ssim"], _fmt_opt(r.get("psnr_vs_teacher")),
                  _fmt_opt(r.get("niqe"), 3)] for r in rows],
            )
        )
        if ev.outputs.get("niqe_note"):
            md += ["", ev.outputs["niqe_note"]]
        md.append("")
    return md


def _summary(recs: dict[str, Any]) -> list[str]:
    """The few lines `make demo` ends with: what was compressed, how faithful, how fast."""
    ev, bench = recs.get("eval"), recs.get("bench")
    lines: list[str] = []
    for r in (ev.outputs.get("rows", []) if ev else []):
        if r["model"] not in ("teacher", "bicubic") and r.get("psnr_vs_teacher") is not None:
            lines.append(f"- {r['model']} on {r['dataset']}: {r['psnr_vs_teacher']:.2f} dB fidelity to the teacher, "
                         f"PSNR {r['psnr']:.2f} dB" + (f", NIQE {r['niqe']:.3f}" if r.get("niqe") is not None else ""))
    best = bench.outputs.get("best") if bench and bench.status != "skipped" else None
    if best:
        lines.append(f"- fastest artifact: {best['target']}, {best['ratio_vs_eager']:.2f}x PyTorch eager "
                     f"({best['mp_per_s']:.2f} MP/s)")
    return ["## Summary", "", *lines, ""] if lines else []


def write_report(cfg: PipelineConfig, result: PipelineResult) -> Path:
    run = result.run_dir
    recs = {r.name: r for r in result.records}
    md: list[str] = [f"# sr-compress pipeline report: {cfg.name}", ""]
    t = recs.get("teacher")
    if t and t.outputs.get("demo"):
        md += [f"> **{t.outputs.get('note')}**", ""]
    md += ["## Stages", ""]
    md.append(
        _table(
            ["stage", "status", "seconds", "note"],
            [[r.name, r.status, round(r.seconds, 1), r.note] for r in result.records],
        )
    )
    md.append("")
    pictures: list[tuple[str, Path]] = []

    md += _summary(recs)
    md += _model_sections(cfg, recs.get("eval"))
    md += compression_sections(recs)
    d = recs.get("distill")
    if d and d.outputs.get("run_dir"):
        md += ["## Distillation", "", f"Method `{d.outputs.get('method')}`; run directory `{d.outputs['run_dir']}` "
               "(its own report.md has the full config and curves).", ""]
        curves = Path(d.outputs["run_dir"]) / "curves.png"
        if curves.is_file():
            shutil.copyfile(curves, run / "curves.png")
            md += ["![training curves](curves.png)", ""]
            pictures.append(("Training curves", run / "curves.png"))
    for name, title in (("validate", "Export fidelity"), ("bench", "Throughput"), ("gate", "Gate")):
        r = recs.get(name)
        if r and r.outputs.get("markdown"):
            md += [f"## {title}", "", _demote(r.outputs["markdown"]), ""]
        if name == "validate" and r and r.outputs.get("report"):
            worst = Path(r.outputs["report"]).with_name("validation_worst.png")
            if worst.is_file():
                shutil.copyfile(worst, run / "validation_worst.png")
                pictures.append(("Worst validated image: reference | artifact | abs error", run / "validation_worst.png"))
    try:
        sbs = side_by_side(cfg, result, run / "side_by_side.png")
    except Exception as err:  # a picture must never sink the report
        sbs = None
        md += [f"(side-by-side picture not made: {err})", ""]
    if sbs:
        labels = " | ".join(sbs[1])
        md += ["## Side by side", "", f"{labels} (nearest-neighbour zoom)", "",
               "![side by side](side_by_side.png)", ""]
        pictures.append((labels, sbs[0]))
    try:
        pmd, ppng = pareto_section(recs, run)
    except Exception as err:  # noqa: BLE001 - the Pareto picture must never sink the report either
        pmd, ppng = [f"(Pareto report not made: {err})", ""], None
    md += pmd
    if ppng:
        pictures.append(("Quality vs speed (Pareto)", ppng))
    if result.gate_passed is not None:
        md += [f"**Gate: {'PASSED' if result.gate_passed else 'FAILED'}**", ""]

    md_path = run / "report.md"
    md_path.write_text("\n".join(md))
    (run / "report.json").write_text(_report_json(cfg, result))
    (run / "report.html").write_text(_html(md, pictures))
    return md_path


def _report_json(cfg: PipelineConfig, result: PipelineResult) -> str:
    stages = [{"name": r.name, "status": r.status, "seconds": r.seconds, "key": r.key, "outputs": r.outputs,
               "note": r.note} for r in result.records]
    return json.dumps({"config": to_dict(cfg), "protocol": PROTOCOL.as_dict(cfg.scale),
                       "gate_passed": result.gate_passed, "stages": stages}, indent=2, default=str)


def _html(md_lines: list[str], pictures: list[tuple[str, Path]]) -> str:
    """Self-contained HTML: Markdown tables become HTML tables, pictures are inlined."""
    body: list[str] = []
    in_table = False
    for line in md_lines:
        for chunk in line.split("\n"):
            if chunk.startswith("|"):
                cells = [c.strip() for c in chunk.strip("|").split("|")]
                if all(set(c) <= {"-"} for c in cells):
                    continue
                tag = "th" if not in_table else "td"
                if not in_table:
                    body.append("<table>")
                    in_table = True
                body.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>")
                continue
            if in_table:
                body.append("</table>")
                in_table = False
            if chunk.startswith("!["):
                continue  # pictures are inlined below
            if chunk.startswith("#"):
                level = len(chunk) - len(chunk.lstrip("#"))
                body.append(f"<h{level}>{html.escape(chunk.lstrip('#').strip())}</h{level}>")
            elif chunk.strip():
                body.append(f"<p>{html.escape(chunk.lstrip('> '))}</p>")
    if in_table:
        body.append("</table>")
    for title, path in pictures:
        data = base64.b64encode(path.read_bytes()).decode()
        body.append(f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}"
    )
    return f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>{''.join(body)}</body></html>"
