"""The body of each pipeline stage: a thin call into the library, returning JSON-able outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import PipelineConfig


def _has_checkpoint(run_dir: Path) -> bool:
    """A stage killed mid-training resumes from its last checkpoint instead of starting over."""
    from ..compress.checkpoint import latest_checkpoint

    return latest_checkpoint(run_dir / "checkpoints") is not None


def teacher(cfg: PipelineConfig, train_data: list[str], eval_data: list[str], stage_dir: Path) -> dict[str, Any]:
    """Use the given checkpoint, or train a small demo teacher (labelled as such everywhere)."""
    from ..models.load import load_model

    t = cfg.teacher
    if t.checkpoint:
        desc = load_model(t.checkpoint, scale=cfg.scale)  # raises unless desc.scale == cfg.scale
        return {"checkpoint": str(desc.source or t.checkpoint), "demo": False, "arch": desc.arch, "params": desc.params}

    from ..compress.engine import load_distill_config, run_distillation

    dcfg = load_distill_config(
        None,
        {
            "method": "scratch",
            "scale": cfg.scale,
            "student": t.demo_spec,
            "data.path": train_data,
            "data.patch_size": t.demo_patch_size,
            "data.batch_size": t.demo_batch_size,
            "data.val": eval_data,
            "train.iterations": t.demo_iterations,
            "train.lr": t.demo_lr,
            "train.seed": cfg.seed,
            "train.checkpoint_every": max(100, t.demo_iterations // 4),
            "train.val_every": t.demo_iterations,
        },
    )
    res = run_distillation(dcfg, stage_dir / "run", resume=_has_checkpoint(stage_dir / "run"))
    ckpt = res.out_dir / "student.pth"
    return {
        "checkpoint": str(ckpt),
        "demo": True,
        "arch": res.student.arch,
        "params": res.student.params,
        "note": f"DEMO TEACHER: {t.demo_spec} trained from scratch for {t.demo_iterations} iterations "
        "on the pipeline's training images; not a published model",
        "metrics": res.metrics,
    }


def datadistill(cfg: PipelineConfig, teacher_ckpt: str, train_data: list[str], stage_dir: Path) -> dict[str, Any]:
    from ..compress.datadistill.loading import load_datadistill_config
    from ..compress.datadistill.run import run_data_distillation

    raw = {**cfg.datadistill.options, "method": cfg.datadistill.method, "data": train_data,
           "scale": cfg.scale, "teacher": teacher_ckpt, "seed": cfg.seed}
    dcfg = load_datadistill_config(raw, src="pipeline datadistill.options")
    man = run_data_distillation(dcfg, stage_dir / "set")
    return {
        "images": str(stage_dir / "set" / "images"),
        "method": man["method"],
        "n_images": len(man["images"]),
        "total_bytes": man["total_bytes"],
        "ratio": man["ratio"],
        "wall_time_s": man["wall_time_s"],
    }


def distill(
    cfg: PipelineConfig, teacher_ckpt: str, train_data: list[str], eval_data: list[str], stage_dir: Path
) -> dict[str, Any]:
    from ..compress.engine import load_distill_config, run_distillation

    d = cfg.distill
    overrides: dict[str, Any] = {
        "scale": cfg.scale,
        "teacher": teacher_ckpt,
        "data.path": train_data,
        "data.val": eval_data,
        "train.seed": cfg.seed,
    }
    if d.method:
        overrides["method"] = d.method
    if d.student:
        overrides["student"] = d.student
    overrides.update(d.overrides)
    dcfg = load_distill_config(d.config, overrides)
    res = run_distillation(dcfg, stage_dir / "run", resume=_has_checkpoint(stage_dir / "run"))
    return {
        "student": str(res.out_dir / "student.pth"),
        "method": dcfg.method,
        "run_dir": str(res.out_dir),
        "metrics": res.metrics,
    }


def evaluate(
    cfg: PipelineConfig, teacher_ckpt: str, student_ckpt: str, eval_data: list[str], stage_dir: Path
) -> dict[str, Any]:
    """Bicubic, teacher and student under the standard protocol on every eval set."""
    from ..data.datasets import load_benchmark
    from ..data.imresize import bicubic_upscale_uint8
    from ..evaluate.sr_eval import evaluate_model, torch_upscale_fn
    from ..models.load import load_model

    descs = {"teacher": load_model(teacher_ckpt), "student": load_model(student_ckpt)}
    sizes = [
        {"model": k, "arch": d.arch, "params": d.params,
         "gmacs_720p": d.macs(720 // cfg.scale, 1280 // cfg.scale) / 1e9}
        for k, d in descs.items()
    ]
    models = {
        "bicubic": lambda lr: bicubic_upscale_uint8(lr, cfg.scale),
        "teacher": torch_upscale_fn(descs["teacher"].eval()),
        "student": torch_upscale_fn(descs["student"].eval()),
    }
    rows = []
    for path in eval_data:
        bench = load_benchmark(path, cfg.scale)
        for name, fn in models.items():
            r = evaluate_model(fn, bench, cfg.scale, progress=False)
            rows.append({"model": name, "dataset": bench.name, "psnr": r["psnr"], "ssim": r["ssim"]})
    (stage_dir / "eval.json").write_text(json.dumps({"rows": rows, "models": sizes}, indent=2))
    return {"rows": rows, "models": sizes}


def export(cfg: PipelineConfig, student_ckpt: str, stage_dir: Path) -> dict[str, Any]:
    """ONNX / OpenVINO / TensorRT artifacts of the distilled student, with manifest.json."""
    from ..export import ExportOptions, export_model, parse_precisions
    from ..models.load import load_model

    e = cfg.export
    opts = ExportOptions(
        onnx=e.onnx,
        openvino=bool(e.openvino),
        precisions=parse_precisions(e.openvino, "export.openvino") if e.openvino else ["fp32"],
        onnx_int8=e.onnx_int8,
        trt=bool(e.trt),
        trt_precisions=parse_precisions(e.trt, "export.trt") if e.trt else ["fp16"],
        targets=dict(e.backends),
        calib=e.calib,
        tile=e.tile,
        force=True,  # a re-run stage replaces its own earlier artifacts
    )
    out = stage_dir / "artifacts"
    manifest = export_model(load_model(student_ckpt), out, opts)
    return {
        "export_dir": str(out),
        "artifacts": [{"name": a.name, "backend": a.backend, "precision": a.precision, "path": a.path}
                      for a in manifest.artifacts],
    }


def validate(cfg: PipelineConfig, export_dir: str, eval_data: list[str], stage_dir: Path) -> dict[str, Any]:
    """Every artifact against the PyTorch student on the eval sets (validation.md/json in the export dir)."""
    from ..evaluate.validate import render_markdown, validate_export

    res = validate_export(export_dir, eval_data, tile=None, progress=False)
    summary = [
        {"artifact": a["name"], "precision": a["precision"], "max_drop_db": a["max_drop_db"],
         "min_psnr_vs_ref": a["min_psnr_vs_ref"], "max_abs": a["max_abs"], "nonfinite": a["nonfinite"]}
        for a in res["artifacts"]
    ]
    return {"markdown": render_markdown(res), "artifacts": summary, "skipped": res.get("skipped", []),
            "report": str(Path(export_dir) / "validation.md")}


def bench(cfg: PipelineConfig, export_dir: str, stage_dir: Path) -> dict[str, Any]:
    from ..evaluate.bench import bench_export, parse_size, render_table

    b = cfg.bench
    res = bench_export(export_dir, [parse_size(b.size)], list(b.batch), b.runs, b.warmup,
                       compile=b.compile, progress=False)
    (stage_dir / "bench.json").write_text(json.dumps(res, indent=2, default=str))
    best = max((r for r in res["rows"] if "skipped" not in r and r["target"] != "torch"),
               key=lambda r: r["mp_per_s"], default=None)
    return {"markdown": render_table(res), "best": best and {k: best[k] for k in ("target", "mp_per_s",
                                                                                    "ratio_vs_eager")}}


def gate(cfg: PipelineConfig, spec_path: Path, export_dir: str, eval_data: list[str],
         stage_dir: Path) -> dict[str, Any]:
    """The gate spec's thresholds on the pipeline's eval sets (its own ``data`` when it names some)."""
    from ..evaluate.gate import load_spec, render_checks, run_gate

    spec = load_spec(spec_path)
    res = run_gate(export_dir, spec, data=None if spec.data else eval_data, spec_path=spec_path, progress=False)
    (stage_dir / "gate.json").write_text(json.dumps(res["checks"], indent=2, default=str))
    def fmt(v: Any) -> str:
        return f"{v:.5g}" if isinstance(v, float) else str(v)

    rows = [f"| {c['artifact']} | {c['check']} | {fmt(c['measured'])} | {c['threshold']} | "
            f"{'PASS' if c['ok'] else '**FAIL**'} |" for c in res["checks"]]
    table = "\n".join(["| artifact | check | measured | threshold | result |", "|---|---|---|---|---|", *rows])
    return {"passed": res["passed"], "markdown": table, "text": render_checks(res),
            "failed": [c for c in res["checks"] if not c["ok"]]}
