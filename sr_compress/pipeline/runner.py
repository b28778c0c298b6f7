"""Runs a pipeline config stage by stage in one run directory and writes the final report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import load_config, to_dict
from ..errors import GateFailed, UserInputError
from .config import PipelineConfig
from .stages import PipelineResult, StageRecord, run_stage, skipped


def resolve_data(names: list[str], scale: int) -> list[str]:
    """``default`` / ``default-benchmark`` → the embedded images; anything else must exist."""
    from ..data.defaults import default_benchmark_dir, default_images_dir

    out = []
    for name in names:
        if name == "default":
            out.append(str(default_images_dir()))
        elif name == "default-benchmark":
            out.append(str(default_benchmark_dir(scale)))
        else:
            p = Path(name).expanduser()
            if not p.exists():
                raise UserInputError(f"pipeline data folder not found: {p} (fix the path in the pipeline config)")
            out.append(str(p))
    return out


def _resolve_path(value: str, base: Path) -> str:
    """A relative path as given if it exists from the working directory, else from the config
    file's folder or one of its parents (so ``configs/distill/x.yaml`` works from anywhere)."""
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists():
        return str(p)
    for root in (base, *base.parents):
        if (root / p).exists():
            return str((root / p).resolve())
    return value


def _resolve_recipe(value: str, base: Path, kind: str | tuple[str, ...], key: str) -> str:
    """A path (see :func:`_resolve_path`) or the name of a shipped recipe (``dukd_x4``)."""
    from ..recipes import resolve_recipe

    found = _resolve_path(value, base)
    return found if Path(found).is_file() else str(resolve_recipe(found, kind, option=key))


def load_pipeline_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    cfg = load_config(PipelineConfig, path, {k: v for k, v in (overrides or {}).items() if v is not None})
    base = Path(path).resolve().parent
    cfg.data = [d if d in ("default", "default-benchmark") else _resolve_path(d, base) for d in cfg.data]
    cfg.eval_data = [d if d in ("default", "default-benchmark") else _resolve_path(d, base) for d in cfg.eval_data]
    if cfg.distill.config:
        cfg.distill.config = _resolve_recipe(cfg.distill.config, base, ("distill", "train"), "distill.config")
    if cfg.gate:
        cfg.gate = _resolve_recipe(cfg.gate, base, "gates", "gate")
    if cfg.teacher.checkpoint and ("/" in cfg.teacher.checkpoint or cfg.teacher.checkpoint.endswith(".pth")):
        cfg.teacher.checkpoint = _resolve_path(cfg.teacher.checkpoint, base)
    if cfg.export.calib:
        cfg.export.calib = _resolve_path(cfg.export.calib, base)
    return cfg


def _file_text(path: str | None) -> str | None:
    """Stage keys include the text of the files a stage reads, so editing a recipe redoes it."""
    if path and Path(path).is_file():
        return Path(path).read_text()
    return None


def run_pipeline(
    cfg: PipelineConfig,
    run_dir: Path,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> PipelineResult:
    from . import steps

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "pipeline.json").write_text(json.dumps(to_dict(cfg), indent=2))
    train_data = resolve_data(cfg.data, cfg.scale)
    eval_data = resolve_data(cfg.eval_data, cfg.scale)
    result = PipelineResult(run_dir, eval_data=eval_data)
    recs = result.records

    teacher = run_stage(
        run_dir, "teacher", {"teacher": to_dict(cfg.teacher), "data": cfg.data, "scale": cfg.scale, "seed": cfg.seed},
        [], lambda d: steps.teacher(cfg, train_data, eval_data, d), force, log,
    )
    recs.append(teacher)
    if cfg.datadistill.method:
        dd = run_stage(
            run_dir, "datadistill", {"datadistill": to_dict(cfg.datadistill), "data": cfg.data, "seed": cfg.seed},
            [teacher], lambda d: steps.datadistill(cfg, teacher.outputs["checkpoint"], train_data, d), force, log,
        )
        train_data = [dd.outputs["images"]]
    else:
        dd = skipped("datadistill", "no dataset distillation configured")
    recs.append(dd)
    distill = run_stage(
        run_dir, "distill",
        {"distill": to_dict(cfg.distill), "recipe": _file_text(cfg.distill.config), "data": cfg.data,
         "eval": cfg.eval_data, "seed": cfg.seed},
        [teacher, dd], lambda d: steps.distill(cfg, teacher.outputs["checkpoint"], train_data, eval_data, d), force, log,
    )
    recs.append(distill)
    student_ckpt = distill.outputs["student"]
    evaluation = run_stage(
        run_dir, "eval", {"eval": cfg.eval_data}, [teacher, distill],
        lambda d: steps.evaluate(cfg, teacher.outputs["checkpoint"], student_ckpt, eval_data, d), force, log,
    )
    recs.append(evaluation)
    if not cfg.export.enabled:
        recs += [skipped(s, "export disabled") for s in ("export", "validate", "bench", "gate")]
    else:
        _deploy_stages(cfg, run_dir, distill, student_ckpt, eval_data, result, force, log)

    from .report import write_report

    result.report_md = write_report(cfg, result)
    log(f"report: {result.report_md}  (and report.html, report.json)")
    if result.gate_passed is False:
        raise GateFailed(f"pipeline gate failed: see {run_dir / 'gate'} and {result.report_md}")
    return result


def _deploy_stages(cfg: PipelineConfig, run_dir: Path, distill: StageRecord, student_ckpt: str,
                   eval_data: list[str], result: PipelineResult, force: bool, log: Callable[[str], None]) -> None:
    """export -> validate -> bench -> gate of the distilled student, appended to ``result.records``."""
    from . import steps

    recs = result.records
    export = run_stage(
        run_dir, "export", to_dict(cfg.export), [distill],
        lambda d: steps.export(cfg, student_ckpt, d), force, log,
    )
    recs.append(export)
    export_dir = export.outputs["export_dir"]
    validate = run_stage(
        run_dir, "validate", {"eval": cfg.eval_data}, [export],
        lambda d: steps.validate(cfg, export_dir, eval_data, d), force, log,
    )
    recs.append(validate)
    if cfg.bench.enabled:
        bench = run_stage(
            run_dir, "bench", to_dict(cfg.bench), [export],
            lambda d: steps.bench(cfg, export_dir, d), force, log,
        )
    else:
        bench = skipped("bench", "bench disabled")
    recs.append(bench)
    if cfg.gate:
        spec_path = Path(cfg.gate)
        if not spec_path.is_file():
            raise UserInputError(f"pipeline gate spec not found: {cfg.gate} (fix 'gate' in the pipeline config)")
        gate = run_stage(
            run_dir, "gate", {"spec": spec_path.read_text(), "eval": cfg.eval_data}, [validate, bench],
            lambda d: steps.gate(cfg, spec_path, export_dir, eval_data, d), force, log,
        )
        result.gate_passed = bool(gate.outputs.get("passed"))
    else:
        gate = skipped("gate", "no gate spec")
    recs.append(gate)

