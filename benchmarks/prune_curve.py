"""Pruning curve: Set5 drop after recovery vs MACs ratio, with the recovery budget on the x-axis.

For each model and MACs target: ``sr-compress prune`` (Taylor importance, ``--round-to`` channel rounding, default 4), then
``sr-compress distill --init PRUNED --teacher ORIGINAL --method kd`` on T91 with Set5 validated every
``--val-every`` iterations (val.csv), then ``sr-compress eval`` of the result on Set5 + Set14. The
``--random-init`` rows keep the pruned widths but start from fresh weights (same recipe and budget):
the from-scratch baseline of issue 19. Runs go ``--jobs`` at a time, each one process with
``OMP_NUM_THREADS=1``; CPU time is the child's own (``os.wait4``), so parallel runs do not blur it.
Finished runs are reused from ``--work`` (it is never deleted).

    python benchmarks/prune_curve.py --models rlfn,imdn --macs 0.9,0.75,0.5 --iterations 400 --jobs 2

Writes the ``prune_curve`` section of RESULTS.md, results/prune_curve.json and results/prune_curve.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import RESULTS_DIR, add_run_args, data_root, run_cli, write_results
from _results import machine_line, md_table

DATA = data_root()
WEIGHTS = {"rlfn": DATA / "weights/RLFN/rlfn_x4.pth", "imdn": DATA / "weights/IMDN/IMDN_x4.pth"}


@dataclass(frozen=True)
class Run:
    model: str
    macs: float
    random_init: bool

    @property
    def name(self) -> str:
        return f"{self.model}_m{int(round(self.macs * 100))}{'_rand' if self.random_init else ''}"


def commands(r: Run, d: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    set5 = str(DATA / "benchmarks/Set5")
    prune = ["prune", str(WEIGHTS[r.model]), "--macs", str(r.macs), "--round-to", str(args.round_to), "--out", str(d / "p"),
             "--data", str(DATA / "train/T91/HR"), *(["--random-init"] if r.random_init else [])]
    distill = ["distill", "--init", str(d / "p/pruned.pth"), "--teacher", str(WEIGHTS[r.model]), "--method",
               "kd", "--data", str(DATA / "train/T91/HR"), "--val", set5, "--val-every", str(args.val_every),
               "--set", "data.val_max_images=0", "-n", str(args.iterations), "--batch-size", str(args.batch_size),
               "--patch-size", str(args.patch_size), "--lr", str(args.lr), "--seed", str(args.seed),
               "--checkpoint-every", str(args.iterations), "--no-progress", "--out", str(d / "kd")]
    sets = f"{set5},{DATA / 'benchmarks/Set14'}"
    ev0 = ["eval", "--model", str(d / "p/pruned.pth"), "--data", sets, "--scale", "4", "--json", str(d / "e0.json")]
    ev = ["eval", "--model", str(d / "kd/student.pth"), "--data", sets, "--scale", "4", "--json", str(d / "e.json")]
    return {"prune": prune, "eval_pruned": ev0, "distill": distill, "eval": ev}


def psnr(path: Path) -> dict[str, float]:
    return {r["dataset"]: float(r["psnr"]) for r in json.loads(path.read_text())["results"]}


def curve(d: Path) -> list[tuple[int, float]]:
    with open(d / "kd" / "val.csv", newline="") as fh:
        return [(int(float(row["iteration"])), float(row["Set5_psnr"])) for row in csv.DictReader(fh)]


def do_run(r: Run, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    d = work / r.name
    done = d / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    d.mkdir(parents=True, exist_ok=True)
    cmds = commands(r, d, args)
    cpu = {k: run_cli(c, d / "commands.log", threads=1) for k, c in cmds.items()}
    rec = json.loads((d / "p" / "prune.json").read_text())
    res = {"model": r.model, "macs_target": r.macs, "random_init": r.random_init,
           "macs_ratio": rec["macs_after"] / rec["macs_before"], "params": rec["params_after"],
           "pruned": psnr(d / "e0.json"), "recovered": psnr(d / "e.json"), "curve": curve(d), "cpu_s": cpu,
           "commands": ["sr-compress " + shlex.join(c) for c in cmds.values()]}
    done.write_text(json.dumps(res, indent=2))
    print(f"{r.name}: Set5 {res['pruned']['Set5']:.2f} -> {res['recovered']['Set5']:.2f} dB, "
          f"{cpu['distill'] / 60:.1f} CPU-min recovery", flush=True)
    return res


def teacher_psnr(work: Path, model: str) -> dict[str, float]:
    out = work / f"teacher_{model}.json"
    if not out.is_file():
        sets = f"{DATA / 'benchmarks/Set5'},{DATA / 'benchmarks/Set14'}"
        run_cli(["eval", "--model", str(WEIGHTS[model]), "--data", sets, "--scale", "4", "--json", str(out)],
                work / "teacher.log")
    return psnr(out)


def plot(results: list[dict[str, Any]], teachers: dict[str, dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in results})
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models):
        for r in (x for x in results if x["model"] == model):
            per_it = r["cpu_s"]["distill"] / 60 / max(1, r["curve"][-1][0])
            xs = [0.0] + [it * per_it for it, _ in r["curve"]]
            ys = [r["pruned"]["Set5"] - teachers[model]["Set5"]] + [db - teachers[model]["Set5"] for _, db in r["curve"]]
            ax.plot(xs, ys, marker="o", ms=3, ls="--" if r["random_init"] else "-",
                    label=f"{r['macs_ratio']:.2f} MACs{' (random init)' if r['random_init'] else ''}")
        ax.axhline(-0.2, color="grey", lw=0.8, ls=":")
        ax.set(title=f"{model} x4: Set5 drop vs recovery budget", xlabel="recovery CPU-minutes (kd)",
               ylabel="PSNR - teacher (dB)", ylim=(-3.0, 0.1))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(results: list[dict[str, Any]], teachers: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    rows = []
    for r in results:
        t = teachers[r["model"]]
        rows.append([r["model"], f"{r['macs_ratio']:.3f}", "random" if r["random_init"] else "pruned",
                     f"{r['params']:,}", round(r["pruned"]["Set5"] - t["Set5"], 2),
                     round(r["recovered"]["Set5"] - t["Set5"], 3), round(r["recovered"]["Set14"] - t["Set14"], 3),
                     round(r["cpu_s"]["distill"] / 60, 1)])
    png = RESULTS_DIR / f"{args.section}.png"
    plot(results, teachers, png)
    teach = "; ".join(f"{m}: Set5 {t['Set5']:.2f}, Set14 {t['Set14']:.2f}" for m, t in teachers.items())
    md = (f"{machine_line()}\n\nCommand: `python benchmarks/prune_curve.py {' '.join(map(shlex.quote, sys.argv[1:]))}`"
          f"\n\nTeachers (FP32): {teach}. Taylor pruning, channels multiples of {args.round_to}. Recovery: kd from the unpruned model, {args.iterations} iterations x batch "
          f"{args.batch_size} of {args.patch_size}² T91 LR patches, lr {args.lr} cosine, one seed ({args.seed}); "
          "each run one process with one thread, up to "
          f"{args.jobs} side by side on a 2-core machine shared with other jobs. Drops in dB vs the teacher.\n\n"
          + md_table(["model", "MACs", "init", "params", "drop before", "Set5 drop after", "Set14 drop after",
                      "recovery CPU-min"], rows)
          + f"\n\n![pruning curve](results/{png.name})\n")
    write_results(args, md, {"teachers": teachers, "runs": results})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="rlfn,imdn")
    ap.add_argument("--macs", default="0.9,0.75,0.5")
    ap.add_argument("--random-init-at", default="0.5", help="MACs targets that also get a random-init row")
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--patch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--round-to", type=int, default=4,
                    help="channel multiple; 2 reaches MACs targets between the multiples of 4 (RLFN: 0.72 / 0.85)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/prune_curve"))
    add_run_args(ap, "prune_curve", threads=1)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    models = args.models.split(",")
    rand = {float(x) for x in args.random_init_at.split(",") if x}
    # in the order given (most important first): each target for every model, its random-init row beside it
    runs = [Run(m, float(x), ri) for x in args.macs.split(",") for m in models
            for ri in ((False, True) if float(x) in rand else (False,))]
    teachers = {m: teacher_psnr(args.work, m) for m in models}
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda r: do_run(r, args.work, args), runs))
    report(results, teachers, args)


if __name__ == "__main__":
    main()
