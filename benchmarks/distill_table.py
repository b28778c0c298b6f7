"""Mini DUKD results table: scratch vs kd vs dukd at one iteration budget and seed.

Teacher RLFN x4 (real NTIRE 2022 checkpoint), student ``edsr:c20b4`` (4.6x fewer MACs, 8.7x fewer
params), training data T91, evaluation Set5/Set14 x4 (PSNR/SSIM on Y, border 4). Every method
uses the same recipe family (``configs/distill/<method>_x4.yaml``) with the CPU-budget overrides
below, so the runs differ only by the method.

    flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/distill_table.py

Writes the ``distill_table`` section of benchmarks/RESULTS.md and benchmarks/results/distill_table.json
(the ``kd`` row is reused by benchmarks/datafree_table.py as "student trained with data").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import machine_line, md_table, update_section  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TEACHER = DATA / "weights" / "RLFN" / "rlfn_x4.pth"
STUDENT = "edsr:c20b4"
METHODS = ("scratch", "kd", "dukd")


_BENCH: dict[str, Any] = {}


def _evaluate(model: Any) -> dict[str, dict[str, float]]:
    """Full Set5/Set14 x4, standard protocol; ``model`` is a ModelDescriptor or "bicubic"."""
    from sr_compress.data.datasets import load_benchmark
    from sr_compress.evaluate.sr_eval import evaluate_model

    out = {}
    for name in ("Set5", "Set14"):
        if name not in _BENCH:
            _BENCH[name] = load_benchmark(DATA / "benchmarks" / name, 4)
        r = evaluate_model(model, _BENCH[name], 4, progress=False)
        out[name] = {"psnr": r["psnr"], "ssim": r["ssim"]}
    return out


def _run_method(method: str, args: argparse.Namespace) -> dict[str, Any]:
    from sr_compress.compress.engine import load_distill_config, run_distillation

    overrides: dict[str, Any] = {
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
    cfg = load_distill_config(ROOT / "configs" / "distill" / f"{method}_x4.yaml", overrides)
    out = args.out / method
    if out.exists():
        import shutil

        shutil.rmtree(out)
    t0 = time.perf_counter()
    res = run_distillation(cfg, out, progress=True)
    wall = time.perf_counter() - t0
    rep = json.loads((out / "report.json").read_text())
    final = _evaluate(res.student)
    rep["metrics"]["final"] = {"student": final}
    (out / "report.json").write_text(json.dumps(rep, indent=2, default=str))
    print(f"{method}: " + "  ".join(f"{n} {r['psnr']:.2f}/{r['ssim']:.4f}" for n, r in final.items())
          + f"  (train {res.metrics['train_time_s']:.0f} s)", flush=True)
    return {"method": method, "wall_s": round(wall, 1), "train_s": res.metrics["train_time_s"],
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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    runs = [_run_method(m, args) for m in args.methods.split(",")]

    from sr_compress.models.load import load_model

    teacher_desc = load_model(args.teacher, 4)
    baselines = {"bicubic": _evaluate("bicubic"), "teacher": _evaluate(teacher_desc)}
    total = time.perf_counter() - t_all
    sets = list(baselines["bicubic"].keys())
    teacher_info = {"arch": teacher_desc.arch, "params": teacher_desc.params,
                    "macs": runs[0]["student"]["macs"] and teacher_desc.macs(720 // 4, 1280 // 4)}
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
    table = md_table(headers, rows)
    ratio = teacher_info["macs"] / runs[0]["student"]["macs"]
    budget = (f"{args.iterations} iterations x batch {args.batch_size} x LR patch {args.patch_size} "
              f"(HR {args.patch_size * 4}), Adam lr {args.lr:g} cosine, EMA {args.ema or 'off'}, seed {args.seed}")
    print(table)
    print(f"budget: {budget}; total wall time {total:.0f} s")
    if args.no_write:
        return
    md = "\n".join([
        "## DUKD mini table (x4): scratch vs kd vs dukd",
        "",
        f"Teacher `{args.teacher.name}` (RLFN, real checkpoint), student `{args.student}` "
        f"({ratio:.1f}x fewer MACs than the teacher), trained on T91 HR; evaluated on full Set5/Set14 "
        "images, Y channel, border 4, SR rounded to uint8. Same recipe, iteration budget and seed for the "
        "three methods.",
        "",
        f"**Budget: {budget}** — roughly 1/2000 of the paper's training (DIV2K, batch 16, patch 48, "
        "hundreds of thousands of iterations), sized so that the three runs fit in ~12 minutes on a "
        "shared 2-core CPU. The numbers show what each method does in a very short CPU budget, not "
        "the paper's converged gains. DUKD makes two optimiser steps per iteration (its definition), "
        "so at equal iterations it also gets twice the student updates.",
        "",
        table,
        "",
        f"Total wall time {total:.0f} s ({machine_line()}). Command: "
        "`flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/distill_table.py`",
    ])
    update_section("distill_table", md, {
        "budget": budget, "iterations": args.iterations, "batch_size": args.batch_size,
        "patch_size": args.patch_size, "lr": args.lr, "ema": args.ema, "seed": args.seed,
        "teacher": str(args.teacher), "student": args.student, "data": str(args.data),
        "rows": data_rows, "total_wall_s": round(total, 1), "machine": machine_line(),
    })


if __name__ == "__main__":
    main()
