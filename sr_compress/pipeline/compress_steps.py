"""Bodies of the compression stages: prune, recover (distillation into the pruned network), qat,
the merge of the QAT artifacts into the export, and the sample-folder upscale.

Each stage compresses "the float model so far": the teacher, or the distilled student when the
distill stage ran, or the recovered pruned network. The recovery's teacher is the model that was
pruned (issue 19: recover from the unpruned network); QAT's labels come from its own FP32 input.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from .config import PipelineConfig

QAT_SUFFIX = "-qat"  # QAT artifacts are named e.g. openvino-int8-qat beside a PTQ openvino-int8
QAT_FOLDER = "qat"  # ... and live in export/artifacts/qat/


def fresh_or_resume(run_dir: Path, settings: dict[str, Any]) -> bool:
    """True when ``run_dir`` holds a killed run of exactly these settings (resume it).

    A run of other settings is removed first: its checkpoints would be refused (the engine) or,
    worse, continued with the old options.
    """
    from ..compress.checkpoint import latest_checkpoint

    stamp = run_dir / "pipeline_settings.json"
    text = json.dumps(settings, sort_keys=True, default=str)
    same = stamp.is_file() and stamp.read_text() == text
    if not same and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(text)
    return same and latest_checkpoint(run_dir / "checkpoints") is not None


def prune(cfg: PipelineConfig, float_ckpt: str, train_data: list[str], stage_dir: Path) -> dict[str, Any]:
    """``sr-compress prune`` of ``float_ckpt``; Taylor importance from the pipeline's training images."""
    import torch

    from ..compress.prune import prune_model
    from ..compress.prune.data import importance_batches
    from ..models.load import load_model, save_model

    p = cfg.prune
    torch.manual_seed(cfg.seed)
    desc = load_model(float_ckpt, scale=cfg.scale)
    batches = importance_batches(train_data[0], cfg.scale, seed=cfg.seed) if p.importance == "taylor" else None
    res = prune_model(desc, macs=p.macs, channels=p.channels, importance=p.importance, round_to=p.round_to,
                      ref_size=p.ref_size, batches=batches)
    res.record["source"] = float_ckpt
    path = save_model(res.desc, stage_dir / "pruned.pth")
    (stage_dir / "prune.json").write_text(json.dumps(res.record, indent=2))
    return {"checkpoint": str(path), "source": float_ckpt, "ratio": res.ratio, "macs_before": res.macs_before,
            "macs_after": res.macs_after, "params_before": res.params_before, "params_after": res.params_after}


def recover(cfg: PipelineConfig, unpruned_ckpt: str, pruned_ckpt: str, train_data: list[str],
            eval_data: list[str], stage_dir: Path) -> dict[str, Any]:
    """Distillation with the pruned network as the student (``student: init``), teacher = the unpruned model."""
    from ..compress.engine import load_distill_config, run_distillation

    r = cfg.recover
    overrides: dict[str, Any] = {"scale": cfg.scale, "teacher": unpruned_ckpt, "student": "init",
                                 "init": pruned_ckpt, "method": r.method, "data.path": train_data,
                                 "data.val": eval_data, "train.seed": cfg.seed, **r.overrides}
    dcfg = load_distill_config(r.config, overrides)
    run_dir = stage_dir / "run"
    resume = fresh_or_resume(run_dir, {"recipe": r.config, "overrides": overrides})
    res = run_distillation(dcfg, run_dir, resume=resume)
    return {"student": str(res.out_dir / "student.pth"), "method": dcfg.method, "run_dir": str(res.out_dir),
            "teacher": unpruned_ckpt, "metrics": res.metrics}


def _qat_options(cfg: PipelineConfig, train_data: list[str]) -> Any:
    from ..compress.qat import QATOptions

    q = cfg.qat
    return QATOptions(iterations=q.iterations, batch_size=q.batch_size, patch_size=q.patch_size, lr=q.lr,
                      scale_lr=q.scale_lr, seed=cfg.seed, calib_count=q.calib_count,
                      checkpoint_every=q.checkpoint_every, data=list(train_data),
                      fixed_input_range=q.fixed_input_range, keep_float=list(q.keep_float))


