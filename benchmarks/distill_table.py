"""Mini DUKD results table: scratch vs kd vs dukd at one iteration budget and seed.

Teacher RLFN x4 (real NTIRE 2022 checkpoint), student ``edsr:c20b4`` (4.6x fewer MACs, 8.7x fewer
params), training data T91, evaluation Set5/Set14 x4 (PSNR/SSIM on Y, border 4). Every method
uses the same recipe family (``configs/distill/<method>_x4.yaml``) with the CPU-budget overrides
below, so the runs differ only by the method.

    flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/distill_table.py

Writes the ``distill_table`` section of benchmarks/RESULTS.md and benchmarks/results/distill_table.json
(the ``kd`` row is reused by benchmarks/datafree_table.py as "student trained with data").

GPU (longer budget, recorded beside the CPU rows; T91 at x4 keeps 84 of 91 images at LR patch 32
but only 40 at 48, hence 32)::

    python benchmarks/distill_table.py --section distill_table_gpu --batch-size 16 --patch-size 32 \
        --fit-seconds 140 --num-workers 6 --data-root DIR --json-out OUT.json
    python benchmarks/distill_table.py --apply-json OUT.json   # back on the dev machine

``--fit-seconds S`` times a short dukd probe and sets the iteration count so that one dukd run
trains for about S seconds (the same count is then used for every method).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from _results import machine_line, md_table, update_section

ROOT = Path(__file__).resolve().parents[1]


DATA = Path(os.environ.get("SR_COMPRESS_SHARED_DATA") or ROOT.parent / "shared" / "data")
TEACHER = DATA / "weights" / "RLFN" / "rlfn_x4.pth"
# edsr:c32b4 is only 1.8x cheaper than RLFN x4 (16.2 vs 29.8 GMACs at 720p out); c20b4 is 4.6x
STUDENT = "edsr:c20b4"
MIN_MACS_RATIO = 4.0
METHODS = ("scratch", "kd", "dukd")


_BENCH: dict[str, Any] = {}
_EVAL = {"data": DATA, "device": "cpu"}


def _evaluate(model: Any) -> dict[str, dict[str, float]]:
    """Full Set5/Set14 x4, standard protocol; ``model`` is a ModelDescriptor or "bicubic"."""
    from sr_compress.data.datasets import load_benchmark
    from sr_compress.evaluate.sr_eval import evaluate_model, torch_upscale_fn

    fn = model if isinstance(model, str) else torch_upscale_fn(model, device=str(_EVAL["device"]))
    out = {}
    for name in ("Set5", "Set14"):
        if name not in _BENCH:
            _BENCH[name] = load_benchmark(Path(_EVAL["data"]) / "benchmarks" / name, 4)
        r = evaluate_model(fn, _BENCH[name], 4, progress=False)
        out[name] = {"psnr": r["psnr"], "ssim": r["ssim"]}
    return out


def _run_method(method: str, args: argparse.Namespace, probe: bool = False,
                label: str | None = None) -> dict[str, Any]:
    from sr_compress.compress.engine import load_distill_config, run_distillation

    overrides: dict[str, Any] = {
        "data.num_workers": args.num_workers,
        "train.mixed_precision": args.mixed_precision,
        "student": args.student,
        "data.path": [str(args.data)],
        "data.val": [],  # evaluated once below (teacher and bicubic only once, not per run)
        "data.batch_size": args.batch_size,
        "data.patch_size": args.patch_size,
        "train.iterations": args.iterations,
        "train.lr": args.lr,
        "train.ema_decay": args.ema,
        "train.seed": args.seed,
        "train.checkpoint_every": args.iterations,
        "train.val_every": args.iterations,
        "train.log_every": max(1, args.iterations // 50),
    }
    if method != "scratch":
        overrides["teacher"] = str(args.teacher)
    if method == "dukd":
        for item in args.dukd_set:  # e.g. dukd.official_inverse_order=true (ablations)
            key, _, value = item.partition("=")
            overrides[key if key.startswith("dukd.") else f"dukd.{key}"] = yaml.safe_load(value)
    cfg = load_distill_config(ROOT / "configs" / "distill" / f"{method}_x4.yaml", overrides)
    label = label or method
    out = args.out / (f"{label}_probe" if probe else label)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    t0 = time.perf_counter()
    res = run_distillation(cfg, out, progress=args.progress)
    wall = time.perf_counter() - t0
    if probe:
        return {"train_s": res.metrics["train_time_s"], "wall_s": wall}
    rep = json.loads((out / "report.json").read_text())
    final = _evaluate(res.student)
    rep["metrics"]["final"] = {"student": final}
    (out / "report.json").write_text(json.dumps(rep, indent=2, default=str))
    print(f"{label}: " + "  ".join(f"{n} {r['psnr']:.2f}/{r['ssim']:.4f}" for n, r in final.items())
          + f"  (train {res.metrics['train_time_s']:.0f} s)", flush=True)
    return {"method": label, "iterations": args.iterations, "wall_s": round(wall, 1),
            "train_s": res.metrics["train_time_s"],
            "final": {"student": final}, "student": rep["student"], "teacher": rep["teacher"],
            "run_dir": str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out),
            "config": rep["config"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", type=Path, default=TEACHER)
    ap.add_argument("--student", default=STUDENT)
    ap.add_argument("--data", type=Path, default=DATA / "train" / "T91" / "HR")
    ap.add_argument("--iterations", type=int, default=360)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--patch-size", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "distill_table")
    ap.add_argument("--no-write", action="store_true", help="print only (probe runs)")
    ap.add_argument("--data-root", type=Path, default=DATA,
                    help="shared data root (train/T91/HR, benchmarks/Set5|Set14, weights/RLFN)")
    ap.add_argument("--section", default="distill_table", help="RESULTS.md section / results JSON name")
    ap.add_argument("--num-workers", type=int, default=0)
    ap.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    ap.add_argument("--fit-seconds", type=float, default=None,
                    help="time a dukd probe and size --iterations so one dukd run trains ~this long")
    ap.add_argument("--probe-iterations", type=int, default=100)
    ap.add_argument("--json-out", type=Path, default=None, help="also write the section (markdown + data) here")
    ap.add_argument("--apply-json", type=Path, default=None,
                    help="write a section produced elsewhere (--json-out) into RESULTS.md and exit")
    ap.add_argument("--progress", action="store_true", help="show training progress bars")
    ap.add_argument("--title", default=None, help="section heading (default: from the section kind)")
    ap.add_argument("--note", default=None, help="sentence after the budget (default: from the section kind)")
    ap.add_argument("--dukd-set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a dukd option for the dukd row, e.g. official_inverse_order=true")
    ap.add_argument("--kd-equal-updates", action="store_true",
                    help="add a kd row with 2x iterations (as many optimiser steps as dukd)")
    args = ap.parse_args()
    if args.apply_json is not None:
        blob = json.loads(args.apply_json.read_text())
        update_section(blob["section"], blob["markdown"], blob["data"])
        print(f"wrote section {blob['section']} of benchmarks/RESULTS.md")
        return
    if args.data_root != DATA:
        if args.teacher == TEACHER:
            args.teacher = args.data_root / "weights" / "RLFN" / "rlfn_x4.pth"
        if args.data == DATA / "train" / "T91" / "HR":
            args.data = args.data_root / "train" / "T91" / "HR"
    _EVAL["data"] = args.data_root
    _EVAL["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    probe_info = None
    if args.fit_seconds:
        # the slowest method (two optimiser steps + upcycled forwards) decides the common budget;
        # the probe's first iterations include warm-up, so the estimate errs on the short side
        pr = _run_method("dukd", argparse.Namespace(**{**vars(args), "iterations": args.probe_iterations}),
                         probe=True)
        per_it = pr["train_s"] / args.probe_iterations
        args.iterations = max(100, int(args.fit_seconds / per_it) // 100 * 100)
        probe_info = {"probe_iterations": args.probe_iterations, "dukd_s_per_it": round(per_it, 4)}
        print(f"probe: dukd {per_it * 1000:.1f} ms/it -> {args.iterations} iterations", flush=True)
    runs = [_run_method(m, args) for m in args.methods.split(",")]
    control = None
    if args.kd_equal_updates:
        # DUKD makes two optimiser steps per iteration: kd with twice the iterations gets the same
        # number of student updates (and sees twice the real pairs), separating "more updates" from
        # "upcycled data"
        ns = argparse.Namespace(**{**vars(args), "iterations": 2 * args.iterations})
        control = _run_method("kd", ns, label="kd_2x")

    from sr_compress.models.load import load_model

    teacher_desc = load_model(args.teacher, 4)
    baselines = {"bicubic": _evaluate("bicubic"), "teacher": _evaluate(teacher_desc)}
    total = time.perf_counter() - t_all
    sets = list(baselines["bicubic"].keys())
    teacher_info = {"arch": teacher_desc.arch, "params": teacher_desc.params,
                    "macs": teacher_desc.macs(720 // 4, 1280 // 4)}
    headers = ["model"] + [f"{s} PSNR / SSIM" for s in sets] + ["params", "GMACs (720p out)", "train wall s"]
    rows: list[list[Any]] = []
    data_rows: list[dict[str, Any]] = []

    def cells(final: dict[str, dict[str, float]]) -> list[str]:
        return [f"{final[s]['psnr']:.2f} / {final[s]['ssim']:.4f}" for s in sets]

    rows.append(["bicubic", *cells(baselines["bicubic"]), "-", "-", "-"])
    data_rows.append({"model": "bicubic", **baselines["bicubic"]})
    rows.append([f"teacher ({teacher_info['arch']}, {args.teacher.name})", *cells(baselines["teacher"]),
                 f"{teacher_info['params']:,}", f"{teacher_info['macs'] / 1e9:.2f}", "-"])
    data_rows.append({"model": "teacher", "params": teacher_info["params"], "macs": teacher_info["macs"],
                      **baselines["teacher"]})
    for r in runs:
        st = r["student"]
        rows.append([f"student {args.student} — {r['method']}", *cells(r["final"]["student"]), f"{st['params']:,}",
                     f"{st['macs'] / 1e9:.2f}", f"{r['train_s']:.0f}"])
        data_rows.append({"model": r["method"], "params": st["params"], "macs": st["macs"],
                          "train_time_s": r["train_s"], "wall_s": r["wall_s"], "run_dir": r["run_dir"],
                          "student_path": str(Path(r["run_dir"]) / "student.pth"),
                          **{s: r["final"]["student"][s] for s in sets}})
    if control is not None:
        st = control["student"]
        rows.append([f"student {args.student} — kd, {control['iterations']} iterations (= dukd's optimiser steps)",
                     *cells(control["final"]["student"]), f"{st['params']:,}", f"{st['macs'] / 1e9:.2f}",
                     f"{control['train_s']:.0f}"])
        data_rows.append({"model": "kd_2x", "iterations": control["iterations"], "params": st["params"],
                          "macs": st["macs"], "train_time_s": control["train_s"], "wall_s": control["wall_s"],
                          "run_dir": control["run_dir"], **{s: control["final"]["student"][s] for s in sets}})
    table = md_table(headers, rows)
    ratio = teacher_info["macs"] / runs[0]["student"]["macs"]
    if ratio < MIN_MACS_RATIO:
        print(f"WARNING: student only {ratio:.1f}x cheaper than the teacher (goal >= {MIN_MACS_RATIO}x)")
    budget = (f"{args.iterations} iterations x batch {args.batch_size} x LR patch {args.patch_size} "
              f"(HR {args.patch_size * 4}), Adam lr {args.lr:g} cosine, EMA {args.ema or 'off'}, seed {args.seed}"
              + (f", {args.mixed_precision}" if args.mixed_precision != "no" else ""))
    if args.dukd_set:
        budget += "; dukd options " + ", ".join(args.dukd_set)
    verdict = _ordering(runs, sets)
    print(table)
    print(f"budget: {budget}; total wall time {total:.0f} s; {verdict}")
    if args.no_write:
        return
    gpu = _EVAL["device"] == "cuda"
    where = (f"GPU ({torch.cuda.get_device_name(0)}), {args.num_workers} data workers" if gpu
             else machine_line())
    budget_note = (
        f"**Budget: {budget}** — a longer run of the same comparison on a GPU"
        + (f" (iterations sized by a {probe_info['probe_iterations']}-iteration dukd probe to ~"
           f"{args.fit_seconds:.0f} s of dukd training)" if probe_info else "")
        + ". Still a small fraction of the paper's budget (DIV2K, batch 16, LR patch 48, hundreds of "
        "thousands of iterations); T91 at x4 keeps 84 of its 91 images at LR patch 32 but only 40 at 48."
        if gpu else
        f"**Budget: {budget}** — roughly 1/2000 of the paper's training (DIV2K, batch 16, patch 48, "
        "hundreds of thousands of iterations), sized so that the three runs fit in a few minutes each on "
        "a shared 2-core CPU. The numbers show what each method does in a very short CPU budget, not "
        "the paper's converged gains."
    )
    if args.section != "distill_table" and not gpu:
        budget_note = (f"**Budget: {budget}** — a longer CPU run of the same comparison (no GPU was lent "
                       "to this project's session)"
                       + (f", iterations sized by a {probe_info['probe_iterations']}-iteration dukd probe to "
                          f"~{args.fit_seconds:.0f} s of dukd training" if probe_info else "") + ".")
    if args.dukd_set and not gpu:
        budget_note = (f"**Budget: {budget}** — an ablation of the dukd row at the budget of the mini "
                       "table above (same seed, data order and recipe; only the listed dukd options differ).")
    title = (f"## DUKD ablation (x4): {', '.join(args.dukd_set)}" if args.dukd_set
             else "## DUKD table (x4), longer GPU budget: scratch vs kd vs dukd" if gpu
             else "## DUKD mini table (x4): scratch vs kd vs dukd" if args.section == "distill_table"
             else "## DUKD table (x4), longer CPU budget: scratch vs kd vs dukd")
    if args.title:
        title = f"## {args.title}"
    if args.note:
        budget_note = f"**Budget: {budget}** — {args.note}"
    cmd = "python benchmarks/distill_table.py " + " ".join(
        f"'{a}'" if " " in a else a for a in sys.argv[1:])
    if not gpu:
        cmd = "flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/" + cmd
    md = "\n".join([
        title,
        "",
        f"Teacher `{args.teacher.name}` (RLFN, real checkpoint), student `{args.student}` "
        f"({ratio:.1f}x fewer MACs than the teacher), trained on T91 HR; evaluated on full Set5/Set14 "
        "images, Y channel, border 4, SR rounded to uint8. Same recipe, iteration budget and seed for the "
        "three methods.",
        "",
        budget_note + " DUKD makes two optimiser steps per iteration (its definition), so at equal "
        "iterations it also gets twice the student updates. Training data loading and the final "
        "evaluation are excluded from 'train wall s'.",
        "",
        table,
        "",
        f"Ordering: {verdict}." + (" " + _control_line(control, runs, sets) if control else "")
        + " See docs/methods/dukd.md for the discussion.",
        "",
        f"Total wall time {total:.0f} s ({where}). Command: `{cmd}`",
    ])
    data = {
        "budget": budget, "iterations": args.iterations, "batch_size": args.batch_size,
        "patch_size": args.patch_size, "lr": args.lr, "ema": args.ema, "seed": args.seed,
        "teacher": str(args.teacher), "student": args.student, "data": str(args.data),
        "rows": data_rows, "total_wall_s": round(total, 1), "machine": where, "probe": probe_info,
        "num_workers": args.num_workers, "mixed_precision": args.mixed_precision, "ordering": verdict,
    }
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"section": args.section, "markdown": md, "data": data},
                                            indent=2, default=str))
    update_section(args.section, md, data)


def _control_line(control: dict[str, Any], runs: list[dict[str, Any]], sets: list[str]) -> str:
    """dukd vs kd at equal optimiser steps, in PSNR."""
    dukd = next((r for r in runs if r["method"] == "dukd"), None)
    if dukd is None:
        return ""
    diffs = [f"{s} {dukd['final']['student'][s]['psnr'] - control['final']['student'][s]['psnr']:+.2f} dB"
             for s in sets]
    return (f"At equal optimiser steps (kd for {control['iterations']} iterations) dukd − kd = "
            + ", ".join(diffs) + ".")


def _ordering(runs: list[dict[str, Any]], sets: list[str]) -> str:
    """'dukd > kd > scratch on Set5 and Set14' or what was measured instead."""
    psnr = {r["method"]: r["final"]["student"] for r in runs}
    parts = []
    for s in sets:
        order = sorted(psnr, key=lambda m: -psnr[m][s]["psnr"])
        parts.append(f"{s}: " + " > ".join(f"{m} ({psnr[m][s]['psnr']:.2f})" for m in order))
    expected = ["dukd", "kd", "scratch"]
    met = all(sorted(psnr, key=lambda m: -psnr[m][s]["psnr"]) == expected for s in sets) \
        if set(psnr) == set(expected) else None
    tag = {True: "expected ordering dukd > kd > scratch met", False: "expected ordering dukd > kd > scratch "
           "NOT met", None: "partial run"}[met]
    return f"{tag} — " + "; ".join(parts)


if __name__ == "__main__":
    main()
