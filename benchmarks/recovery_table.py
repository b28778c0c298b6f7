"""Recovery-method table (issue 19): one pruned RLFN x4 recovered by scratch-loss, kd, dukd, datafree.

The same pruned network (real RLFN x4 weights, ``prune_model`` to ``--macs``, Taylor importance on
T91 batches) is the student (``student: init``) of every run; the teacher is the unpruned RLFN.
Every (method, seed) run re-draws all RNGs (``train.seed``: data order, crops, augmentation,
DFSR's generator init and latents, DUKD's tile/op draws). Rows:

1. equal optimiser steps: every method gets ``--steps`` student updates (dukd makes two per
   iteration, so it runs ``--steps // 2`` iterations);
2. equal wall-clock: each method's s/step is measured in step 1 of this same run; every method
   gets the steps that fit kd's mean training time at ``--steps`` (kd's row is the same runs).

Evaluation: Set5 and Set14 x4, full images, Y BT.601, border 4, uint8 (``_common.evaluate``).
Discrimination check first: kd vs "no recovery" and kd vs scratch-loss must differ by > 2 std of
the paired (per-seed) differences, else the budget cannot tell the methods apart.

    nice -n 15 python benchmarks/recovery_table.py --jobs 2     # two runs at a time, 1 thread each

Finished runs are cached in ``--work`` (``<run>/row.json``) so an interrupted table continues; a
work folder made with other settings is refused (``--overwrite`` empties it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    add_run_args,
    benchmark_set,
    evaluate,
    machine_line,
    md_table,
    shared,
    start,
    write_results,
)
from _tables import by_key, equal_wall_steps, mean_std, open_cache, paired, seed_overrides, seed_table

METHODS = ("scratch", "kd", "dukd", "datafree")
STEPS_PER_ITER = {"dukd": 2}  # student optimiser steps per engine iteration (DUKD: step 1 + upcycling step)
LABEL = {"scratch": "scratch-loss", "kd": "kd", "dukd": "dukd", "datafree": "datafree"}


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """What the cached runs depend on (a work folder made with other values is refused)."""
    return {k: getattr(args, k) for k in ("macs", "round_to", "batch_size", "patch_size", "lr", "stu_step",
                                          "gen_lr", "prune_seed")} | {"teacher": str(args.teacher)}


def open_work(args: argparse.Namespace) -> Path:
    open_cache(args.work, settings(args), args.overwrite)
    return Path(args.work)


def prune_once(args: argparse.Namespace, work: Path) -> tuple[Path, dict[str, Any]]:
    """The pruned RLFN every run starts from (made once per work folder)."""
    from sr_compress.compress.prune import prune_model
    from sr_compress.compress.prune.data import importance_batches
    from sr_compress.models.load import load_model, save_model

    path, info = work / "pruned.pth", work / "prune.json"
    if path.is_file() and info.is_file():
        return path, json.loads(info.read_text())
    c0 = time.process_time()
    teacher = load_model(args.teacher, 4)
    batches = importance_batches(args.data, 4, seed=args.prune_seed)
    res = prune_model(teacher, macs=args.macs, importance="taylor", round_to=args.round_to, batches=batches)
    save_model(res.desc, path)
    rec = {**res.record, "cpu_s": round(time.process_time() - c0, 1)}
    info.write_text(json.dumps(rec, indent=1, default=str))
    return path, rec


def overrides(args: argparse.Namespace, method: str, steps: int, seed: int, pruned: Path) -> dict[str, Any]:
    iters = max(1, steps // STEPS_PER_ITER.get(method, 1))
    over: dict[str, Any] = {
        "student": "init", "init": str(pruned), "train.iterations": iters, "train.lr": args.lr,
        "train.scheduler": "cosine", "train.ema_decay": 0.0, "train.checkpoint_every": iters,
        "train.val_every": 10**9, "train.log_every": max(1, iters // 10), **seed_overrides(seed, method),
    }
    if method != "scratch":
        over["teacher"] = str(args.teacher)
    if method == "datafree":
        # no training images: the generator's LR side and batch match the real-data rows
        over.update({"datafree.batch_size": args.batch_size, "datafree.lr_size": args.patch_size,
                     "datafree.inc_num": 1, "datafree.inc_step": 0, "datafree.stu_step": args.stu_step,
                     "datafree.gen_lr": args.gen_lr})
    else:
        over.update({"data.path": [str(args.data)], "data.val": [], "data.batch_size": args.batch_size,
                     "data.patch_size": args.patch_size})
    if method == "dukd":
        # RLFN's ESA needs >= 15 px inputs; zoom-out feeds patch/4 = 6 px (the official DUKD
        # students are EDSR/RCAN/SwinIR, which take any size)
        over["dukd.zoom_out"] = False
    return over


def evaluate_sets(model: Any, sets: list[str]) -> dict[str, float]:
    return {s: round(float(evaluate(model, benchmark_set(s, 4), 4)["psnr"]), 4) for s in sets}


def train_eval(args: argparse.Namespace, work: Path, method: str, steps: int, seed: int,
               pruned: Path) -> dict[str, Any]:
    """One recovery run and its evaluation (cached in ``<work>/<method>_<steps>_s<seed>/row.json``)."""
    from sr_compress.compress.checkpoint import latest_checkpoint
    from sr_compress.compress.engine import load_distill_config, run_distillation

    out = work / f"{method}_{steps}_s{seed}"
    cached = out / "row.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    cfg = load_distill_config(REPO / "configs" / "distill" / f"{method}_x4.yaml",
                              overrides(args, method, steps, seed, pruned))
    resume = latest_checkpoint(out / "checkpoints") is not None if out.is_dir() else False
    c0, w0 = time.process_time(), time.perf_counter()
    res = run_distillation(cfg, out, resume=resume, progress=False)
    c1 = time.process_time()
    psnr = evaluate_sets(res.student, args.sets)
    row: dict[str, Any] = {"method": method, "steps": steps, "iterations": cfg.train.iterations, "seed": seed,
           "train_s": float(res.metrics["train_time_s"]), "wall_s": round(time.perf_counter() - w0, 1),
           "cpu_s": round(c1 - c0, 1), "eval_cpu_s": round(time.process_time() - c1, 1),
           "resumed": resume, **psnr}
    row["s_per_step"] = row["train_s"] / steps
    cached.write_text(json.dumps(row, indent=1))
    print(f"{method} {steps} steps seed {seed}: " + " ".join(f"{s} {psnr[s]:.3f}" for s in args.sets)
          + f" ({row['train_s']:.0f} s train, {row['cpu_s']:.0f} CPU-s)", flush=True)
    return row


def baselines(args: argparse.Namespace, work: Path, pruned: Path) -> dict[str, dict[str, float]]:
    from sr_compress.models.load import load_model

    path = work / "baselines.json"
    have = json.loads(path.read_text()) if path.is_file() else {}
    if not all(s in have.get(k, {}) for k in ("teacher", "none") for s in args.sets):
        have = {"teacher": evaluate_sets(load_model(args.teacher, 4), args.sets),
                "none": evaluate_sets(load_model(pruned, 4), args.sets)}
        path.write_text(json.dumps(have, indent=1))
    return have


def wall_plan(steps_rows: list[dict[str, Any]], args: argparse.Namespace) -> tuple[float, dict[str, int]]:
    """kd's mean training time at ``--steps`` and the steps every method gets in that time."""
    per: dict[str, list[float]] = {}
    for r in steps_rows:
        per.setdefault(r["method"], []).append(r["s_per_step"])
    if "kd" not in per:
        sys.exit("error: the equal-wall-clock rows need the kd runs (--methods must include kd)")
    wall = mean_std([r["train_s"] for r in steps_rows if r["method"] == "kd"])[0]
    s_per_step = {m: mean_std(v)[0] for m, v in per.items()}
    # dukd's steps come in pairs (one iteration = two steps)
    plan = {m: n // STEPS_PER_ITER.get(m, 1) * STEPS_PER_ITER.get(m, 1)
            for m, n in equal_wall_steps(s_per_step, wall, minimum=2).items()}
    plan["kd"] = args.steps  # the reference itself (its mean s/step x mean time may round to steps - 1)
    return wall, plan


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_phase(args: argparse.Namespace, work: Path, pruned: Path, plan: dict[str, int],
              budget: Any) -> None:
    """Every (method, seed) run of one phase, ``--jobs`` at a time (each run is a cached unit)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    todo = [(m, plan[m], seed) for seed in args.seed_list for m in args.methods
            if not (work / f"{m}_{plan[m]}_s{seed}" / "row.json").is_file()]
    if args.jobs <= 1:
        for m, steps, seed in todo:
            if budget.spent():
                print(f"budget spent: {m} seed {seed} ({steps} steps) not run", flush=True)
                continue
            train_eval(args, work, m, steps, seed, pruned)
        return
    # spawn: a fresh interpreter per worker (no forked torch thread pools); budget checked at submit only
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(args.threads,)) as pool:
        futures = [pool.submit(train_eval, args, work, m, steps, seed, pruned) for m, steps, seed in todo]
        for f in futures:
            f.result()


def cached_rows(work: Path, method: str, steps: int) -> list[dict[str, Any]]:
    return [json.loads(f.read_text()) for f in sorted(work.glob(f"{method}_{steps}_s*/row.json"))]


def table_rows(rows: list[dict[str, Any]], base: dict[str, dict[str, float]], sets: list[str],
               include_none: bool) -> list[dict[str, Any]]:
    """Rows for ``seed_table``: one per method (per-seed PSNR), plus the deterministic "no recovery"."""
    seeds = sorted({r["seed"] for r in rows})
    out: list[dict[str, Any]] = []
    if include_none:
        out.append({"row": "no recovery (pruned)", "per_seed": {s: base["none"] for s in seeds},
                    "steps": 0, "s/step": "—", "train s/run": "—", "CPU-min/run": "—"})
    for m in METHODS:
        mine = [r for r in rows if r["method"] == m]
        if not mine:
            continue
        out.append({"row": LABEL[m], "method": m, "per_seed": {r["seed"]: {s: r[s] for s in sets} for r in mine},
                    "steps": mine[0]["steps"], "s/step": f"{mean_std([r['s_per_step'] for r in mine])[0]:.2f}",
                    "train s/run": f"{mean_std([r['train_s'] for r in mine])[0]:.0f}",
                    "CPU-min/run": f"{mean_std([r['cpu_s'] + r['eval_cpu_s'] for r in mine])[0] / 60:.1f}"})
    return out


def discrimination(rows: list[dict[str, Any]], sets: list[str]) -> tuple[str, dict[str, Any]]:
    """kd vs no recovery and kd vs scratch-loss, per set: paired Δ and whether it exceeds 2 std."""
    kd = by_key(rows, LABEL["kd"])
    lines, data = [], {}
    for other in ("no recovery (pruned)", LABEL["scratch"]):
        try:
            o = by_key(rows, other)
        except KeyError:
            continue
        for s in sets:
            p = paired({k: v[s] for k, v in kd["per_seed"].items()},
                       {k: v[s] for k, v in o["per_seed"].items()})
            data[f"kd − {other} ({s})"] = {"diffs": p.diffs, "mean": p.mean, "std": p.std, "separated": p.separated}
            lines.append(f"kd − {other}, {s}: {p.text()}")
    ok = all(v["separated"] for v in data.values()) if data else None
    verdict = {True: "PASSED: this budget tells kd from both", False: "NOT passed: at this budget kd is not "
               "told apart from every control by > 2 std, so the method rows below cannot be ranked reliably",
               None: "not run"}[ok]
    return f"**Discrimination check** ({verdict}): " + "; ".join(lines) + ".", {"pairs": data, "passed": ok}


def render(args: argparse.Namespace, prune_rec: dict[str, Any], base: dict[str, dict[str, float]],
           steps_rows: list[dict[str, Any]], wall_rows: list[dict[str, Any]], wall: float,
           plan: dict[str, int], total_s: float) -> tuple[str, dict[str, Any]]:
    extra = ["steps", "s/step", "train s/run", "CPU-min/run"]
    a = table_rows(steps_rows, base, args.sets, include_none=True)
    b = table_rows(wall_rows, base, args.sets, include_none=False)
    check, check_data = discrimination(a, args.sets)
    ta = md_table(*seed_table(a, args.sets, LABEL["kd"], extra=extra))
    tb = md_table(*seed_table(b, args.sets, LABEL["kd"], extra=extra)) if b else "(not run)"
    have = {(r["method"], r["seed"]) for r in wall_rows}
    missing = [f"{m} seed {s}" for s in args.seed_list for m in args.methods if (m, s) not in have]
    if missing:  # a budget (--budget-s) or an interrupted run: say which cells are absent
        tb += "\n\nNot run (time budget): " + ", ".join(missing) + "; their rows average the seeds that ran."
    all_runs = steps_rows + [r for r in wall_rows if r["method"] != "kd"]
    cpu_min = sum(r["cpu_s"] + r["eval_cpu_s"] for r in all_runs) / 60 + prune_rec.get("cpu_s", 0) / 60
    md = "\n".join([
        "## Recovery-method table (x4): the same pruned RLFN recovered by scratch-loss / kd / dukd / datafree",
        "",
        f"Student: real RLFN x4 (`{args.teacher.name}`) pruned to {prune_rec['macs_after'] / prune_rec['macs_before']:.3f}"
        f" of its MACs (target {args.macs}, Taylor importance on T91 batches, channels multiple of {args.round_to}; "
        f"{prune_rec['params_before']:,} → {prune_rec['params_after']:,} params), loaded with `student: init`; teacher: "
        f"the unpruned RLFN (Set5 {base['teacher']['Set5']:.2f}"
        + (f", Set14 {base['teacher']['Set14']:.2f}" if "Set14" in base["teacher"] else "") + " dB). "
        f"Recipe for every run: Adam lr {args.lr:g} cosine, no EMA, batch {args.batch_size}, LR patch "
        f"{args.patch_size} (T91 HR crops; datafree generates {args.patch_size}² LR inputs and reads no image, "
        f"stu_step {args.stu_step}, generator lr {args.gen_lr:g}, one stage), each method's recipe "
        "`configs/distill/<method>_x4.yaml` otherwise (kd 1/1; dukd 5/1, n_gt_sub 1, official gradient "
        "semantics; datafree sum-MSE, student clip 0.4). Seeds "
        + ", ".join(map(str, args.seed_list)) + " (train.seed re-draws every RNG: data order, crops, "
        "augmentation, the generator's init and latents, DUKD's draws; the pruned start is the same). "
        f"Evaluation: {', '.join(args.sets)} x4, all images, Y BT.601, border 4, uint8.",
        "",
        "Deviation: dukd runs **without zoom-out** — RLFN's ESA block needs inputs of at least 15 px and "
        f"zoom-out feeds the student {args.patch_size // 4}-px images (LR patch / 4); zoom-in and label "
        "consistency are on.",
        "",
        check,
        "",
        f"### Equal optimiser steps ({args.steps} student updates; dukd = {args.steps // 2} iterations of 2 steps)",
        "",
        ta,
        "",
        f"### Equal wall-clock (kd's mean training time at {args.steps} steps, {wall:.0f} s; s/step measured in "
        "the rows above)",
        "",
        "Steps given: " + ", ".join(f"{m} {n}" for m, n in plan.items()) + " (kd's row is the same runs as above).",
        "",
        tb,
        "",
        "Reading: 'Δ vs kd (paired)' is the mean ± std over seeds of (row − kd) with the same seed; "
        "'> 2 std: yes' means the difference exceeds twice the spread of those paired differences. "
        "s/step and wall-clock were measured on a shared 2-core machine (other engineers' jobs running, this "
        "one at nice 15, 1 torch thread), so they carry contention noise; CPU-minutes are the cost measure. "
        "This is a budget of minutes, not the papers' — it ranks the objectives for a short recovery of one "
        "pruned network, nothing more.",
        "",
        f"Total: {total_s / 60:.1f} min wall for this invocation, {cpu_min:.1f} CPU-min for all runs of the table "
        f"(training + evaluation + pruning). {machine_line()}. Command: `nice -n 15 {_command()}`"
        + (f" — {args.note}" if args.note else ""),
    ])
    data = {"settings": settings(args), "steps": args.steps, "seeds": args.seed_list, "prune": prune_rec,
            "baselines": base, "equal_steps": steps_rows, "equal_wall": wall_rows, "wall_ref_s": wall,
            "wall_plan": plan, "discrimination": check_data, "cpu_min": round(cpu_min, 1)}
    return md, data


def _command() -> str:
    """This invocation's command without ``--note TEXT`` (the note follows it as prose)."""
    argv, out = sys.argv[1:], []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--note":
            skip = True
        elif not a.startswith("--note="):
            out.append(a)
    return " ".join(["python", "benchmarks/recovery_table.py", *map(shlex.quote, out)])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--teacher", type=Path, default=shared("weights", "RLFN", "rlfn_x4.pth"))
    ap.add_argument("--data", type=Path, default=shared("train", "T91", "HR"))
    ap.add_argument("--macs", type=float, default=0.75)
    ap.add_argument("--round-to", type=int, default=4)
    ap.add_argument("--prune-seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=100, help="student optimiser steps of the equal-steps rows")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--patch-size", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--stu-step", type=int, default=10, help="datafree: student steps per generator step")
    ap.add_argument("--gen-lr", type=float, default=1e-3, help="datafree generator lr")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-list", default=None, help="explicit seeds, e.g. 0,1 (default: 0..--seeds-1)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--sets", default="Set5,Set14")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "recovery_table")
    ap.add_argument("--jobs", type=int, default=1,
                    help="runs in parallel (processes of --threads each); s/step is then measured under that load")
    ap.add_argument("--overwrite", action="store_true", help="empty a --work folder made with other settings")
    ap.add_argument("--smoke", action="store_true", help="tiny budget, Set5 only, 2 seeds, no RESULTS.md")
    ap.add_argument("--note", default="", help="a sentence after the command (e.g. how the cached runs were made)")
    add_run_args(ap, "recovery_table", threads=1)
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps, args.batch_size, args.seeds, args.sets, args.no_update = 4, 2, 2, "Set5", True
        args.work = args.work.parent / "recovery_table_smoke"
    args.methods = [m for m in args.methods.split(",") if m]
    bad = sorted(set(args.methods) - set(METHODS))
    if bad:
        ap.error(f"--methods: unknown {', '.join(bad)} (choose from {', '.join(METHODS)})")
    args.sets = args.sets.split(",")
    args.seed_list = ([int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds)))
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    budget = start(args)
    work = open_work(args)
    pruned, prune_rec = prune_once(args, work)
    base = baselines(args, work, pruned)
    run_phase(args, work, pruned, {m: args.steps for m in args.methods}, budget)
    steps_rows = [r for m in args.methods for r in cached_rows(work, m, args.steps) if r["seed"] in args.seed_list]
    wall, plan = wall_plan(steps_rows, args)
    print("equal wall-clock plan: " + ", ".join(f"{m} {n} steps" for m, n in plan.items()), flush=True)
    run_phase(args, work, pruned, plan, budget)
    wall_rows = [r for m in args.methods for r in cached_rows(work, m, plan[m]) if r["seed"] in args.seed_list]
    md, data = render(args, prune_rec, base, steps_rows, wall_rows, wall, plan, budget.elapsed())
    write_results(args, md, data)


if __name__ == "__main__":
    main()
