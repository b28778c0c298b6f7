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
    if cfg.recover.config:
        cfg.recover.config = _resolve_recipe(cfg.recover.config, base, ("distill", "train"), "recover.config")
    if cfg.upscale.inputs != "default-benchmark":
        cfg.upscale.inputs = _resolve_path(cfg.upscale.inputs, base)
    if cfg.eval.niqe_params:
        cfg.eval.niqe_params = _resolve_path(cfg.eval.niqe_params, base)
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
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "pipeline.json").write_text(json.dumps(to_dict(cfg), indent=2))
    train_data = resolve_data(cfg.data, cfg.scale)
    eval_data = resolve_data(cfg.eval_data, cfg.scale)
    result = PipelineResult(run_dir, eval_data=eval_data)
    models = _model_stages(cfg, run_dir, train_data, eval_data, result, force, log)
    if not cfg.export.enabled:
        result.records += [skipped(s, "export disabled") for s in ("export", "validate", "bench", "upscale", "gate")]
    else:
        _deploy_stages(cfg, run_dir, models, eval_data, result, force, log)

    from .report import write_report

    result.report_md = write_report(cfg, result)
    log(f"report: {result.report_md}  (and report.html, report.json)")
    if result.gate_passed is False:
        raise GateFailed(f"pipeline gate failed: see {run_dir / 'gate'} and {result.report_md}")
    return result


def _model_stages(cfg: PipelineConfig, run_dir: Path, train_data: list[str], eval_data: list[str],
                  result: PipelineResult, force: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """teacher -> datadistill -> distill -> prune -> recover -> qat -> eval; returns the models made
    (``float``: the checkpoint the export holds, ``qat``: the QAT stage's record or None)."""
    from . import steps

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
    if cfg.distill.enabled:
        distill = run_stage(
            run_dir, "distill",
            {"distill": to_dict(cfg.distill), "recipe": _file_text(cfg.distill.config), "data": cfg.data,
             "eval": cfg.eval_data, "seed": cfg.seed},
            [teacher, dd], lambda d: steps.distill(cfg, teacher.outputs["checkpoint"], train_data, eval_data, d),
            force, log,
        )
        float_ckpt = distill.outputs["student"]
    else:
        distill, float_ckpt = skipped("distill", "distill disabled: the teacher itself is compressed"), \
            teacher.outputs["checkpoint"]
    recs.append(distill)
    float_ckpt, qat = _compress_stages(cfg, run_dir, float_ckpt, train_data, eval_data, result, force, log)
    models = {"teacher": {"checkpoint": teacher.outputs["checkpoint"]}}
    by_name = {r.name: r for r in recs}
    for name, label, key in (("distill", "student", "student"), ("prune", "pruned", "checkpoint"),
                             ("recover", "recovered", "student")):
        if by_name[name].status != "skipped":
            models[label] = {"checkpoint": by_name[name].outputs[key]}
    if qat is not None:
        models["qat"] = {"qat": qat.outputs["model"], "source": qat.outputs["source"]}
    recs.append(run_stage(
        run_dir, "eval", {"eval": cfg.eval_data, "settings": to_dict(cfg.eval), "niqe": steps.niqe_params(cfg)[0],
                          "models": models}, [r for r in recs],
        lambda d: steps.evaluate(cfg, models, eval_data, d), force, log,
    ))
    return {"float": float_ckpt, "qat": qat, "teacher": teacher.outputs["checkpoint"]}


def _compress_stages(cfg: PipelineConfig, run_dir: Path, float_ckpt: str, train_data: list[str],
                     eval_data: list[str], result: PipelineResult, force: bool,
                     log: Callable[[str], None]) -> tuple[str, StageRecord | None]:
    """prune -> recover -> qat of ``float_ckpt``; returns the float checkpoint after them and the QAT record."""
    from . import compress_steps as cs

    recs = result.records
    up = list(recs)
    if cfg.prune.macs is not None or cfg.prune.channels is not None:
        src = float_ckpt
        pruned = run_stage(run_dir, "prune", {"prune": to_dict(cfg.prune), "data": cfg.data, "seed": cfg.seed}, up,
                           lambda d: cs.prune(cfg, src, train_data, d), force, log)
        float_ckpt = pruned.outputs["checkpoint"]
        if cfg.recover.enabled:
            rec = run_stage(
                run_dir, "recover", {"recover": to_dict(cfg.recover), "recipe": _file_text(cfg.recover.config),
                                     "data": cfg.data, "eval": cfg.eval_data, "seed": cfg.seed},
                [*up, pruned], lambda d: cs.recover(cfg, src, pruned.outputs["checkpoint"], train_data, eval_data, d),
                force, log)
            float_ckpt = rec.outputs["student"]
        else:
            rec = skipped("recover", "recover disabled: the pruned network is used as pruned")
    else:
        pruned, rec = skipped("prune", "no pruning target (prune.macs / prune.channels)"), skipped("recover", "no pruning")
    recs += [pruned, rec]
    qat = None
    if cfg.qat.enabled:
        src = float_ckpt
        qat = run_stage(run_dir, "qat", {"qat": to_dict(cfg.qat), "data": cfg.data, "seed": cfg.seed},
                        [*up, pruned, rec], lambda d: cs.qat(cfg, src, train_data, d), force, log)
        recs.append(qat)
    else:
        recs.append(skipped("qat", "qat disabled"))
    return float_ckpt, qat


def _deploy_stages(cfg: PipelineConfig, run_dir: Path, models: dict[str, Any], eval_data: list[str],
                   result: PipelineResult, force: bool, log: Callable[[str], None]) -> None:
    """export -> validate -> bench -> upscale -> gate of the compressed model, appended to ``result.records``."""
    from . import compress_steps as cs
    from . import steps

    recs = result.records
    upstream = [r for r in recs if r.name != "eval"]
    export = run_stage(
        run_dir, "export", to_dict(cfg.export), upstream,
        lambda d: steps.export(cfg, models["float"], d, models["qat"]), force, log,
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
    if cfg.upscale.enabled:
        inputs = cs.upscale_inputs(cfg)
        recs.append(run_stage(run_dir, "upscale", {"upscale": to_dict(cfg.upscale), "inputs": inputs}, [export],
                              lambda d: cs.upscale(cfg, export_dir, inputs, d), force, log))
    else:
        recs.append(skipped("upscale", "no sample folder upscale configured"))
    _gate_stage(cfg, run_dir, export_dir, eval_data, [validate, bench], result, force, log)


def _gate_stage(cfg: PipelineConfig, run_dir: Path, export_dir: str, eval_data: list[str],
                upstream: list[StageRecord], result: PipelineResult, force: bool, log: Callable[[str], None]) -> None:
    from . import steps

    if cfg.gate:
        spec_path = Path(cfg.gate)
        if not spec_path.is_file():
            raise UserInputError(f"pipeline gate spec not found: {cfg.gate} (fix 'gate' in the pipeline config)")
        gate = run_stage(
            run_dir, "gate", {"spec": spec_path.read_text(), "eval": cfg.eval_data}, upstream,
            lambda d: steps.gate(cfg, spec_path, export_dir, eval_data, d), force, log,
        )
        result.gate_passed = bool(gate.outputs.get("passed"))
    else:
        gate = skipped("gate", "no gate spec")
    result.records.append(gate)
