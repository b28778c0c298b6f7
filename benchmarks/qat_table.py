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
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import command_line, data_root, int_list, run_cli, str_list
from _results import machine_line, md_table, update_section

SHARED = data_root()


def step(work: Path, name: str, done: Path, args: list[str], cpu: dict[str, float]) -> None:
    if not done.exists():
        t = time.time()
        cpu[name] = run_cli(args, work / f"{name}.log", threads=2)
        print(f"{name}: {time.time() - t:.0f} s wall, {cpu[name]} s CPU", flush=True)


def validation(d: Path) -> dict[str, Any]:
    return json.loads((d / "validation.json").read_text())


def qat_runs(args: argparse.Namespace) -> dict[str, list[str]]:
    t91 = ["--data", str(SHARED / "train" / "T91" / "HR")]
    runs = {"qat_t91": t91, "qat_default": []}
    sb = ["--speed-budget", str(args.speed_budget)] if args.speed_budget else []
    suffix = f"_sb{round(100 * args.speed_budget)}" if args.speed_budget else ""
    for k in args.keep_float:
        runs[f"qat_t91_kf{k}{suffix}"] = [*t91, "--keep-float", str(k), *sb]
    for k in args.default_keep_float:
        runs[f"qat_default_kf{k}{suffix}"] = ["--keep-float", str(k), *sb]
    for k in args.default_same_float:  # the float set the T91 row chose, so the two rows differ only in data
        runs[f"qat_default_kf{k}{suffix}"] = ["--keep-float-from", str(Path(args.work) / f"qat_t91_kf{k}{suffix}" /
                                                                    ("keep_float.json" if sb else "qat_options.json"))]
    if args.only:  # a longer-budget table need not repeat every row of the short one
        unknown = set(args.only) - set(runs)
        if unknown:
            raise SystemExit(f"--only: no such row {sorted(unknown)}; rows: {sorted(runs)}")
        runs = {n: extra for n, extra in runs.items() if n in args.only}
    return runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=str(SHARED / "weights" / "RLFN" / "rlfn_x4.pth"))
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--work", default="/tmp/sr_qat_table")
    ap.add_argument("--section", default="qat_table")
    ap.add_argument("--max-drop", type=float, default=0.1,
                    help="NNCF accuracy-control row with this max drop (dB, default held-out images); 0: no row")
    ap.add_argument("--keep-float", type=int_list, default=[],
                    help="Also a T91 QAT row per K (comma list) with the K most sensitive quantizers in float")
    ap.add_argument("--default-keep-float", type=int_list, default=[],
                    help="The same rows with labels from the embedded default images only")
    ap.add_argument("--default-same-float", type=int_list, default=[],
                    help="Default-images rows that keep in float what the T91 row with that K chose")
    ap.add_argument("--speed-budget", type=float, default=0.0,
                    help="keep-float rows keep only those of the K that leave >= this fraction of INT8 speed")
    ap.add_argument("--placement", choices=["arch", "ptq"], default="arch",
                    help="sr-compress quantize --placement of every QAT row")
    ap.add_argument("--equalize", type=float, default=0.0,
                    help="sr-compress quantize --equalize of every QAT row (0: off)")
    ap.add_argument("--only", type=str_list, default=[],
                    help="Run only these QAT rows (comma list of row names, e.g. qat_t91,qat_t91_kf8)")
    args = ap.parse_args()
    runs = qat_runs(args)  # first: a wrong --only fails before minutes of PTQ export
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu_file = work / "cpu.json"
    cpu: dict[str, float] = json.loads(cpu_file.read_text()) if cpu_file.exists() else {}
    bench = [str(SHARED / "benchmarks" / "Set5"), str(SHARED / "benchmarks" / "Set14")]
    data_args = [a for b in bench for a in ("--data", b)]
    step(work, "export_ptq", work / "ptq" / "manifest.json",
         ["export", args.weights, "--out", str(work / "ptq"), "--openvino", "--precision", "fp32,int8",
          "--no-onnx", "--force"], cpu)
    dirs = {"ptq": work / "ptq"}
    if args.max_drop > 0:
        step(work, "export_ac", work / "ac" / "manifest.json",
             ["export", args.weights, "--out", str(work / "ac"), "--openvino", "--precision", "int8", "--no-onnx",
              "--max-drop", str(args.max_drop), "--force"], cpu)
        dirs["ac"] = work / "ac"
    qat_common = ["-n", str(args.iterations), "--batch-size", str(args.batch_size), "--placement", args.placement,
                  *(["--equalize", str(args.equalize)] if args.equalize else []), "--force"]
    todo = {n: extra for n, extra in runs.items() if not (work / n / "export" / "manifest.json").exists()}
    # the QAT runs are independent: two side by side, one thread each (CPU time is per process);
    # a single run gets both threads
    threads = 2 if len(todo) == 1 else 1
    with ThreadPoolExecutor(2) as pool:
        futs = {n: pool.submit(run_cli, ["quantize", args.weights, "--qat", "--out", str(work / n), *extra,
                                         *qat_common], work / f"{n}.log", threads) for n, extra in todo.items()}
        for n, f in futs.items():
            cpu[n] = f.result()
            print(f"{n}: {cpu[n]} s CPU", flush=True)
    dirs.update({n: work / n / "export" for n in runs})
    for name, d in dirs.items():
        step(work, f"validate_{name}", d / "validation.json", ["validate", str(d), *data_args], cpu)
    for name, d in dirs.items():
        step(work, f"bench_{name}", work / f"bench_{name}.json",
             ["bench", str(d), "--size", "128x128", "--batch", "1", "--runs", "10", "--threads", "2",
              "--no-compile", "--artifact", "openvino-int8", "--json", str(work / f"bench_{name}.json")], cpu)
    cpu_file.write_text(json.dumps(cpu, indent=2))
    fq_file = work / "fake_quant.json"
    fq = json.loads(fq_file.read_text()) if fq_file.exists() else {}
    for name in runs:
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


