"""QAT INT8 vs FP32 vs plain PTQ INT8 on the real RLFN x4, Set5 + Set14 x4 (standard protocol).

    PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/qat_table.py --iterations 100

Rows: FP32 (PyTorch reference and OpenVINO FP32), plain NNCF PTQ INT8 (``sr-compress export
--openvino --precision fp32,int8``), QAT INT8 with T91 patches, QAT INT8 with the embedded default
images only (``sr-compress quantize --qat``). Each step is one CLI process whose CPU time is
recorded (``resource.getrusage`` of the children); ``validate`` gives PSNR-Y/SSIM and the drop vs
the PyTorch FP32 reference; ``bench`` times the INT8 IRs in one process each (LR 128x128, batch 1,
2 threads). Steps whose output exists are reused (delete --work to redo). Writes the ``qat_table``
section of benchmarks/RESULTS.md and results/qat_table.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import data_root
from _results import machine_line, md_table, update_section

ROOT = Path(__file__).resolve().parents[1]

SHARED = data_root()
CLI = [sys.executable, "-m", "sr_compress.cli"]


def run(args: list[str], log: Path) -> float:
    """Run one CLI step; return the CPU seconds it cost (user + sys of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "w") as fh:
        subprocess.run(CLI + args, check=True, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1)


def timed_proc(args: list[str], log: Path) -> float:
    """Like :func:`run`, but the child's own CPU time (safe when several run at once)."""
    with open(log, "w") as fh:
        p = subprocess.Popen(CLI + args, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
        _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed; see {log}")
    return round(usage.ru_utime + usage.ru_stime, 1)


def step(work: Path, name: str, done: Path, args: list[str], cpu: dict[str, float]) -> None:
    if not done.exists():
        t = time.time()
        cpu[name] = run(args, work / f"{name}.log")
        print(f"{name}: {time.time() - t:.0f} s wall, {cpu[name]} s CPU", flush=True)


def validation(d: Path) -> dict[str, Any]:
    return json.loads((d / "validation.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=str(SHARED / "weights" / "RLFN" / "rlfn_x4.pth"))
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--work", default="/tmp/sr_qat_table")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu_file = work / "cpu.json"
    cpu: dict[str, float] = json.loads(cpu_file.read_text()) if cpu_file.exists() else {}
    bench = [str(SHARED / "benchmarks" / "Set5"), str(SHARED / "benchmarks" / "Set14")]
    data_args = [a for b in bench for a in ("--data", b)]
    step(work, "export_ptq", work / "ptq" / "manifest.json",
         ["export", args.weights, "--out", str(work / "ptq"), "--openvino", "--precision", "fp32,int8",
          "--no-onnx", "--force"], cpu)
    qat_common = ["-n", str(args.iterations), "--batch-size", str(args.batch_size), "--force"]
    # the two QAT runs are independent: run them side by side (CPU time is still per process)
    qat_runs = {"qat_t91": ["--data", str(SHARED / "train" / "T91" / "HR")], "qat_default": []}
    todo = {n: extra for n, extra in qat_runs.items() if not (work / n / "export" / "manifest.json").exists()}
    with ThreadPoolExecutor(len(todo) or 1) as pool:
        futs = {n: pool.submit(timed_proc, ["quantize", args.weights, "--qat", "--out", str(work / n), *extra,
                                            *qat_common], work / f"{n}.log") for n, extra in todo.items()}
        for n, f in futs.items():
            cpu[n] = f.result()
            print(f"{n}: {cpu[n]} s CPU", flush=True)
    dirs = {"ptq": work / "ptq", "qat_t91": work / "qat_t91" / "export",
            "qat_default": work / "qat_default" / "export"}
    for name, d in dirs.items():
        step(work, f"validate_{name}", d / "validation.json", ["validate", str(d), *data_args], cpu)
    for name, d in dirs.items():
        step(work, f"bench_{name}", work / f"bench_{name}.json",
             ["bench", str(d), "--size", "128x128", "--batch", "1", "--runs", "10", "--threads", "2",
              "--no-compile", "--artifact", "openvino-int8", "--json", str(work / f"bench_{name}.json")], cpu)
    cpu_file.write_text(json.dumps(cpu, indent=2))
    fq_file = work / "fake_quant.json"
    fq = json.loads(fq_file.read_text()) if fq_file.exists() else {}
    for name in ("qat_t91", "qat_default"):
        if name not in fq:
            fq[name] = fake_quant_psnr(args.weights, work / name, bench)
            fq_file.write_text(json.dumps(fq, indent=2))
    report(work, dirs, cpu, args, fq)


def fake_quant_psnr(weights: str, run_dir: Path, sets: list[str]) -> dict[str, float]:
    """Set PSNR-Y of the fake-quant PyTorch model (what the exported IR/QDQ must reproduce)."""
    import copy

    import torch

    from sr_compress.compress.qat import load_qat
    from sr_compress.data.datasets import load_benchmark
    from sr_compress.evaluate.sr_eval import evaluate_model, torch_upscale_fn
    from sr_compress.models.load import load_model

    torch.set_num_threads(2)
    desc = load_model(weights)
    view = copy.copy(desc)
    view.model = load_qat(run_dir / "qat.pth", load_model(weights))
    out = {}
    for p in sets:
        b = load_benchmark(p, desc.scale)
        out[b.name] = float(evaluate_model(torch_upscale_fn(view), b, desc.scale, progress=False)["psnr"])
    return out


def _bench_ms(work: Path, name: str, artifact: str) -> float | None:
    p = work / f"bench_{name}.json"
    if not p.exists():
        return None
    for r in json.loads(p.read_text()).get("rows", []):
        if r.get("target") == artifact and "median_ms" in r:
            return round(float(r["median_ms"]), 1)
    return None


LABELS = {"ptq": "plain PTQ (NNCF, 64 default-image patches)", "qat_t91": "QAT, T91 patches",
          "qat_default": "QAT, embedded default images only"}
STEP = {"ptq": "export_ptq", "qat_t91": "qat_t91", "qat_default": "qat_default"}


def report(work: Path, dirs: dict[str, Path], cpu: dict[str, float], args: argparse.Namespace,
           fq: dict[str, dict[str, float]]) -> None:
    rows: list[list[Any]] = []
    data: dict[str, Any] = {"cpu_s": cpu, "iterations": args.iterations, "batch_size": args.batch_size,
                            "fake_quant_psnr": fq}
    for name, d in dirs.items():
        v = validation(d)
        if name == "ptq":
            for ds, r in v["reference"].items():
                rows.append(["FP32 (PyTorch reference)", "pytorch", ds, r["psnr"], 0.0, None, None])
        for ds, db in fq.get(name, {}).items():
            rows.append([LABELS[name], "fake-quant PyTorch", ds, db, v["reference"][ds]["psnr"] - db, None, None])
        for art in v["artifacts"]:
            for ds, r in art["datasets"].items():
                rows.append([LABELS[name], art["name"], ds, r["psnr"], r["drop_db"], _bench_ms(work, name, art["name"]),
                             cpu.get(STEP[name])])
        data[name] = {"reference": {k: {"psnr": x["psnr"], "ssim": x["ssim"]} for k, x in v["reference"].items()},
                      "artifacts": [{"name": a["name"], "datasets": {k: {kk: x[kk] for kk in ("psnr", "ssim", "drop_db",
                                                                                            "psnr_vs_ref")}
                                                                    for k, x in a["datasets"].items()}}
                                    for a in v["artifacts"]]}
        m = json.loads((d / "manifest.json").read_text())
        data[name]["vs_fake_quant_psnr_db"] = {a["name"]: a["settings"].get("vs_fake_quant_psnr_db")
                                               for a in m["artifacts"]}
    md = (f"{machine_line()}\n\nRLFN x4 (`{Path(args.weights).name}`), Set5 + Set14 x4, PSNR-Y dB from "
          "`sr-compress validate`, drop vs the PyTorch FP32 reference. QAT: "
          f"{args.iterations} iterations x batch {args.batch_size} of 48x48 LR patches, L1 to the FP32 outputs, "
          "weights lr 3e-5, quantizer lr 1e-2 (cosine), input quantizer initialised to the exact pixel range. "
          "This CPU has AVX2 but no VNNI, so every INT8 artifact here (PTQ and QAT) uses 7-bit weights "
          "(`--overflow-fix auto`, docs/compression.md: 8-bit weights saturate the INT8 kernels here). "
          "The fake-quant rows are the PyTorch model the artifacts were exported from. Latency: `sr-compress "
          "bench` LR 128x128 batch 1, 2 threads, one process per export directory minutes apart on a shared "
          "machine: compare speeds with the `int8_speed_rlfn` section (one process, interleaved). CPU s: the "
          "step that made the artifact (PTQ export; QAT = calibration + training + export), user+sys.\n\n"
          "Command: `python benchmarks/qat_table.py "
          f"--iterations {args.iterations}`\n\n")
    md += md_table(["model", "artifact", "set", "PSNR-Y", "drop dB", "latency ms", "CPU s"], rows)
    md += "\n"
    update_section("qat_table", md, data)
    print(md)


if __name__ == "__main__":
    main()