def qat(cfg: PipelineConfig, float_ckpt: str, train_data: list[str], stage_dir: Path) -> dict[str, Any]:
    """``sr-compress quantize --qat`` of ``float_ckpt``: NNCF fake-quant fine-tuned on its own outputs,
    exported to OpenVINO INT8 + ONNX QDQ (each checked against the fake-quant model)."""
    import torch

    from ..compress.qat import QAT_FILE, run_qat
    from ..compress.qat_export import export_qat
    from ..models.load import load_model

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    desc = load_model(float_ckpt, scale=cfg.scale)
    opts = _qat_options(cfg, train_data)
    run_dir = stage_dir / "run"
    resume = fresh_or_resume(run_dir, {"source": float_ckpt, "options": dataclasses.asdict(opts)})
    res = run_qat(desc, run_dir, opts, resume=resume, progress=False)
    prov = {"method": "qat", "tool": "nncf", "iterations": res.iterations_done, "lr": opts.lr,
            "scale_lr": opts.scale_lr, "batch_size": opts.batch_size, "patch_size": opts.patch_size,
            "data": opts.data, "labels": "fp32 model outputs (L1)", "fixed_input_range": opts.fixed_input_range,
            "keep_float": opts.keep_float, "seed": cfg.seed, "source": float_ckpt}
    manifest = export_qat(res.model, desc, stage_dir / "export", prov, force=True)
    return {"model": str(run_dir / QAT_FILE), "source": float_ckpt, "export_dir": str(stage_dir / "export"),
            "iterations": res.iterations_done, "train_time_s": res.train_time_s, "last_loss": res.last_loss,
            "artifacts": [{"name": a.name + QAT_SUFFIX, "vs_fake_quant_psnr_db": a.settings["vs_fake_quant_psnr_db"]}
                          for a in manifest.artifacts]}


def merge_qat_artifacts(export_dir: Path, qat_export: Path) -> list[str]:
    """Copy the QAT export's artifacts into ``export_dir`` (``qat/``, names + ``-qat``) and list them in
    its manifest, so validate / bench / gate / serve see every artifact of the model in one place.

    Both exports share their PyTorch reference: QAT's FP32 input is the model the float export holds.
    """
    from ..export.manifest import read_manifest

    main, q = read_manifest(export_dir), read_manifest(qat_export)
    names = []
    for a in q.artifacts:
        files = list(dict.fromkeys([a.path, *a.files]))
        for f in files:
            dest = export_dir / QAT_FOLDER / f
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(qat_export / f, dest)
        entry = dataclasses.replace(
            a, name=a.name + QAT_SUFFIX, path=f"{QAT_FOLDER}/{a.path}", files=[f"{QAT_FOLDER}/{f}" for f in a.files],
            file_sha256={f"{QAT_FOLDER}/{f}": h for f, h in a.file_sha256.items()},
            provenance={**a.provenance, "quantized_by": "nncf-qat", **q.provenance})
        main.artifacts = [x for x in main.artifacts if x.name != entry.name] + [entry]
        names.append(entry.name)
    main.write(export_dir)
    return names


def pick_artifact(export_dir: str, wanted: str | None) -> Any:
    """The artifact the upscale stage runs: ``wanted``, else QAT INT8 OpenVINO, else the first fp32 one."""
    from ..export.manifest import read_manifest

    man = read_manifest(export_dir)
    if wanted:
        return man, man.artifact(wanted)
    names = [a.name for a in man.artifacts]
    for pref in (f"openvino-int8{QAT_SUFFIX}", "openvino-fp32", "onnx-fp32"):
        if pref in names:
            return man, man.artifact(pref)
    return man, man.artifacts[0]


def upscale_inputs(cfg: PipelineConfig) -> str:
    """The folder the upscale stage reads: ``default-benchmark`` is the held-out photos' LR images."""
    from ..errors import UserInputError

    if cfg.upscale.inputs == "default-benchmark":
        from ..data.defaults import default_benchmark_dir

        return str(default_benchmark_dir(cfg.scale) / "LR_bicubic" / f"X{cfg.scale}")
    if not Path(cfg.upscale.inputs).is_dir():
        raise UserInputError(f"pipeline upscale.inputs {cfg.upscale.inputs}: not a folder (fix it in the config)")
    return cfg.upscale.inputs


def upscale(cfg: PipelineConfig, export_dir: str, inputs: str, stage_dir: Path) -> dict[str, Any]:
    """``sr-compress upscale INPUTS -o RUN/upscale/images --model ARTIFACT`` as a library call."""
    from ..errors import UserInputError
    from ..runtime.runners import make_runner
    from ..upscale.inputs import collect_jobs
    from ..upscale.pipeline import UpscaleOptions, upscale_files

    man, art = pick_artifact(export_dir, cfg.upscale.artifact)
    runner = make_runner(art, manifest=man)
    out = stage_dir / "images"
    jobs = collect_jobs([Path(inputs)], out, "png", "", "*")
    summary = upscale_files(runner, jobs, UpscaleOptions(tile=cfg.upscale.tile), progress=False)
    runner.close()
    if not summary.ok:
        raise UserInputError(f"pipeline upscale: {len(summary.failed)} input(s) of {inputs} failed: "
                             f"{summary.failed[0][0]}: {summary.failed[0][1]}")
    return {"artifact": art.name, "inputs": inputs, "out": str(out), "done": summary.done,
            "seconds": round(summary.seconds, 2), "summary": summary.render()}
