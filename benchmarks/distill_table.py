"""DUKD table, x4: scratch vs kd vs dukd over seeds, at equal iterations, equal optimiser steps and
equal wall-clock, with the discrimination check kd vs scratch.

Teacher RLFN x4 (real NTIRE 2022 checkpoint); student ``edsr:c20b4`` (4.6x fewer MACs), or with
``--init FILE`` a teacher-initialised / pruned network (``student: init``; e.g. the pruned RLFN
of benchmarks/recovery_table.py), which a CPU budget can actually tell apart. Training data T91,
evaluation Set5/Set14 x4 (Y BT.601, border 4, uint8). Every method uses its recipe
``configs/distill/<method>_x4.yaml`` with the budget overrides below.

Rows per seed (``--seeds N``: train.seed re-draws data order, crops, augmentation, init and
DUKD's tile/op draws): scratch, kd, dukd at ``--iterations``; controls kd and scratch at 2x
iterations (kd's = dukd's optimiser steps: DUKD makes two per iteration); equal wall-clock: kd and
scratch at the iterations that fit dukd's mean training time (s/iteration measured in this run).
Each row: per-seed PSNR, mean ± std, paired difference to kd and whether it exceeds 2 std.

    nice -n 15 python benchmarks/distill_table.py --seeds 3
    nice -n 15 python benchmarks/distill_table.py --smoke          # seconds, prints only

GPU: ``--json-out OUT.json`` there, ``--apply-json OUT.json`` back here. Finished runs are cached
in ``--out`` (``<run>/row.json``); a folder made with other settings is refused (``--overwrite``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import yaml
from _common import (
    REPO,
    add_run_args,
    benchmark_set,
    command_line,
    machine_line,
    md_table,
    shared,
    start,
)
from _results import update_section
from _tables import by_key, mean_std, open_cache, paired, seed_overrides, seed_table

STUDENT = "edsr:c20b4"
METHODS = ("scratch", "kd", "dukd")
STEPS_PER_ITER = {"dukd": 2}  # student optimiser steps per iteration
_DEVICE = {"name": "cpu"}


def evaluate(model: Any, sets: list[str]) -> dict[str, float]:
    """Full images, standard protocol; ``model`` is a ModelDescriptor or "bicubic"."""
    from sr_compress.evaluate.sr_eval import evaluate_model, torch_upscale_fn

    fn = model if isinstance(model, str) else torch_upscale_fn(model, device=_DEVICE["name"])
    return {s: round(float(evaluate_model(fn, benchmark_set(s, 4), 4, progress=False)["psnr"]), 4) for s in sets}


def settings(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("student", "init", "batch_size", "patch_size", "lr", "ema", "mixed_precision", "dukd_set")
    return {k: str(getattr(args, k)) if isinstance(getattr(args, k), Path) else getattr(args, k) for k in keys} \
        | {"teacher": str(args.teacher), "data": str(args.data)}


def overrides(args: argparse.Namespace, method: str, iterations: int, seed: int) -> dict[str, Any]:
    over: dict[str, Any] = {
        "data.num_workers": args.num_workers, "train.mixed_precision": args.mixed_precision,
        "student": "init" if args.init else args.student, "data.path": [str(args.data)], "data.val": [],
        "data.batch_size": args.batch_size, "data.patch_size": args.patch_size, "train.iterations": iterations,
        "train.lr": args.lr, "train.ema_decay": args.ema, "train.checkpoint_every": iterations,
        "train.val_every": 10**9, "train.log_every": max(1, iterations // 20), **seed_overrides(seed, method),
    }
    if args.init:
        over["init"] = str(args.init)
    if method != "scratch":
        over["teacher"] = str(args.teacher)
    if method == "dukd":
        for item in args.dukd_set:  # e.g. zoom_out=false (RLFN-like students need >= 15 px inputs)
            key, _, value = item.partition("=")
            over[key if key.startswith("dukd.") else f"dukd.{key}"] = yaml.safe_load(value)
    return over


def run(args: argparse.Namespace, label: str, method: str, iterations: int, seed: int) -> dict[str, Any]:
    """One training run + evaluation, cached in ``<out>/<label>[_s<seed>]/row.json``."""
    from sr_compress.compress.checkpoint import latest_checkpoint
    from sr_compress.compress.engine import load_distill_config, run_distillation

    out = args.out / (label if seed == args.seed else f"{label}_s{seed}")
    if (out / "row.json").is_file():
        return json.loads((out / "row.json").read_text())
    cfg = load_distill_config(REPO / "configs" / "distill" / f"{method}_x4.yaml",
                              overrides(args, method, iterations, seed))
    resume = out.is_dir() and latest_checkpoint(out / "checkpoints") is not None
    c0, w0 = time.process_time(), time.perf_counter()
    res = run_distillation(cfg, out, resume=resume, progress=args.progress)
    cpu = time.process_time() - c0
    row = {"label": label, "method": method, "iterations": iterations, "seed": seed,
           "steps": iterations * STEPS_PER_ITER.get(method, 1), "train_s": float(res.metrics["train_time_s"]),
           "wall_s": round(time.perf_counter() - w0, 1), "cpu_s": round(cpu, 1),
           "student": {"arch": res.student.arch, "params": res.student.params,
                       "macs": res.student.macs(720 // 4, 1280 // 4)},
           **evaluate(res.student, args.sets)}
    (out / "row.json").write_text(json.dumps(row, indent=1))
    print(f"{label} seed {seed}: " + "  ".join(f"{s} {row[s]:.3f}" for s in args.sets)
          + f"  ({iterations} it, train {row['train_s']:.0f} s)", flush=True)
    return row


def plan_rows(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(label, method, iterations) of the equal-iteration rows and the step controls."""
    n = args.iterations
    rows = [(m, m, n) for m in args.methods]
    if args.controls and "kd" in args.methods:
        rows.append(("kd_2x", "kd", 2 * n))  # = dukd's optimiser steps
    if args.controls and "scratch" in args.methods:
        rows.append(("scratch_2x", "scratch", 2 * n))
    return rows


