"""Pareto picture for RLFN x4: teacher and pruned(+kd) student, each FP32 / plain-PTQ INT8 OpenVINO.

Exports, validates (Set5 + Set14 x4) and benches (256x256, batch 1, 2 threads) every checkpoint,
then runs ``sr-compress report`` with bicubic as reference and writes the table + PNG into
RESULTS.md. Needs the student of ``compression_table.py`` (its ``--work`` directory).

    python benchmarks/compression_pareto.py
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from _results import machine_line, update_section
from compression_table import CLI, DATA, SETS, run

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--table-work", type=Path, default=Path("/tmp/compression_table/rlfn"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/compression_pareto"))
    args = ap.parse_args()
    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    log = w / "commands.log"
    models = {"teacher": DATA / "weights/RLFN/rlfn_x4.pth", "pruned075_kd": args.table_work / "p75_kd/student.pth"}
    t0 = time.time()
    dirs = []
    for name, ckpt in models.items():
        d = w / name
        if not (d / "bench.json").is_file():
            shutil.rmtree(d, ignore_errors=True)
            run([*CLI, "export", str(ckpt), "--out", str(d), "--no-onnx", "--openvino", "--precision", "fp32,int8"], log)
            run([*CLI, "validate", str(d), "--data", SETS, "--threads", "2"], log)
            run([*CLI, "bench", str(d), "--size", "256x256", "--batch", "1", "--runs", "5", "--threads", "2",
                 "--no-compile", "--json", str(d / "bench.json")], log)
        dirs.append(str(d))
    bic = w / "bicubic.json"
    if not bic.is_file():
        run([*CLI, "eval", "--model", "bicubic", "--data", SETS, "--scale", "4", "--json", str(bic)], log)
    run([*CLI, "report", *dirs, str(bic), "--out", str(w / "report")], log)
    (HERE / "results").mkdir(exist_ok=True)
    shutil.copy(w / "report/pareto.png", HERE / "results/compression_pareto_rlfn.png")
    md = ((w / "report/pareto.md").read_text())
    cmds = "".join(f"    {ln[2:]}" for ln in log.read_text().splitlines(keepends=True) if ln.startswith("$ "))
    update_section("compression_pareto_rlfn", (
        "### Pareto, RLFN x4 (`python benchmarks/compression_pareto.py`)\n\n"
        f"{machine_line()}; wall {time.time() - t0:.0f} s; latency = `sr-compress bench` median, 256x256 LR, "
        "batch 1, 2 threads, on a machine shared with 7 other engineers (numbers are noisy). INT8 = plain NNCF "
        f"PTQ (`export --precision int8`); no QAT row (not shipped).\n\n{md}\n"
        "![pareto](results/compression_pareto_rlfn.png)\n\nCommands:\n\n" + cmds))


if __name__ == "__main__":
    main()
