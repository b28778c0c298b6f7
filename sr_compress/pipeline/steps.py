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
        desc = load_model(t.checkpoint, scale=cfg.scale)
        if desc.scale != cfg.scale:
            from ..errors import UserInputError

            raise UserInputError(
                f"teacher {t.checkpoint} is x{desc.scale} but the pipeline scale is x{cfg.scale}: "
                "use a matching checkpoint or change 'scale'"
            )
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
    from ..compress.datadistill.common import DataDistillConfig, run_data_distillation
    from ..config import from_dict

    raw = {**cfg.datadistill.options, "method": cfg.datadistill.method, "data": train_data,
           "scale": cfg.scale, "teacher": teacher_ckpt, "seed": cfg.seed}
    dcfg = from_dict(DataDistillConfig, raw, src="pipeline datadistill.options")
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

    models = {
        "bicubic": lambda lr: bicubic_upscale_uint8(lr, cfg.scale),
        "teacher": torch_upscale_fn(load_model(teacher_ckpt).eval()),
        "student": torch_upscale_fn(load_model(student_ckpt).eval()),
    }
    rows = []
    for path in eval_data:
        bench = load_benchmark(path, cfg.scale)
        for name, fn in models.items():
            r = evaluate_model(fn, bench, cfg.scale, progress=False)
            rows.append({"model": name, "dataset": bench.name, "psnr": r["psnr"], "ssim": r["ssim"]})
    (stage_dir / "eval.json").write_text(json.dumps(rows, indent=2))
    return {"rows": rows}
