"""DFSR data-free distillation table (CVPR 2021), x4, over seeds: trained generator vs frozen
generator vs uniform noise vs kd with data, at equal student updates and at equal wall-clock.

    nice -n 15 python benchmarks/datafree_table.py --seeds 3
    nice -n 15 python benchmarks/datafree_table.py --smoke        # seconds, prints only

Teacher RLFN x4 (real NTIRE checkpoint); student ``edsr:c20b4`` or ``--init FILE`` (a pruned /
teacher-initialised network). Rows per seed (train.seed re-draws data order, the generator's
init and latents, the noise inputs and the student init): ``datafree`` (DFSR generator trained
adversarially, the baseline of the paired differences), ``frozen`` (the generator kept at its
random init, ``datafree.generator: frozen``: what training G adds), ``noise`` (uniform-noise
inputs, the paper's baseline), ``kd`` (with T91 data, same budget). One iteration = one student
update for every row. Equal wall-clock: frozen, noise and kd get the iterations that fit the
trained-generator row's mean training time (s/iteration measured in this run). Evaluation
Set5/Set14 x4 under the standard protocol. Runs are cached in ``--work``; a folder made with
other settings is refused (``--overwrite``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    add_run_args,
    benchmark_set,
    command_line,
    evaluate,
    machine_line,
    md_table,
    shared,
    start,
    write_results,
)
from _tables import mean_std, open_cache, seed_overrides, seed_table

from sr_compress.config import parse_set

PAPER = {"bicubic": 28.43, "noise": 28.46, "datafree": 30.71, "with data": 31.17}
RECIPES = {"kd": "kd_x4.yaml", "noise": "datafree_noise_x4.yaml", "datafree": "datafree_x4.yaml",
           "frozen": "datafree_x4.yaml"}
TITLES = {"datafree": "data-free (DFSR, trained G)", "frozen": "data-free, frozen random G",
          "noise": "uniform-noise inputs", "kd": "kd with T91 data",
          "frozen_wall": "frozen G at data-free's wall-clock", "noise_wall": "noise at data-free's wall-clock",
          "kd_wall": "kd at data-free's wall-clock"}
BASELINE = TITLES["datafree"]


def settings(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("student", "batch_size", "patch_size", "lr", "stu_step", "gen_lr", "w_adv", "w_rec", "inc_num")
    return {k: getattr(args, k) for k in keys} | {"teacher": str(args.teacher), "init": str(args.init),
                                                   "set": list(args.sets_kv)}


def schedule(inc_num: int, iterations: int) -> dict[str, int]:
    """Progressive stages spread so the last (full-depth) stage gets the second half of the budget."""
    step = max(1, iterations // (2 * (inc_num - 1))) if inc_num > 1 else 0
    return {"datafree.inc_num": inc_num, "datafree.inc_step": step}


def overrides(args: argparse.Namespace, row: str, iterations: int, seed: int) -> dict[str, Any]:
    over: dict[str, Any] = {
        "scale": 4, "teacher": str(args.teacher), "student": "init" if args.init else args.student,
        "train.iterations": iterations, "train.lr": args.lr, "train.scheduler": "cosine", "train.ema_decay": 0.0,
        "train.checkpoint_every": iterations, "train.val_every": 10**9, "train.log_every": max(1, iterations // 20),
        **seed_overrides(seed, "kd" if row == "kd" else "datafree"),
    }
    if args.init:
        over["init"] = str(args.init)
    if row == "kd":
        return over | {"data.path": [str(args.data)], "data.batch_size": args.batch_size,
                       "data.patch_size": args.patch_size, "data.val": []}
    # same input size, batch and progressive schedule for every data-free row
    over |= {"datafree.batch_size": args.batch_size, "datafree.lr_size": args.patch_size,
             **schedule(args.inc_num, iterations)}
    if row in ("datafree", "frozen"):
        over |= {"datafree.stu_step": args.stu_step, "datafree.gen_lr": args.gen_lr, "datafree.w_adv": args.w_adv,
                 "datafree.w_rec": args.w_rec, **parse_set(args.sets_kv)}
    if row == "frozen":
        over["datafree.generator"] = "frozen"
    return over


def run(args: argparse.Namespace, label: str, row: str, iterations: int, seed: int) -> dict[str, Any]:
    """One run + evaluation, cached in ``<work>/<label>_s<seed>/row.json``."""
    from sr_compress.compress.checkpoint import latest_checkpoint
    from sr_compress.compress.engine import load_distill_config, run_distillation

    out = args.work / f"{label}_s{seed}"
    if (out / "row.json").is_file():
        return json.loads((out / "row.json").read_text())
    cfg = load_distill_config(REPO / "configs" / "distill" / RECIPES[row], overrides(args, row, iterations, seed))
    resume = out.is_dir() and latest_checkpoint(out / "checkpoints") is not None
    c0 = time.process_time()
    res = run_distillation(cfg, out, resume=resume, progress=args.progress)
    cpu = time.process_time() - c0
    rec = {"label": label, "row": row, "iterations": iterations, "seed": seed, "cpu_s": round(cpu, 1),
           "train_s": float(res.metrics["train_time_s"]), "run_dir": str(out),
           **{s: round(float(evaluate(res.student, benchmark_set(s, 4), 4)["psnr"]), 4) for s in args.sets}}
    (out / "row.json").write_text(json.dumps(rec, indent=1))
    print(f"{label} seed {seed}: " + "  ".join(f"{s} {rec[s]:.3f}" for s in args.sets)
          + f"  ({iterations} it, train {rec['train_s']:.0f} s)", flush=True)
    return rec


def collect(args: argparse.Namespace, budget: Any) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []

    def go(label: str, row: str, iters: int) -> None:
        for seed in args.seed_list:
            if budget.spent():
                print(f"budget spent: {label} seed {seed} not run", flush=True)
                continue
            done.append(run(args, label, row, iters, seed))

    for row in args.rows:
        go(row, row, args.iterations)
    base = [r for r in done if r["label"] == "datafree"]
    if args.equal_wall and base:
        wall = mean_std([r["train_s"] for r in base])[0]
        for row in [r for r in args.rows if r != "datafree"]:
            per_it = mean_std([r["train_s"] / r["iterations"] for r in done if r["label"] == row])[0]
            go(f"{row}_wall", row, max(1, int(wall / per_it)))
    return done


def render(args: argparse.Namespace, done: list[dict[str, Any]], base: dict[str, dict[str, float]],
           total_s: float) -> tuple[str, dict[str, Any]]:
    rows = []
    for label, title in TITLES.items():
        mine = [r for r in done if r["label"] == label]
        if mine:
            rows.append({"row": title, "label": label, "per_seed": {r["seed"]: {s: r[s] for s in args.sets}
                                                                     for r in mine},
                         "iterations": mine[0]["iterations"],
                         "train s/run": f"{mean_std([r['train_s'] for r in mine])[0]:.0f}",
                         "CPU-min/run": f"{mean_std([r['cpu_s'] for r in mine])[0] / 60:.1f}"})
    tbl = md_table(*seed_table(rows, args.sets, BASELINE, extra=["iterations", "train s/run", "CPU-min/run"])) \
        if any(r["row"] == BASELINE for r in rows) else "(the data-free row was not run)"
    student = f"`{args.init.name}` (`student: init`)" if args.init else f"`{args.student}`"
    cpu_min = sum(r["cpu_s"] for r in done) / 60
    md = "\n".join([
        "## Data-free distillation (DFSR, CVPR 2021) — x4, seeds, trained vs frozen generator",
        "",
        f"Teacher RLFN x4 (`{args.teacher.name}`, Set5 {base['teacher']['Set5']:.2f}), student {student}; bicubic "
        f"Set5 {base['bicubic']['Set5']:.2f}. {args.iterations} iterations (= student updates), batch "
        f"{args.batch_size}, LR side {args.patch_size}, Adam lr {args.lr:g} cosine, no EMA, seeds "
        f"{', '.join(map(str, args.seed_list))} (train.seed re-draws every RNG: G's init and latents, noise "
        f"inputs, data order, student init). Data-free: DFSR generator (Adam lr {args.gen_lr:g}), stu_step "
        f"{args.stu_step}, w_adv {args.w_adv:g}, w_rec {args.w_rec:g}, sum-MSE, student clip 0.4, progressive "
        f"stages {args.inc_num}; frozen: the same generator never updated; noise: uniform [0, 1] inputs. "
        "The kd row reads T91; no other row reads an image. Evaluation: "
        f"{', '.join(args.sets)} x4, all images, Y BT.601, border 4, uint8.",
        "",
        tbl,
        "",
        "'Δ vs data-free (paired)': mean ± std over seeds of (row − trained-G row) with the same seed; "
        "'> 2 std: yes' = the difference exceeds twice the spread of the paired differences. The frozen-G row "
        "is the control for the generator's training: if it is not below the trained row by > 2 std, this "
        "budget shows no contribution of the adversarial generator training. Equal wall-clock rows: "
        "iterations that fit the trained-G row's mean training time on this shared machine (noisy).",
        "",
        f"Paper anchor (VDSR, Set5 x4): bicubic {PAPER['bicubic']}, noise {PAPER['noise']}, data-free "
        f"{PAPER['datafree']}, with data {PAPER['with data']}. The kd row here is short-trained too, so a "
        "'share of the with-data gain' is not a meaningful goal line at this budget and is not reported.",
        "",
        f"Total {total_s / 60:.1f} min wall, {cpu_min:.1f} CPU-min of training; {machine_line()}. "
        f"Command: `{command_line('datafree_table.py')}`",
    ])
    return md, {"settings": settings(args), "seeds": args.seed_list, "runs": done, "rows": rows, "baselines": base,
                "paper": PAPER, "cpu_min": round(cpu_min, 1)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", type=Path, default=shared("weights", "RLFN", "rlfn_x4.pth"))
    ap.add_argument("--student", default="edsr:c20b4")
    ap.add_argument("--init", type=Path, default=None, help="student starts from this checkpoint (pruned, ...)")
    ap.add_argument("--data", type=Path, default=shared("train", "T91", "HR"), help="the kd row's images")
    ap.add_argument("--iterations", type=int, default=360)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--patch-size", type=int, default=24, help="LR patch side (kd) = generated LR side")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--stu-step", type=int, default=10)
    ap.add_argument("--gen-lr", type=float, default=1e-3, help="official argparse default (demo: 1e-5)")
    ap.add_argument("--w-adv", type=float, default=1.0)
    ap.add_argument("--w-rec", type=float, default=1.0)
    ap.add_argument("--inc-num", type=int, default=1, help="progressive stages (1: none)")
    ap.add_argument("--set", dest="sets_kv", action="append", default=[], metavar="KEY=VALUE",
                    help="extra override for the data-free rows, e.g. datafree.w_rec=10 (repeatable)")
    ap.add_argument("--rows", default="datafree,frozen,noise,kd")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sets", default="Set5,Set14")
    ap.add_argument("--no-equal-wall", dest="equal_wall", action="store_false")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "datafree_table")
    ap.add_argument("--overwrite", action="store_true", help="empty a --work folder made with other settings")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="a few iterations, 2 seeds, Set5; prints only")
    add_run_args(ap, "datafree_table", threads=1)
    args = ap.parse_args(argv)
    if args.smoke:
        args.iterations, args.batch_size, args.stu_step, args.seeds = 4, 2, 2, 2
        args.sets, args.no_update, args.work = "Set5", True, args.work.parent / "datafree_table_smoke"
    args.rows = [r for r in args.rows.split(",") if r]
    if set(args.rows) - {"datafree", "frozen", "noise", "kd"}:
        ap.error("--rows: choose from datafree, frozen, noise, kd")
    args.sets = args.sets.split(",")
    args.seed_list = list(range(args.seed, args.seed + args.seeds))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    budget = start(args)
    open_cache(args.work, settings(args), args.overwrite)
    from sr_compress.models.load import load_model

    base = {k: {s: round(float(evaluate(m, benchmark_set(s, 4), 4)["psnr"]), 4) for s in args.sets}
            for k, m in (("bicubic", "bicubic"), ("teacher", load_model(args.teacher, 4)))}
    done = collect(args, budget)
    md, data = render(args, done, base, budget.elapsed())
    write_results(args, md, data)


if __name__ == "__main__":
    main()
