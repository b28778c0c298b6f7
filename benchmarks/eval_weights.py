"""Evaluate bicubic and every pretrained checkpoint in shared/data/weights against published numbers.

    flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/eval_weights.py [--sets Set5,Set14]

For each checkpoint: load it with ``sr_compress.models.load.load_model`` (checkpoints that do not load yet
are listed with the reason), run it on the whole LR image (torch, CPU), and measure PSNR/SSIM under our
protocol (Y BT.601, crop = scale, uint8 rounding; BasicSR convention). Published Set5 (and Set14 where
known) values come from the papers / official logs named in the ``source`` column; the acceptance target is
|Δ| <= 0.05 dB on Set5. Writes the ``eval_weights`` section of benchmarks/RESULTS.md and
benchmarks/results/eval_weights.json (prose: benchmarks/templates/eval_weights.md).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from _common import (
    Budget,
    add_data_args,
    add_run_args,
    benchmark_set,
    evaluate,
    load_or_reason,
    machine_line,
    md_table,
    read_results,
    render,
    shared,
    start,
    write_results,
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


def _fmt(v: float | None, nd: int = 2) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def _delta(ours: float | None, pub: float | None) -> str:
    if ours is None or pub is None:
        return "—"
    d = ours - pub
    return f"{d:+.3f}" + (" ✓" if abs(d) <= 0.05 else " ✗")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="Set5,Set14", help="benchmark sets (folders under shared/data/benchmarks)")
    ap.add_argument("--only", default=None, help="evaluate only entries whose file contains this text")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the (checkpoint, set) and bicubic results already in benchmarks/results/"
                         "eval_weights.json and measure only the missing ones (to finish a budgeted run)")
    add_run_args(ap, "eval_weights")
    add_data_args(ap)
    ap.set_defaults(budget_s=600.0)
    return ap.parse_args(argv)


@dataclass
class Previous:
    """What an earlier (budgeted) run measured, for ``--reuse``."""

    ckpt: dict[tuple[str, int], dict] = field(default_factory=dict)
    bicubic: dict[tuple[str, int], dict] = field(default_factory=dict)
    wall: float = 0.0

    @classmethod
    def read(cls, section: str) -> Previous:
        old = read_results(section)
        if old is None:
            return cls()
        ckpt = {(c["file"], c["scale"]): c for c in old.get("checkpoints", [])}
        for c in ckpt.values():  # older files kept only a per-checkpoint total: spread it so sums stay exact
            for r in c.get("results", {}).values():
                r.setdefault("seconds", round(float(c.get("seconds", 0.0)) / max(1, len(c["results"])), 1))
        return cls(ckpt, {(b["dataset"], b["scale"]): b for b in old.get("bicubic", [])},
                   float(old.get("wall_s_total", old.get("wall_s", 0.0))))

    def any(self) -> bool:
        return bool(self.ckpt or self.bicubic)


def bicubic_rows(sets: list[str], prev: Previous) -> tuple[list[list[Any]], list[dict], int]:
    """Our protocol vs the classic Y-domain computation: (table rows, JSON, evaluations run)."""
    from sr_compress.evaluate.sr_eval import y_domain_bicubic_baseline

    rows, out, measured = [], [], 0
    for s in (2, 3, 4):
        for name in ("Set5", "Set14"):
            if name not in sets:
                continue
            pub = PUBLISHED_BICUBIC.get((name, s))
            old_b = prev.bicubic.get((name, s))
            if old_b is not None:
                ours, legacy = {"psnr": old_b["ours"], "ssim": old_b["ours_ssim"]}, {"psnr": old_b["y_domain"]}
            else:
                measured += 1
                ours = evaluate("bicubic", benchmark_set(name, s), s)
                legacy = y_domain_bicubic_baseline(shared("benchmarks", name), s)
            rows.append([name, f"x{s}", f"{ours['psnr']:.3f}", f"{ours['ssim']:.4f}", f"{legacy['psnr']:.3f}",
                         _fmt(pub), _delta(legacy["psnr"], pub),
                         f"{ours['psnr'] - (pub or 0):+.3f}" if pub else "—"])
            out.append({"dataset": name, "scale": s, "ours": ours["psnr"], "ours_ssim": ours["ssim"],
                        "y_domain": legacy["psnr"], "published": pub})
            print(f"bicubic {name} x{s}: ours {ours['psnr']:.3f}  y-domain {legacy['psnr']:.3f}  published {pub}",
                  flush=True)
    return rows, out, measured


@dataclass
class Measured:
    """Per entry (index into the evaluated entries): its descriptor, results per set, seconds."""

    descs: dict[int, Any] = field(default_factory=dict)
    results: dict[int, dict[str, dict]] = field(default_factory=dict)
    secs: dict[int, float] = field(default_factory=dict)
    skipped: list[list[str]] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    count: int = 0


def _evaluate_one(i: int, e: Entry, name: str, m: Measured) -> None:
    try:
        b = benchmark_set(name, e.scale)
    except Exception as err:  # noqa: BLE001 - e.g. no X3 for a set
        print(f"  {name} x{e.scale}: {err}", flush=True)
        return
    r = evaluate(m.descs[i], b, e.scale)
    m.count += 1
    m.secs[i] += r["seconds"]
    m.results[i][name] = {"psnr": r["psnr"], "ssim": r["ssim"], "seconds": round(r["seconds"], 1),
                          "images": {im["name"]: round(im["psnr"], 4) for im in r["images"]}}
    pub = e.published.get(name)
    print(f"{e.name + ' x' + str(e.scale):<18} {name:<6} {r['psnr']:.3f} / {r['ssim']:.4f}  published "
          f"{_fmt(pub, 4)}  {_delta(r['psnr'], pub)}  [{r['seconds']:.0f}s]", flush=True)


def measure_checkpoints(entries: list[Entry], sets: list[str], prev: Previous, budget: Budget) -> Measured:
    """Set5 for every checkpoint first (the acceptance set), then the other sets, until the budget is spent."""
    m = Measured(results={i: {} for i in range(len(entries))}, secs=dict.fromkeys(range(len(entries)), 0.0))
    for name in sets:
        for i, e in enumerate(entries):
            label = f"{e.name} x{e.scale}"
            old = prev.ckpt.get((e.file, e.scale), {}).get("results", {}).get(name)
            if old is not None:
                m.results[i][name] = old
                m.secs[i] += float(old.get("seconds", 0.0))
            elif budget.spent():
                m.not_run.append(f"{label} {name}")
                continue
            if i not in m.descs:
                m.descs[i], reason = load_or_reason(shared("weights", e.file), e.scale)
                if reason is not None:
                    m.skipped.append([label, e.file, reason])
                    print(f"skip {label}: {reason}", flush=True)
            if m.descs[i] is not None and old is None:
                _evaluate_one(i, e, name, m)
    return m


def checkpoint_rows(entries: list[Entry], m: Measured) -> tuple[list[list[Any]], list[dict]]:
    rows, results = [], []
    for i, e in enumerate(entries):
        desc = m.descs.get(i)
        if desc is None:
            continue
        s5, s14 = m.results[i].get("Set5", {}), m.results[i].get("Set14", {})
        nd = 4 if e.name == "PAN" else 2
        rows.append([
            e.name, f"x{e.scale}", f"`{e.file}`", desc.arch, f"{desc.params / 1e3:.0f}K",
            f"{_fmt(s5.get('psnr'), 3)} / {_fmt(s5.get('ssim'), 4)}", _fmt(e.published.get("Set5"), nd),
            _delta(s5.get("psnr"), e.published.get("Set5")),
            f"{_fmt(s14.get('psnr'), 3)} / {_fmt(s14.get('ssim'), 4)}", _fmt(e.published.get("Set14"), nd),
            _delta(s14.get("psnr"), e.published.get("Set14")), f"{m.secs[i]:.0f}", e.source,
        ])
        results.append({"name": e.name, "file": e.file, "scale": e.scale, "arch": desc.arch,
                        "params": desc.params, "published": e.published, "source": e.source,
                        "results": m.results[i], "seconds": round(m.secs[i], 1)})
    return rows, results


def main() -> None:
    args = parse()
    budget = start(args)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    prev = Previous.read(args.section) if args.reuse else Previous()
    bic_rows, bic_json, measured = bicubic_rows(sets, prev)
    entries = [e for e in ENTRIES if not args.only or args.only in e.file]
    m = measure_checkpoints(entries, sets, prev, budget)
    rows, results = checkpoint_rows(entries, m)

    wall = budget.elapsed()
    reused = prev.any()
    wall_total = (wall if measured + m.count or not reused else 0.0) + (prev.wall if reused else 0.0)
    md = [render(
        "eval_weights", machine=machine_line(), wall_total=f"{wall_total:.0f}", sets=",".join(sets),
        reused=f" (over several budgeted runs combined with `--reuse`; last run {wall:.0f} s)" if reused else "",
        bicubic_table=md_table(["set", "scale", "ours PSNR", "ours SSIM", "Y-domain PSNR", "published",
                                "Δ Y-domain", "Δ ours"], bic_rows),
        checkpoint_table=md_table(["model", "scale", "file", "arch", "params", "Set5 PSNR / SSIM",
                                   "published Set5", "Δ Set5", "Set14 PSNR / SSIM", "published Set14",
                                   "Δ Set14", "s", "published value from"], rows),
    )]
    if m.skipped:
        md += ["", "Not evaluated (the loader does not handle them yet, or file missing):", "",
               md_table(["model", "file", "reason"], m.skipped)]
    if m.not_run:
        md += ["", "Not measured yet (the CPU budget of the runs so far ran out; rerun with `--reuse` to add "
               f"them): {', '.join(m.not_run)}."]
    write_results(args, "\n".join(md), {
        "machine": machine_line(), "wall_s": round(wall, 1), "wall_s_total": round(wall_total, 1), "sets": sets,
        "bicubic": bic_json, "checkpoints": results, "skipped": m.skipped, "not_run": m.not_run})


if __name__ == "__main__":
    main()
