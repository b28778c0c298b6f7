"""Combined: pruned + QAT INT8 vs the FP32 teacher, both in OpenVINO, one chain per seed (issue 19's combined bar).

Per seed S (every step gets ``--seed S``): ``sr-compress prune`` (Taylor, ``--round-to``), recovery
``distill --init PRUNED --teacher ORIGINAL --method kd`` on T91, ``quantize --sensitivity --keep-float K
--speed-budget B`` (the measured choice of what stays in float, ``keep_float.json``), then ``quantize --qat
--keep-float-from`` that choice and ``validate`` of its export on Set5 + Set14. The teacher is exported
once (OpenVINO FP32 + plain PTQ INT8) and validated. Last, every seed's INT8 IR and the teacher's IRs
are timed in ONE process, interleaved (``int8_speed.py``'s measurement), and the speed-up of each seed's
IR over the teacher's FP32 IR is the median of per-round ratios.

The long steps (recovery, QAT) of all seeds run ``--jobs`` at a time, one thread each; the choice of
what stays in float times candidate IRs, so those steps run one at a time with nothing beside them.
CPU time is each child's own (``os.wait4``). Finished steps are reused from ``--work`` (never deleted).

    python benchmarks/combined_table.py --seeds 0,1,2 --jobs 3
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from _common import add_run_args, add_seed_args, command_line, data_root, pm, run_cli, write_results
from _results import machine_line, md_table

DATA = data_root()
T91 = str(DATA / "train/T91/HR")
SETS = f"{DATA / 'benchmarks/Set5'},{DATA / 'benchmarks/Set14'}"


def step(name: str, done: Path, cmd: list[str], d: Path, threads: int, cpu: dict[str, float]) -> None:
    """Run one CLI step unless its output exists; its CPU seconds go into ``cpu[name]`` (kept in d/cpu.json)."""
    cpu_file = d / "cpu.json"
    if done.exists():
        cpu.update(json.loads(cpu_file.read_text()) if cpu_file.is_file() else {})
        return
    d.mkdir(parents=True, exist_ok=True)
    cpu[name] = run_cli(cmd, d / "commands.log", threads=threads)
    old = json.loads(cpu_file.read_text()) if cpu_file.is_file() else {}
    cpu_file.write_text(json.dumps({**old, name: cpu[name]}, indent=2))
    print(f"{d.name} {name}: {cpu[name] / 60:.1f} CPU-min", flush=True)


def recover(seed: int, args: argparse.Namespace, cpu: dict[str, float]) -> None:
    d = args.work / f"s{seed}"
    s = ["--seed", str(seed)]
    step("prune", d / "p/pruned.pth", ["prune", args.teacher, "--macs", args.macs, "--round-to", args.round_to,
                                       "--data", T91, *s, "--out", d / "p"], d, 1, cpu)
    step("recovery", d / "kd/student.pth",
         ["distill", "--init", d / "p/pruned.pth", "--teacher", args.teacher, "--method", "kd", "--data", T91,
          "-n", args.recovery_iterations, "--batch-size", 8, "--patch-size", 32, "--lr", 2e-4, *s,
          "--checkpoint-every", args.recovery_iterations, "--no-progress", "--out", d / "kd"], d, args.job_threads, cpu)


def choose(seed: int, args: argparse.Namespace, cpu: dict[str, float]) -> None:
    d = args.work / f"s{seed}"
    step("keep_float", d / "kf/keep_float.json",
         ["quantize", d / "kd/student.pth", "--sensitivity", "--keep-float", args.keep_float, "--speed-budget",
          args.speed_budget, "--data", T91, "--seed", seed, *placement(args), "--out", d / "kf"], d, 2, cpu)


def placement(args: argparse.Namespace) -> list[str]:
    """The quantizer placement flags, the same for the float choice and QAT (IMDN: ptq + equalize)."""
    return ["--placement", args.placement, *(["--equalize", args.equalize] if args.equalize else [])]


def qat(seed: int, args: argparse.Namespace, cpu: dict[str, float]) -> None:
    d = args.work / f"s{seed}"
    step("qat", d / "qat/export/manifest.json",
         ["quantize", d / "kd/student.pth", "--qat", "--keep-float-from", d / "kf/keep_float.json", "--data", T91,
          "-n", args.qat_iterations, "--seed", seed, *placement(args), "--force", "--out", d / "qat"], d,
         args.job_threads, cpu)
    step("validate", d / "qat/export/validation.json", ["validate", d / "qat/export", "--data", SETS], d, 2, cpu)


def teacher(args: argparse.Namespace, cpu: dict[str, float]) -> None:
    d = args.work / "teacher"
    step("export", d / "ir/manifest.json", ["export", args.teacher, "--out", d / "ir", "--openvino", "--precision",
                                            "fp32,int8", "--no-onnx", "--force"], d, 2, cpu)
    step("validate", d / "ir/validation.json", ["validate", d / "ir", "--data", SETS], d, 2, cpu)


def in_parallel(fn: Callable[..., None], seeds: list[int], args: argparse.Namespace,
                cpu: dict[int, dict[str, float]]) -> None:
    with ThreadPoolExecutor(args.jobs) as pool:
        for f in [pool.submit(fn, s, args, cpu[s]) for s in seeds]:
            f.result()


def speeds(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Median ms of every IR and its speed vs the teacher's FP32 IR (median of per-round ratios), one process."""
    from int8_speed import load, measure, paired_speed

    t = args.work / "teacher/ir"
    specs = [f"teacher FP32={t}:openvino-fp32", f"teacher PTQ INT8={t}:openvino-int8"]
    specs += [f"seed {s}={args.work / f's{s}/qat/export'}:openvino-int8" for s in args.seeds]
    loaded = [load(spec, 2) for spec in specs]
    x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
    times = measure([(n, r) for n, r, _ in loaded], x, args.rounds, 3)
    ref = times["teacher FP32"]
    return {n: {"median_ms": float(np.median(times[n])) * 1e3, "speed_vs_fp32": paired_speed(ref, times[n])}
            for n, _, _ in loaded}


