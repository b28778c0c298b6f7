"""Pruning (+ distillation recovery) table on a real checkpoint: Set5/Set14 x4 PSNR and CPU cost per row.

Every row is a chain of ``sr-compress`` commands run as subprocesses (the exact commands are
printed into RESULTS.md); the CPU time of a row is the user+sys time of its children. Finished
rows are cached in ``--work`` so an interrupted run continues where it stopped.

    python benchmarks/compression_table.py --model rlfn --iterations 60
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path
from typing import Any

from _common import data_root, run_cli
from _results import machine_line, md_table, update_section

DATA = data_root()
MODELS = {"rlfn": DATA / "weights/RLFN/rlfn_x4.pth", "imdn": DATA / "weights/IMDN/IMDN_x4.pth"}
SETS = f"{DATA / 'benchmarks/Set5'},{DATA / 'benchmarks/Set14'}"


def rows_for(model: str, work: Path, iters: int, batch: int, patch: int) -> list[tuple[str, list[list[str]], Path]]:
    ckpt = str(MODELS[model])
    t91 = str(DATA / "train/T91/HR")

    def recover(init: Path, out: Path, method: str = "kd") -> list[str]:
        return ["distill", "--init", str(init), "--teacher", ckpt, "--method", method, "--data", t91,
                "-n", str(iters), "--batch-size", str(batch), "--patch-size", str(patch), "--lr", "2e-4",
                "--val-every", "1000000", "--checkpoint-every", str(max(iters // 2, 1)), "--no-progress",
                "--out", str(out)]

    def prune(target: float, out: Path, *extra: str) -> list[str]:
        return ["prune", ckpt, "--macs", str(target), "--round-to", "4", "--out", str(out), *extra]

    w = work
    return [
        ("teacher FP32", [], Path(ckpt)),
        ("pruned 0.75 MACs, no recovery", [prune(0.75, w / "p75")], w / "p75/pruned.pth"),
        (f"pruned 0.75 + kd {iters} it", [recover(w / "p75/pruned.pth", w / "p75_kd")], w / "p75_kd/student.pth"),
        ("pruned 0.5 MACs, no recovery", [prune(0.5, w / "p50")], w / "p50/pruned.pth"),
        (f"pruned 0.5 + kd {iters} it", [recover(w / "p50/pruned.pth", w / "p50_kd")], w / "p50_kd/student.pth"),
        (f"same widths, random init + kd {iters} it",
         [prune(0.5, w / "p50r", "--random-init"), recover(w / "p50r/pruned.pth", w / "p50r_kd")],
         w / "p50r_kd/student.pth"),
    ]


def evaluate(ckpt: Path, out: Path, log: Path) -> dict[str, float]:
    run_cli(["eval", "--model", str(ckpt), "--data", SETS, "--scale", "4", "--json", str(out)], log)
    res = json.loads(out.read_text())["results"]
    return {r["dataset"]: float(r["psnr"]) for r in res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=sorted(MODELS), default="rlfn")
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--patch-size", type=int, default=32)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(f"/tmp/compression_table/{args.model}")
    work.mkdir(parents=True, exist_ok=True)
    cache_file, log = work / "rows.json", work / "commands.log"
    cache: dict[str, Any] = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    for name, cmds, ckpt in rows_for(args.model, work, args.iterations, args.batch_size, args.patch_size):
        if name in cache:
            continue
        t0, c0 = time.time(), os.times()
        for cmd in cmds:
            run_cli(cmd, log)
        c1 = os.times()
        train_cpu = (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)
        psnr = evaluate(ckpt, work / f"eval_{len(cache)}.json", log)
        c2 = os.times()
        cache[name] = {"psnr": psnr, "cpu_s": train_cpu,
                       "eval_cpu_s": (c2.children_user + c2.children_system) - (c1.children_user + c1.children_system),
                       "wall_s": time.time() - t0, "commands": ["sr-compress " + shlex.join(c) for c in cmds]}
        cache_file.write_text(json.dumps(cache, indent=2))
        print(name, cache[name]["psnr"], f"{train_cpu:.0f} cpu-s", flush=True)
    write(args, cache)


def write(args: argparse.Namespace, cache: dict[str, Any]) -> None:
    ref = cache.get("teacher FP32", {}).get("psnr", {})
    rows = []
    for name, r in cache.items():
        s5, s14 = r["psnr"].get("Set5"), r["psnr"].get("Set14")
        rows.append([name, s5, s14, (s5 - ref["Set5"]) if ref and s5 else "-", (s14 - ref["Set14"]) if ref and s14
                     else "-", f"{r['cpu_s'] / 60:.1f}", f"{r['eval_cpu_s'] / 60:.1f}"])
    cmds = "\n".join(f"    {c}" for r in cache.values() for c in r["commands"])
    work = args.work or Path(f"/tmp/compression_table/{args.model}")
    achieved = []
    for sub in ("p75", "p50"):
        f = work / sub / "prune.json"
        if f.is_file():
            rec = json.loads(f.read_text())
            achieved.append(f"{sub}: {rec['macs_after'] / rec['macs_before']:.3f} of the MACs, "
                            f"{rec['params_after']:,} params (ratio {rec['ratio']}, {rec['importance']})")
    md = (f"### Pruning + recovery, {args.model} x4 (`python benchmarks/compression_table.py --model {args.model} "
          f"--iterations {args.iterations}`)\n\n{machine_line()}; the machine was shared with 7 other engineers "
          "(load average up to ~19 on 2 cores), so CPU-minutes, not wall time, are the cost.\n\n"
          + md_table(["row", "Set5 PSNR", "Set14 PSNR", "Δ Set5", "Δ Set14", "CPU-min (make)", "CPU-min (eval)"],
                     rows)
          + "\n\nAchieved budgets: " + "; ".join(achieved) + ". 60 recovery iterations is a tiny budget "
          "(the issue allows up to 2 h per model; the deadline did not): the drops are far from the 0.2 dB bar, "
          "and the random-init row only shows that 60 iterations train nothing from scratch, not the "
          "issue's equal-budget comparison at a realistic budget. One seed."
          + f"\n\nCommands (recovery: kd from the unpruned teacher, T91 patches {args.patch_size}², batch "
          f"{args.batch_size}):\n\n{cmds}\n")
    update_section(f"compression_{args.model}", md, cache)


if __name__ == "__main__":
    main()