def wall_rows(args: argparse.Namespace, done: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """kd and scratch at the iterations that fit dukd's mean training time at ``--iterations``."""
    base = [r for r in done if r["label"] == "dukd"]
    if not args.equal_wall or not base:
        return []
    wall = mean_std([r["train_s"] for r in base])[0]
    out = []
    for m in ("kd", "scratch"):
        mine = [r for r in done if r["label"] == m]
        if mine:
            per_it = mean_std([r["train_s"] / r["iterations"] for r in mine])[0]
            out.append((f"{m}_wall", m, max(1, int(wall / per_it))))
    return out


def collect(args: argparse.Namespace, budget: Any) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    for plan in (lambda: plan_rows(args), lambda: wall_rows(args, done)):
        for label, method, iters in plan():
            for seed in args.seed_list:
                if budget.spent():
                    print(f"budget spent: {label} seed {seed} not run", flush=True)
                    continue
                done.append(run(args, label, method, iters, seed))
    return done


TITLES = {
    "scratch": "scratch", "kd": "kd", "dukd": "dukd",
    "kd_2x": "kd, 2x iterations (= dukd's optimiser steps)", "scratch_2x": "scratch, 2x iterations",
    "kd_wall": "kd at dukd's wall-clock", "scratch_wall": "scratch at dukd's wall-clock",
}


def table(args: argparse.Namespace, done: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for label in TITLES:
        mine = [r for r in done if r["label"] == label]
        if not mine:
            continue
        rows.append({"row": TITLES[label], "label": label, "per_seed": {r["seed"]: {s: r[s] for s in args.sets}
                                                                         for r in mine},
                     "iterations": mine[0]["iterations"], "optimiser steps": mine[0]["steps"],
                     "train s/run": f"{mean_std([r['train_s'] for r in mine])[0]:.0f}",
                     "CPU-min/run": f"{mean_std([r['cpu_s'] for r in mine])[0] / 60:.1f}"})
    headers, cells = seed_table(rows, args.sets, "kd", extra=["iterations", "optimiser steps", "train s/run",
                                                               "CPU-min/run"])
    return md_table(headers, cells), rows


def check_line(rows: list[dict[str, Any]], sets: list[str]) -> str:
    """The discrimination check: kd vs scratch at equal iterations, > 2 std of the paired differences."""
    try:
        kd, sc = by_key(rows, "kd"), by_key(rows, "scratch")
    except KeyError:
        return "**Discrimination check**: not run (needs the kd and scratch rows)."
    parts, ok = [], True
    for s in sets:
        p = paired({k: v[s] for k, v in kd["per_seed"].items()}, {k: v[s] for k, v in sc["per_seed"].items()})
        ok = ok and bool(p.separated)
        parts.append(f"{s} {p.text()}")
    verdict = ("passed: kd > scratch by more than 2 std, this budget can rank methods" if ok else
               "NOT passed: kd and scratch are not told apart by > 2 std at this budget, so the other rows "
               "cannot be ranked either")
    return f"**Discrimination check** (kd − scratch, paired over seeds; {verdict}): " + "; ".join(parts) + "."


def render(args: argparse.Namespace, done: list[dict[str, Any]], base: dict[str, dict[str, float]],
           total_s: float) -> tuple[str, dict[str, Any]]:
    tbl, rows = table(args, done)
    student = (f"`{args.init.name}` (`student: init`: teacher-initialised / pruned)" if args.init
               else f"`{args.student}` (random init)")
    st = done[0]["student"] if done else {}
    cpu_min = sum(r["cpu_s"] for r in done) / 60
    budget = (f"{args.iterations} iterations x batch {args.batch_size} x LR patch {args.patch_size}, Adam lr "
              f"{args.lr:g} cosine, EMA {args.ema or 'off'}, seeds {', '.join(map(str, args.seed_list))}"
              + (f"; dukd options {', '.join(args.dukd_set)}" if args.dukd_set else ""))
    md = "\n".join([
        f"## {args.title}",
        "",
        f"Teacher `{args.teacher.name}` (RLFN x4, Set5 {base['teacher']['Set5']:.2f} dB), student {student}"
        + (f", {st['params']:,} params, {st['macs'] / 1e9:.2f} GMACs at 720p out" if st else "")
        + f"; bicubic Set5 {base['bicubic']['Set5']:.2f} dB. Trained on T91 HR; evaluated on "
        f"{', '.join(args.sets)} x4, all images, Y BT.601, border 4, uint8. **Budget: {budget}.** train.seed "
        "re-draws every RNG of a run (data order, crops, augmentation, init, DUKD's draws). DUKD makes two "
        "optimiser steps per iteration, hence the 2x controls; the wall-clock rows get the iterations that fit "
        "dukd's mean training time, from s/iteration measured in this run on a shared machine (noisy).",
        "",
        check_line(rows, args.sets),
        "",
        tbl,
        "",
        "'Δ vs kd (paired)': mean ± std over seeds of (row − kd) with the same seed; '> 2 std' compares it with "
        "the spread of those paired differences. A budget of minutes on a CPU: what each objective does in a "
        "short run, not the paper's converged gains.",
        "",
        f"Total {total_s / 60:.1f} min wall, {cpu_min:.1f} CPU-min of training ({machine_line()}). "
        f"Command: `{command_line('distill_table.py')}`",
    ])
    data = {"settings": settings(args), "iterations": args.iterations, "seeds": args.seed_list, "runs": done,
            "rows": rows, "baselines": base, "cpu_min": round(cpu_min, 1)}
    return md, data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", type=Path, default=shared("weights", "RLFN", "rlfn_x4.pth"))
    ap.add_argument("--student", default=STUDENT)
    ap.add_argument("--init", type=Path, default=None, help="start the student from this checkpoint (pruned / "
                    "teacher-initialised); --student is then ignored")
    ap.add_argument("--data", type=Path, default=shared("train", "T91", "HR"))
    ap.add_argument("--iterations", type=int, default=360)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--patch-size", type=int, default=24)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--seeds", type=int, default=3, help="seeds --seed .. --seed+N-1")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--sets", default="Set5,Set14")
    ap.add_argument("--no-controls", dest="controls", action="store_false", help="skip kd_2x / scratch_2x")
    ap.add_argument("--no-equal-wall", dest="equal_wall", action="store_false", help="skip the wall-clock rows")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "distill_table")
    ap.add_argument("--overwrite", action="store_true", help="empty an --out folder made with other settings")
    ap.add_argument("--num-workers", type=int, default=0)
    ap.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    ap.add_argument("--dukd-set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a dukd option, e.g. zoom_out=false")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the section (markdown + data) here")
    ap.add_argument("--apply-json", type=Path, default=None,
                    help="write a section produced elsewhere (--json-out) into RESULTS.md and exit")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--title", default="DUKD table (x4): scratch vs kd vs dukd, seeds, equal steps and wall-clock")
    ap.add_argument("--smoke", action="store_true", help="a few iterations, 2 seeds, Set5; prints only")
    add_run_args(ap, "distill_table", threads=1)
    args = ap.parse_args(argv)
    if args.smoke:
        args.iterations, args.batch_size, args.seeds, args.sets, args.no_update = 4, 2, 2, "Set5", True
        args.out = args.out.parent / "distill_table_smoke"
    args.methods = [m for m in args.methods.split(",") if m]
    if set(args.methods) - set(METHODS):
        ap.error(f"--methods: choose from {', '.join(METHODS)}")
    args.sets = args.sets.split(",")
    args.seed_list = list(range(args.seed, args.seed + args.seeds))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.apply_json is not None:
        blob = json.loads(args.apply_json.read_text())
        update_section(blob["section"], blob["markdown"], blob["data"])
        print(f"wrote section {blob['section']} of benchmarks/RESULTS.md")
        return
    import torch

    budget = start(args)
    _DEVICE["name"] = "cuda" if torch.cuda.is_available() else "cpu"
    open_cache(args.out, settings(args), args.overwrite)
    from sr_compress.models.load import load_model

    base = {"bicubic": evaluate("bicubic", args.sets), "teacher": evaluate(load_model(args.teacher, 4), args.sets)}
    done = collect(args, budget)
    md, data = render(args, done, base, budget.elapsed())
    print(md)
    if args.json_out is not None:
        args.json_out.write_text(json.dumps({"section": args.section, "markdown": md, "data": data}, indent=2,
                                            default=str))
    if not args.no_update:
        update_section(args.section, md, data)
        print(f"wrote benchmarks/RESULTS.md ({args.section})")


if __name__ == "__main__":
    main()
