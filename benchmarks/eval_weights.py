"""Evaluate bicubic and every pretrained checkpoint in shared/data/weights against published numbers.

    flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/eval_weights.py [--sets Set5,Set14]

For each checkpoint: load it with ``sr_compress.models.load.load_model`` (checkpoints that do not load yet
are listed with the reason), run it on the whole LR image (torch, CPU), and measure PSNR/SSIM under our
protocol (Y BT.601, crop = scale, uint8 rounding; BasicSR convention). Published Set5 (and Set14 where
known) values come from the papers / official logs named in the ``source`` column; the acceptance target is
|Δ| <= 0.05 dB on Set5. Writes the ``eval_weights`` section of benchmarks/RESULTS.md and
benchmarks/results/eval_weights.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import RESULTS_DIR, machine_line, md_table, update_section  # noqa: E402
from sr_compress.data.datasets import load_benchmark  # noqa: E402
from sr_compress.evaluate.sr_eval import (  # noqa: E402
    evaluate_model,
    torch_upscale_fn,
    y_domain_bicubic_baseline,
)


@dataclass
class Entry:
    name: str
    file: str  # relative to shared/data/weights
    scale: int
    published: dict[str, float] = field(default_factory=dict)  # dataset -> PSNR
    source: str = ""


_IMDN = "IMDN paper (ACM MM'19) Table 3"
_PAN = "PAN repo logs results/PANx{s}_DF2K (SOURCES.md)"
_RLFN = "RLFN paper (CVPRW'22) Table 1"
_RECALLED = " — recalled, not re-verified offline"
# the README of nmhkahn/CARN-pytorch says the released checkpoints were retrained (batch/patch 64, group
# conv in the upsampler instead of the paper's 1x1 "reduce_upsample"), so the paper's numbers are for an
# earlier model; the README's updated table is an image, not readable offline
_CARN = "CARN paper (ECCV'18) Table 2, for the paper's model (the released file was retrained)" + _RECALLED

ENTRIES = [
    Entry("IMDN", "IMDN/IMDN_x2.pth", 2, {"Set5": 38.00, "Set14": 33.63}, _IMDN),
    Entry("IMDN", "IMDN/IMDN_x3.pth", 3, {"Set5": 34.36, "Set14": 30.32}, _IMDN),
    Entry("IMDN", "IMDN/IMDN_x4.pth", 4, {"Set5": 32.21, "Set14": 28.58}, _IMDN),
    Entry("IMDN-RTC", "IMDN/model_RTC.pth", 2, {}, "AIM 2019 constrained-SR entry; no Set5 published"),
    Entry("IMDN-RTE", "IMDN/model_RTE.pth", 2, {}, "AIM 2019 constrained-SR entry; no Set5 published"),
    Entry("PAN", "PAN/PANx2_DF2K.pth", 2, {"Set5": 38.0007, "Set14": 33.5927}, _PAN.format(s=2)),
    Entry("PAN", "PAN/PANx3_DF2K.pth", 3, {"Set5": 34.4003, "Set14": 30.3553}, _PAN.format(s=3)),
    Entry("PAN", "PAN/PANx4_DF2K.pth", 4, {"Set5": 32.1311, "Set14": 28.6107}, _PAN.format(s=4)),
    Entry("RLFN", "RLFN/rlfn_x2.pth", 2, {"Set5": 38.07, "Set14": 33.72}, _RLFN),
    Entry("RLFN", "RLFN/rlfn_x4.pth", 4, {"Set5": 32.24, "Set14": 28.62}, _RLFN),
    Entry("RLFN-S", "RLFN/rlfn_s_x2.pth", 2, {"Set5": 38.05}, _RLFN + _RECALLED),
    Entry("RLFN-S", "RLFN/rlfn_s_x4.pth", 4, {"Set5": 32.23}, _RLFN + _RECALLED),
    Entry("RLFN (NTIRE22)", "RLFN/rlfn_ntire_x4.pth", 4, {}, "NTIRE 2022 ESR entry; only DIV2K-val published"),
    Entry("RFDN (AIM20)", "RFDN/RFDN_AIM.pth", 4, {},
          "AIM 2020 entry (4 RFDB, 50 ch); the paper's 32.24 is the 6-block 550K RFDN, not this file"),
    Entry("CARN-M", "CARN/carn_m.pth", 2, {"Set5": 37.53, "Set14": 33.26}, _CARN),
    Entry("CARN-M", "CARN/carn_m.pth", 3, {"Set5": 33.99, "Set14": 30.08}, _CARN),
    Entry("CARN-M", "CARN/carn_m.pth", 4, {"Set5": 31.92, "Set14": 28.42}, _CARN),
    Entry("FMEN (NTIRE22)", "NTIRE2022_ESR/team03_fmen.pth", 4, {},
          "NTIRE 2022 ESR entry; no Set5 value for this variant found offline"),
    Entry("BSRN-S", "NTIRE2022_ESR/team18_bsrn.pth", 4, {},
          "NTIRE 2022 ESR entry; the BSRN paper's Set5 table is for the 352K BSRN, no BSRN-S Set5 value "
          "found in the repo or paper text available offline"),
    Entry("CRAFT", "CRAFT/ntire2024_team34_craft_x4.pth", 4, {"Set5": 32.52, "Set14": 28.85},
          "CRAFT paper (ICCV'23) for the official weights; this NTIRE24 file is not verified identical"),
    Entry("DCTLSA", "DCTLSA/DCTLSA_X2.pt", 2, {}, "IEEE TIM'23; value not available offline"),
    Entry("DCTLSA", "DCTLSA/DCTLSA_X3.pt", 3, {}, "IEEE TIM'23; value not available offline"),
    Entry("DCTLSA", "DCTLSA/DCTLSA_X4.pt", 4, {}, "IEEE TIM'23; value not available offline"),
]

# The classic "Bicubic" row (VDSR CVPR'16 Table 3; same in EDSR, RCAN, IMDN, ...).
PUBLISHED_BICUBIC = {("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
                     ("Set14", 2): 30.24, ("Set14", 3): 27.55, ("Set14", 4): 26.00}


def _shared() -> Path:
    env = os.environ.get("SR_COMPRESS_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def _fmt(v: float | None, nd: int = 2) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def _delta(ours: float | None, pub: float | None) -> str:
    if ours is None or pub is None:
        return "—"
    d = ours - pub
    return f"{d:+.3f}" + (" ✓" if abs(d) <= 0.05 else " ✗")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="Set5,Set14", help="benchmark sets (folders under shared/data/benchmarks)")
    ap.add_argument("--only", default=None, help="evaluate only entries whose file contains this text")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=600.0,
                    help="stop starting new evaluations after this many seconds (the CPU is shared)")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the (checkpoint, set) and bicubic results already in benchmarks/results/"
                         "eval_weights.json and measure only the missing ones (to finish a budgeted run)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    data = _shared()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    benches: dict[tuple[str, int], object] = {}
    measured = 0  # evaluations run by this invocation (a pure --reuse re-render adds no wall time)
    prev_ckpt: dict[tuple[str, int], dict] = {}
    prev_bic: dict[tuple[str, int], dict] = {}
    prev_wall = 0.0
    prev_json = RESULTS_DIR / "eval_weights.json"
    if args.reuse and prev_json.is_file():
        old = json.loads(prev_json.read_text())
        prev_ckpt = {(c["file"], c["scale"]): c for c in old.get("checkpoints", [])}
        for c in prev_ckpt.values():  # older files kept only a per-checkpoint total: spread it so sums stay exact
            for r in c.get("results", {}).values():
                r.setdefault("seconds", round(float(c.get("seconds", 0.0)) / max(1, len(c["results"])), 1))
        prev_bic = {(b["dataset"], b["scale"]): b for b in old.get("bicubic", [])}
        prev_wall = float(old.get("wall_s_total", old.get("wall_s", 0.0)))

    def bench(name: str, scale: int):
        key = (name, scale)
        if key not in benches:
            benches[key] = load_benchmark(data / "benchmarks" / name, scale)
        return benches[key]

    # ---------------- bicubic: our protocol vs the classic Y-domain computation
    bic_rows, bic_json = [], []
    for s in (2, 3, 4):
        for name in ("Set5", "Set14"):
            if name not in sets:
                continue
            pub = PUBLISHED_BICUBIC.get((name, s))
            old_b = prev_bic.get((name, s))
            if old_b is not None:
                ours, legacy = {"psnr": old_b["ours"], "ssim": old_b["ours_ssim"]}, {"psnr": old_b["y_domain"]}
            else:
                measured += 1
                ours = evaluate_model("bicubic", bench(name, s), s, progress=False)
                legacy = y_domain_bicubic_baseline(data / "benchmarks" / name, s)
            bic_rows.append([name, f"x{s}", f"{ours['psnr']:.3f}", f"{ours['ssim']:.4f}", f"{legacy['psnr']:.3f}",
                             _fmt(pub), _delta(legacy["psnr"], pub),
                             f"{ours['psnr'] - (pub or 0):+.3f}" if pub else "—"])
            bic_json.append({"dataset": name, "scale": s, "ours": ours["psnr"], "ours_ssim": ours["ssim"],
                             "y_domain": legacy["psnr"], "published": pub})
            print(f"bicubic {name} x{s}: ours {ours['psnr']:.3f}  y-domain {legacy['psnr']:.3f}  published {pub}",
                  flush=True)

    # ---------------- checkpoints: Set5 for every checkpoint first (the acceptance set), then the other sets,
    # stopping when the time budget is spent (the CPU is shared)
    from sr_compress.models.load import load_model

    entries = [e for e in ENTRIES if not args.only or args.only in e.file]
    descs: dict[int, object] = {}
    skipped: list[list[str]] = []
    per_entry: dict[int, dict] = {i: {} for i in range(len(entries))}
    secs: dict[int, float] = dict.fromkeys(range(len(entries)), 0.0)
    not_run: list[str] = []
    for name in sets:
        for i, e in enumerate(entries):
            label = f"{e.name} x{e.scale}"
            old_c = prev_ckpt.get((e.file, e.scale), {}).get("results", {}).get(name)
            if old_c is not None:
                per_entry[i][name] = old_c
                secs[i] += float(old_c.get("seconds", 0.0))
                old_c = True
            if time.perf_counter() - t_start > args.budget_s and old_c is None:
                not_run.append(f"{label} {name}")
                continue
            if i not in descs:
                path = data / "weights" / e.file
                if not path.is_file():
                    skipped.append([label, e.file, "file missing"])
                    descs[i] = None
                    continue
                try:
                    descs[i] = load_model(path, scale=e.scale)
                except Exception as err:  # noqa: BLE001 - report any loader failure and go on
                    msg = str(err).splitlines()[0]
                    skipped.append([label, e.file, f"{type(err).__name__}: {msg[:140]}"])
                    print(f"skip {label}: {msg[:160]}", flush=True)
                    descs[i] = None
                    continue
            desc = descs[i]
            if desc is None or old_c is True:
                continue
            try:
                b = bench(name, e.scale)
            except Exception as err:  # noqa: BLE001 - e.g. no X3 for a set
                print(f"  {name} x{e.scale}: {err}", flush=True)
                continue
            t0 = time.perf_counter()
            r = evaluate_model(torch_upscale_fn(desc), b, e.scale, progress=False)
            dt = time.perf_counter() - t0
            measured += 1
            secs[i] += dt
            per_entry[i][name] = {"psnr": r["psnr"], "ssim": r["ssim"], "seconds": round(dt, 1),
                                  "images": {im["name"]: round(im["psnr"], 4) for im in r["images"]}}
            pub = e.published.get(name)
            print(f"{label:<18} {name:<6} {r['psnr']:.3f} / {r['ssim']:.4f}  published {_fmt(pub, 4)}  "
                  f"{_delta(r['psnr'], pub)}  [{time.perf_counter() - t0:.0f}s]", flush=True)

    rows, results = [], []
    for i, e in enumerate(entries):
        desc = descs.get(i)
        if desc is None:
            continue
        s5, s14 = per_entry[i].get("Set5", {}), per_entry[i].get("Set14", {})
        rows.append([
            e.name, f"x{e.scale}", f"`{e.file}`", desc.arch, f"{desc.params / 1e3:.0f}K",
            f"{_fmt(s5.get('psnr'), 3)} / {_fmt(s5.get('ssim'), 4)}",
            _fmt(e.published.get("Set5"), 4 if e.name == "PAN" else 2),
            _delta(s5.get("psnr"), e.published.get("Set5")),
            f"{_fmt(s14.get('psnr'), 3)} / {_fmt(s14.get('ssim'), 4)}",
            _fmt(e.published.get("Set14"), 4 if e.name == "PAN" else 2),
            _delta(s14.get("psnr"), e.published.get("Set14")),
            f"{secs[i]:.0f}", e.source,
        ])
        results.append({"name": e.name, "file": e.file, "scale": e.scale, "arch": desc.arch,
                        "params": desc.params, "published": e.published, "source": e.source,
                        "results": per_entry[i], "seconds": round(secs[i], 1)})

    wall = time.perf_counter() - t_start
    reused = bool(prev_ckpt or prev_bic)
    wall_total = (wall if measured or not reused else 0.0) + (prev_wall if reused else 0.0)
    md = [
        "## Pretrained checkpoints vs published PSNR (`benchmarks/eval_weights.py`)",
        "",
        f"Machine: {machine_line()}. Wall time {wall_total:.0f} s"
        + (f" (over several budgeted runs combined with `--reuse`; last run {wall:.0f} s)"
           if reused else "")
        + ". Protocol: PSNR/SSIM on Y (BT.601, 16–235, float Y), "
        "crop = scale, SR rounded to uint8, SSIM Gaussian 11×11 σ 1.5 (BasicSR convention); LR = the "
        "`LR_bicubic` files; whole-image inference on CPU. ✓ = within 0.05 dB of the published value.",
        "",
        "Command: `flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/eval_weights.py "
        f"--sets {','.join(sets)}` (add `--reuse` to only fill in what a budgeted run left out). "
        "`s` = seconds of CPU inference for that row (2 threads on a CPU shared with other jobs, so "
        "timings are indicative only).",
        "",
        "### Bicubic baseline",
        "",
        "`ours` = our protocol on the RGB `LR_bicubic` files; `Y-domain` = the computation behind the classic "
        "published row (SRCNN/VDSR scripts: bicubic down+up of the rounded Y channel in floating point; a "
        "gray image, Set14/bridge, used as Y without 16–235 scaling) — see docs/evaluation.md.",
        "",
        md_table(["set", "scale", "ours PSNR", "ours SSIM", "Y-domain PSNR", "published", "Δ Y-domain",
                  "Δ ours"], bic_rows),
        "",
        "### Checkpoints",
        "",
        md_table(["model", "scale", "file", "arch", "params", "Set5 PSNR / SSIM", "published Set5", "Δ Set5",
                  "Set14 PSNR / SSIM", "published Set14", "Δ Set14", "s", "published value from"], rows),
    ]
    md += ["", "✗ rows are not the paper's model: the CARN-M file was retrained after the paper (CARN-pytorch "
           "README), the CRAFT file is an NTIRE 2024 challenge entry, not the official release; details in "
           "docs/models.md. Rows without a published value: no figure for that exact file was found offline."]
    if skipped:
        md += ["", "Not evaluated (the loader does not handle them yet, or file missing):", "",
               md_table(["model", "file", "reason"], skipped)]
    if not_run:
        md += ["", "Not measured yet (the CPU budget of the runs so far ran out; rerun with `--reuse` to add "
               f"them): {', '.join(not_run)}."]
    update_section("eval_weights", "\n".join(md),
                   {"machine": machine_line(), "wall_s": round(wall, 1), "wall_s_total": round(wall_total, 1), "sets": sets, "bicubic": bic_json,
                    "checkpoints": results, "skipped": skipped, "not_run": not_run})
    print(f"wrote benchmarks/RESULTS.md (eval_weights) — wall time {wall:.0f} s")


if __name__ == "__main__":
    main()