def psnrs(export_dir: Path) -> dict[str, dict[str, float]]:
    """{artifact: {set: PSNR-Y}} and the PyTorch reference under ``"pytorch"``, from validation.json."""
    v = json.loads((export_dir / "validation.json").read_text())
    out = {"pytorch": {ds: float(r["psnr"]) for ds, r in v["reference"].items()}}
    for a in v["artifacts"]:
        out[a["name"]] = {ds: float(r["psnr"]) for ds, r in a["datasets"].items()}
    return out


def seed_row(s: int, args: argparse.Namespace, ref: dict[str, float], sp: dict[str, Any],
             cpu: dict[str, float]) -> dict[str, Any]:
    d = args.work / f"s{s}"
    q = psnrs(d / "qat/export")
    prune = json.loads((d / "p/prune.json").read_text())
    return {"seed": s, "macs_ratio": prune["macs_after"] / prune["macs_before"],
            "kept_float": json.loads((d / "kf/keep_float.json").read_text())["kept"],
            "student_fp32": q["pytorch"], "int8_ir": q["openvino-int8"],
            "delta_ir": {ds: q["openvino-int8"][ds] - ref[ds] for ds in ref},
            "speed_vs_fp32": sp[f"seed {s}"]["speed_vs_fp32"][1], "speed_quartiles": sp[f"seed {s}"]["speed_vs_fp32"],
            "cpu_min": {k: round(v / 60, 1) for k, v in cpu.items()}}


def _delta(psnr: dict[str, float], ref: dict[str, float]) -> list[str]:
    return [f"{psnr[ds] - ref[ds]:+.3f}" if psnr is not ref else "" for ds in ("Set5", "Set14")]


def _row(name: str, macs: str, n_float: Any, psnr: dict[str, float], ref: dict[str, float], speed: float,
         fp32: dict[str, float] | None = None, cpu: str = "") -> list[Any]:
    pruned = " / ".join(_delta(fp32, ref)) if fp32 else ""
    return [name, macs, n_float, pruned, f"{psnr['Set5']:.3f}", f"{psnr['Set14']:.3f}", *_delta(psnr, ref),
            f"{speed:.2f}", cpu]


