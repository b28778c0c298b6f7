"""``sr-compress quantize CKPT --qat``: INT8 quantization-aware training (NNCF) + INT8 export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.command("quantize")
@click.argument("model")
@click.option("--qat", is_flag=True, help="Quantization-aware training, labels from the FP32 model.")
@click.option("--sensitivity", is_flag=True, help="Per-quantizer sensitivity table (PSNR vs FP32, one quantizer "
              "left in float at a time) instead of training.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Run directory.")
@click.option("--scale", type=int, default=None)
@click.option("--data", multiple=True, type=click.Path(path_type=Path),
              help="HR image folder(s) for training patches (default: the embedded default images).")
@click.option("--iterations", "-n", type=int, default=200, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--patch-size", type=int, default=48, show_default=True)
@click.option("--lr", type=float, default=3e-5, show_default=True, help="Weights learning rate.")
@click.option("--scale-lr", type=float, default=1e-2, show_default=True, help="Quantizer-range learning rate.")
@click.option("--calib-count", type=int, default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=int, default=50, show_default=True)
@click.option("--calibrated-input-range", is_flag=True, help="Keep the input quantizer's calibrated range "
              "(default: fixed to [0, 1]).")
@click.option("--keep-float", type=int, default=0, show_default=True,
              help="Leave the K most sensitive quantizers in float (runs --sensitivity first).")
@click.option("--speed-budget", type=float, default=0.0, show_default=True,
              help="With --keep-float K: of the K most sensitive, keep in float only those that leave the "
              "OpenVINO model at least this fraction of all-INT8 speed (e.g. 0.9; measured here); 0: all K.")
@click.option("--keep-float-from", type=click.Path(path_type=Path), default=None,
              help="Leave in float the quantizers another run chose (its keep_float.json or qat_options.json).")
@click.option("--overflow-fix", type=click.Choice(["auto", "enable", "disable"]), default="auto", show_default=True,
              help="7-bit weights so INT8 kernels cannot saturate on x86 CPUs without VNNI (auto: on when "
              "this CPU lacks VNNI; an artifact made with 'disable' is only exact on VNNI CPUs).")
@click.option("--range-estimator", type=click.Choice(["minmax", "mean_minmax"]), default="minmax", show_default=True,
              help="How calibration sets activation ranges: minmax spans all it saw; mean_minmax (NNCF's "
              "default) averages per-patch extremes and clips bright pixels.")
@click.option("--placement", type=click.Choice(["arch", "ptq"]), default="arch", show_default=True,
              help="Where quantizers go: the architecture's float scopes, or the placement NNCF's OpenVINO "
              "backend gives PTQ (an IR as fast as PTQ's; IMDN: CCA inputs quantized, concat inputs shared).")
@click.option("--equalize", type=float, default=0.0, show_default=True,
              help="Before calibration, rescale the channels that will share one quantizer towards a common "
              "range (same FP32 function; 1: fully, 0.5: the geometric middle; IMDN with --placement ptq); 0: off.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
@click.option("--no-export", is_flag=True, help="Train only; skip the OpenVINO/ONNX export.")
@click.option("--force", is_flag=True, help="Replace --out/export if it exists.")
def command(model: str, qat: bool, sensitivity: bool, out: Path, scale: int | None, data: tuple[Path, ...],
            iterations: int, batch_size: int, patch_size: int, lr: float, scale_lr: float, calib_count: int,
            seed: int, checkpoint_every: int, calibrated_input_range: bool, keep_float: int, speed_budget: float,
            keep_float_from: Path | None, overflow_fix: str, range_estimator: str, placement: str,
            equalize: float, resume: bool, no_export: bool, force: bool) -> None:
    """INT8 QAT of MODEL (a checkpoint or zoo name); writes --out and --out/export (manifest.json)."""
    import torch

    from ..compress.qat import QATOptions, run_qat
    from ..errors import UserInputError
    from ..models.load import load_model

    if not (qat or sensitivity):
        raise UserInputError("quantize: pass --qat (train) or --sensitivity (analyse)")
    if keep_float < 0:
        raise UserInputError(f"--keep-float must be >= 0, got {keep_float}")
    if keep_float and keep_float_from is not None:
        raise UserInputError("pass --keep-float K or --keep-float-from FILE, not both")
    if not 0 <= speed_budget <= 1:
        raise UserInputError(f"--speed-budget must be a fraction in [0, 1] (e.g. 0.9), got {speed_budget}")
    opts = QATOptions(iterations=iterations, batch_size=batch_size, patch_size=patch_size, lr=lr,
                      scale_lr=scale_lr, seed=seed, calib_count=calib_count, checkpoint_every=checkpoint_every,
                      data=[str(d) for d in data], fixed_input_range=not calibrated_input_range,
                      overflow_fix=overflow_fix, range_estimator=range_estimator, placement=placement,
                      equalize=equalize)
    opts.check()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    desc = load_model(model, scale)
    if keep_float_from is not None:
        opts.keep_float = _names_from(keep_float_from)
    if sensitivity or keep_float:
        chosen = _keep_float(desc, opts, out, keep_float, speed_budget)
        if not qat:
            return
        if keep_float:
            opts.keep_float = chosen
    res = run_qat(desc, out, opts, resume=resume)
    click.echo(f"qat: {res.iterations_done} iterations in {res.train_time_s:.0f} s, last L1 {res.last_loss}")
    if no_export or not res.completed:
        return
    from ..compress.qat_export import export_qat

    prov = {"method": "qat", "tool": "nncf", "iterations": res.iterations_done, "lr": lr, "scale_lr": scale_lr,
            "batch_size": batch_size, "patch_size": patch_size, "data": opts.data or "default_images",
            "labels": "fp32 model outputs (L1)", "fixed_input_range": opts.fixed_input_range,
            "keep_float": opts.keep_float, "seed": seed, "overflow_fix": overflow_fix,
            "range_estimator": range_estimator, "placement": placement, "equalize": equalize,
            "weights": "7-bit in the INT8 grid" if opts.half_range_weights() else "8-bit"}
    if speed_budget and keep_float:
        prov["speed_budget"] = speed_budget
    if keep_float_from is not None:
        prov["keep_float_from"] = str(keep_float_from)
    manifest = export_qat(res.model, desc, out / "export", prov, force=True)
    for a in manifest.artifacts:
        click.echo(f"  {a.name:<14} {a.path:<26} vs fake-quant {a.settings['vs_fake_quant_psnr_db']} dB")
    click.echo(f"exported to {out / 'export'} (sr-compress validate {out / 'export'} --data ...)")


def _keep_float(desc: Any, opts: Any, out: Path, k: int, budget: float) -> list[str]:
    """The sensitivity table (written and printed), then the quantizers to leave in float."""
    from ..compress.qat import wrap_for
    from ..compress.qat_sensitivity import format_table, sensitivity_table
    from ..compress.qat_speed import choose_within_budget, format_trace

    rows = sensitivity_table(desc, opts)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sensitivity.json").write_text(json.dumps(rows, indent=2) + "\n")
    click.echo(format_table(rows))
    top = [r["quantizer"] for r in rows[:k] if r["gain_db"] > 0]
    if not (budget and top):
        return top
    kept, trace = choose_within_budget(wrap_for(desc, opts, desc.model.eval()), top, budget)
    (out / "keep_float.json").write_text(json.dumps({"budget": budget, "kept": kept, "tries": trace}, indent=2) + "\n")
    click.echo(format_trace(trace, budget))
    return kept


def _names_from(path: Path) -> list[str]:
    """Quantizer names from a run's keep_float.json (``kept``) or qat_options.json (``keep_float``)."""
    from ..errors import UserInputError

    if not path.is_file():
        raise UserInputError(f"--keep-float-from {path}: no such file (pass a QAT run's keep_float.json)")
    try:
        obj = json.loads(path.read_text())
        names = obj["kept"] if "kept" in obj else obj["keep_float"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserInputError(f"--keep-float-from {path}: not a keep_float.json or qat_options.json of a QAT run") from None
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise UserInputError(f"--keep-float-from {path}: its quantizer list is not a list of names")
    return names
