"""Pareto picture for RLFN x4: the teacher (FP32 / FP16 / PTQ INT8), QAT INT8, pruned(+kd) and pruned+QAT.

Checkpoints are exported (OpenVINO FP32 + PTQ INT8), validated (Set5 + Set14 x4) and benched
(``--size`` LR, batch 1, 2 threads); existing export directories (QAT exports from
``qat_table.py`` or ``sr-compress quantize --qat``) are validated/benched if they have not been.
Then ``sr-compress report`` joins them with bicubic as the reference point. Nothing in ``--work`` is
deleted; a finished directory is reused.

    python benchmarks/compression_pareto.py \\
        --checkpoint "pruned 0.75 + kd=/tmp/prune_curve/rlfn_m75/kd/student.pth" \\
        --export "QAT INT8=/tmp/qat_v2/qat_t91/export"
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from _common import RESULTS_DIR, add_run_args, command_line, data_root, run_cli, write_results
from _results import machine_line

DATA = data_root()
SETS = f"{DATA / 'benchmarks/Set5'},{DATA / 'benchmarks/Set14'}"


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label).strip("_").lower()


def finish(d: Path, size: int, log: Path) -> None:
    """Validate and bench an export directory unless it already was."""
    if not (d / "validation.json").is_file():
        run_cli(["validate", str(d), "--data", SETS, "--threads", "2"], log)
    if not (d / "bench.json").is_file():
        run_cli(["bench", str(d), "--size", f"{size}x{size}", "--batch", "1", "--runs", "5", "--threads", "2",
             "--no-compile", "--json", str(d / "bench.json")], log)


def pairs(items: list[str], flag: str) -> list[tuple[str, Path]]:
    out = []
    for it in items:
        label, sep, path = it.partition("=")
        if not sep:
            sys.exit(f"error: {flag} {it!r}: expected LABEL=PATH")
        out.append((label, Path(path)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", type=Path, default=DATA / "weights/RLFN/rlfn_x4.pth")
    ap.add_argument("--checkpoint", action="append", default=[], help="LABEL=CKPT to export (repeatable)")
    ap.add_argument("--export", action="append", default=[], help="LABEL=EXPORT_DIR already made (repeatable)")
    ap.add_argument("--size", type=int, default=128, help="bench LR side")
    ap.add_argument("--work", type=Path, default=Path("/tmp/compression_pareto_v2"))
    add_run_args(ap, "compression_pareto_rlfn")
    args = ap.parse_args()
    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    log = w / "commands.log"
    t0 = time.time()
    dirs = []
    for label, ckpt in [("teacher", args.teacher), *pairs(args.checkpoint, "--checkpoint")]:
        d = w / slug(label)
        if not (d / "manifest.json").is_file():
            precisions = "fp32,fp16,int8" if label == "teacher" else "fp32,int8"
            run_cli(["export", str(ckpt), "--out", str(d), "--no-onnx", "--openvino", "--precision", precisions,
                 "--force"], log)
        finish(d, args.size, log)
        dirs.append(str(d))
    for label, d in pairs(args.export, "--export"):
        finish(d, args.size, log)
        link = w / slug(label)  # the report labels points by folder name: give the export its label
        if not link.exists():
            link.symlink_to(d.resolve(), target_is_directory=True)
        dirs.append(str(link))
    bic = w / "bicubic.json"
    if not bic.is_file():
        run_cli(["eval", "--model", "bicubic", "--data", SETS, "--scale", "4", "--json", str(bic)], log)
    run_cli(["report", *dirs, str(bic), "--out", str(w / "report")], log)
    png = RESULTS_DIR / "compression_pareto_rlfn.png"
    shutil.copy(w / "report/pareto.png", png)
    labels = "; ".join(f"`{slug(lab)}` = {lab}" for lab, _ in
                       [("teacher", None), *pairs(args.checkpoint, ""), *pairs(args.export, "")])
    md = (f"{machine_line()}; wall {time.time() - t0:.0f} s. Command: `{command_line(Path(__file__).name)}`\n\n"
          f"Latency = `sr-compress bench` median, {args.size}x{args.size} LR, batch 1, 2 threads, one process per "
          "export directory on a shared machine (noisy: the `int8_speed_rlfn` section has fair ratios from one "
          f"process). Points: {labels}; `X: pytorch fp32` is the FP32 PyTorch model export X was made from. INT8 artifacts use 7-bit weights on this AVX2 CPU (overflow fix)."
          f"\n\n{(w / 'report/pareto.md').read_text()}\n![pareto](results/{png.name})\n")
    write_results(args, md, {"dirs": dirs})


if __name__ == "__main__":
    main()