def report(args: argparse.Namespace, cpu: dict[int, dict[str, float]], sp: dict[str, Any]) -> None:
    t = psnrs(args.work / "teacher/ir")
    ref = t["openvino-fp32"]
    runs = [seed_row(s, args, ref, sp, cpu[s]) for s in args.seeds]
    rows = [_row("teacher FP32 IR", "1.000", "", ref, ref, 1.0),
            _row("teacher PTQ INT8 IR", "1.000", "", t["openvino-int8"], ref, sp["teacher PTQ INT8"]["speed_vs_fp32"][1])]
    for r in runs:
        cost = " + ".join(f"{k} {v}" for k, v in r["cpu_min"].items() if k in ("recovery", "keep_float", "qat"))
        rows.append(_row(f"pruned + QAT INT8 IR, seed {r['seed']}", f"{r['macs_ratio']:.3f}", len(r["kept_float"]),
                         r["int8_ir"], ref, r["speed_vs_fp32"], r["student_fp32"], cost))
    delta = {ds: [r["delta_ir"][ds] for r in runs] for ds in ("Set5", "Set14")}
    rows.append(["**mean ± std over seeds**", "", "", "", "", "", pm(delta["Set5"], 3), pm(delta["Set14"], 3), pm([r["speed_vs_fp32"] for r in runs], 2), ""])
    md = (f"{machine_line()}\n\nCommand: `{command_line('combined_table.py')}`\n\nTeacher `{Path(args.teacher).name}`;"
          f" per seed: Taylor pruning to {args.macs} MACs (channels multiples of {args.round_to}), kd recovery "
          f"{args.recovery_iterations} it x batch 8 of 32² T91 LR patches (lr 2e-4), of the {args.keep_float} most "
          f"sensitive quantizers those that keep >= {args.speed_budget:.0%} of INT8 speed in float (measured), QAT "
          f"{args.qat_iterations} it on T91 (labels from the pruned FP32 student). Set5 / Set14 x4 PSNR-Y from "
          "`sr-compress validate`; Δ = the row − the teacher's FP32 IR (dB); pruned FP32 Δ: the recovered student "
          "before QAT (PyTorch FP32, validate's reference), so QAT's own share is the difference. Speed: LR "
          f"{args.size}², batch 1, 2 threads, {args.rounds} interleaved rounds, all IRs in one process, median of "
          "per-round ratios to the teacher FP32 IR. CPU-min per step (recovery + float choice + QAT), "
          f"{args.job_threads} thread(s) each, up to {args.jobs} side by side. Quantizer placement: `{' '.join(map(str, placement(args)))}`.\n\n"
          + md_table(["model", "MACs", "float quantizers", "pruned FP32 Δ (PyTorch)", "Set5", "Set14", "Set5 Δ", "Set14 Δ",
                      "speed vs FP32 teacher", "CPU-min"], rows) + "\n")
    write_results(args, md, {"teacher": t, "speed": sp, "runs": runs})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default=str(DATA / "weights/RLFN/rlfn_x4.pth"))
    ap.add_argument("--macs", type=float, default=0.75)
    ap.add_argument("--round-to", type=int, default=4)
    ap.add_argument("--recovery-iterations", type=int, default=4800)
    ap.add_argument("--keep-float", type=int, default=8, help="candidates for float (the most sensitive K)")
    ap.add_argument("--speed-budget", type=float, default=0.9)
    ap.add_argument("--qat-iterations", type=int, default=2400)
    ap.add_argument("--jobs", type=int, default=3, help="recovery / QAT runs side by side (--job-threads each)")
    ap.add_argument("--job-threads", type=int, default=1, help="threads of each recovery / QAT run")
    ap.add_argument("--placement", choices=["arch", "ptq"], default="arch", help="sr-compress quantize --placement")
    ap.add_argument("--equalize", type=float, default=0.0, help="sr-compress quantize --equalize (0: off)")
    ap.add_argument("--size", type=int, default=128, help="LR side of the speed measurement")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/combined_table"))
    add_seed_args(ap)
    add_run_args(ap, "combined_rlfn", budget=False)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cpu: dict[int, dict[str, float]] = {s: {} for s in args.seeds}
    in_parallel(recover, args.seeds, args, cpu)
    teacher(args, {})
    for s in args.seeds:  # times candidate IRs: nothing beside it
        choose(s, args, cpu[s])
    in_parallel(qat, args.seeds, args, cpu)
    report(args, cpu, speeds(args))


if __name__ == "__main__":
    main()