def label(name: str) -> str:
    fixed = {"ptq": "plain PTQ (NNCF, 64 default-image patches)", "qat_t91": "QAT, T91 patches",
             "qat_default": "QAT, embedded default images only"}
    if name == "ac":
        return "NNCF accuracy control (PTQ, layers back to float until the drop fits)"
    for prefix, data in (("qat_t91_kf", "T91 patches"), ("qat_default_kf", "embedded default images only")):
        if name.startswith(prefix):
            k, _, sb = name.removeprefix(prefix).partition("_sb")
            if sb:
                return (f"QAT, {data}, of the {k} most sensitive quantizers those that keep >= {sb} % of INT8 "
                        "speed (measured) in float")
            return f"QAT, {data}, {k} most sensitive quantizers in float"
    return fixed[name]


def step_of(name: str) -> str:
    return {"ptq": "export_ptq", "ac": "export_ac"}.get(name, name)


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
            rows.append([label(name), "fake-quant PyTorch", ds, db, v["reference"][ds]["psnr"] - db, None, None])
        for art in v["artifacts"]:
            for ds, r in art["datasets"].items():
                rows.append([label(name), art["name"], ds, r["psnr"], r["drop_db"], _bench_ms(work, name, art["name"]),
                             cpu.get(step_of(name))])
        data[name] = {"reference": {k: {"psnr": x["psnr"], "ssim": x["ssim"]} for k, x in v["reference"].items()},
                      "artifacts": [{"name": a["name"], "datasets": {k: {kk: x[kk] for kk in ("psnr", "ssim", "drop_db",
                                                                                            "psnr_vs_ref")}
                                                                    for k, x in a["datasets"].items()}}
                                    for a in v["artifacts"]]}
        m = json.loads((d / "manifest.json").read_text())
        data[name]["keep_float"] = (m.get("provenance") or {}).get("keep_float", [])
        kf_file = work / name / "keep_float.json"
        if kf_file.exists():
            data[name]["keep_float_tries"] = json.loads(kf_file.read_text())["tries"]
        data[name]["vs_fake_quant_psnr_db"] = {a["name"]: a["settings"].get("vs_fake_quant_psnr_db")
                                               for a in m["artifacts"]}
    arch = json.loads((work / "ptq" / "manifest.json").read_text())["arch"].upper()
    md = (f"{machine_line()}\n\n{arch} x4 (`{Path(args.weights).name}`), Set5 + Set14 x4, "
          "PSNR-Y dB from `sr-compress validate`, drop vs the PyTorch FP32 reference. QAT: "
          f"{args.iterations} iterations x batch {args.batch_size} of 48x48 LR patches, L1 to the FP32 outputs, "
          "weights lr 3e-5, quantizer lr 1e-2 (cosine), input quantizer initialised to the exact pixel range, "
          "activation ranges initialised by min/max over the calibration patches (`--range-estimator minmax`). "
          "This CPU has AVX2 but no VNNI, so every INT8 artifact here (PTQ and QAT) uses 7-bit weights "
          "(`--overflow-fix auto`, docs/compression.md: 8-bit weights saturate the INT8 kernels here). "
          "The fake-quant rows are the PyTorch model the artifacts were exported from. Latency: `sr-compress "
          "bench` LR 128x128 batch 1, 2 threads, one process per export directory minutes apart on a shared "
          "machine: compare speeds with the `int8_speed_*` sections (one process, interleaved). CPU s: the "
          "step that made the artifact (PTQ export; QAT = calibration + training + export), user+sys.\n\n"
          f"Command: `{command_line('qat_table.py')}`\n\n")
    md += md_table(["model", "artifact", "set", "PSNR-Y", "drop dB", "latency ms", "CPU s"], rows)
    md += "\n"
    update_section(args.section, md, data)
    print(md)


if __name__ == "__main__":
    main()
