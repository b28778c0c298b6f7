"""Paper-scale method comparisons the CPU cannot afford, in one command for one GPU (≤ 8 min).

Two experiments, every row over ``--seeds`` seeds (all RNGs re-drawn: ``train.seed``), mean ± std
and the per-seed paired difference to its baseline, flagged when |mean| > 2 std:

* **DUKD** (x4, RLFN x4 teacher, ``edsr:c20b4`` student, T91, official gradient semantics and
  ``n_gt_sub``): scratch, kd, dukd at N iterations, plus the controls kd and scratch at 2N
  (= DUKD's optimiser steps). Equal-wall-clock rows read the 2N runs' Set5 validation curves at
  the iteration where they have used as much training time as dukd at N (per-iteration costs
  from a solo timing probe, so the concurrent runs do not distort them). The discrimination
  check first: kd − scratch must exceed 2 std, or the budget cannot tell methods apart.
* **DFSR** (data-free, same teacher/student): the generator trained (``generator: gan``) vs
  frozen at its random init (``generator: frozen``), equal student updates.

Runs execute as parallel worker processes (``--jobs``; small SR models leave a GPU mostly idle),
and a deadline (``--deadline-min``) stops stragglers so the rows that finished are still written.

    python benchmarks/gpu_suite.py                      # one H200: N = 20000, 3 seeds
    python benchmarks/gpu_suite.py --smoke              # CPU plumbing check (< 2 min), tested

On a device machine only the repository (and a ``shared/`` folder inside it) travels: first copy
``../shared/data/{train/T91,benchmarks/Set5,benchmarks/Set14,weights/RLFN/rlfn_x4.pth}`` into
``shared/data/`` (≈ 20 MB; ignore it in ``.git/info/exclude``), and carry a Python environment
with the project installed. If the solo timing probe says N iterations cannot finish before
``--deadline-min``, N is reduced and the RESULTS section says so (``--no-fit`` keeps N).

Data: ``$SR_COMPRESS_SHARED_DATA``, else ``shared/data`` inside the repository (what a device
machine receives), else ``../shared/data`` beside it; without any, the embedded default images
(``sr_compress/data/defaults.py``) and a teacher trained here first (said so in the output).
Writes ``benchmarks/results/<section>.json`` and the ``<section>`` part of RESULTS.md (default
``gpu_suite``; ``--smoke``: ``gpu_suite_smoke`` under ``--out``, never the repository's file).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _results
import numpy as np
from _results import machine_line, md_table

ROOT = Path(__file__).resolve().parents[1]


RECIPES = {m: ROOT / "configs" / "distill" / f"{m}_x4.yaml" for m in ("scratch", "kd", "dukd", "datafree")}
SCALE = 4


# ----------------------------------------------------------------------------------- data
def data_root() -> Path | None:
    """The shared data folder, located as the tests do (env, then in/beside the repository)."""
    env = os.environ.get("SR_COMPRESS_SHARED_DATA")
    for c in ([Path(env)] if env else []) + [ROOT / "shared" / "data", ROOT.parent / "shared" / "data"]:
        if c.is_dir():
            return c
    return None


def locate(args: argparse.Namespace) -> dict[str, Any]:
    """Training folder, validation sets and teacher (None: train one) for this machine."""
    root = Path(args.data_root) if args.data_root else data_root()
    t91 = root / "train" / "T91" / "HR" if root else None
    sets = [root / "benchmarks" / n for n in ("Set5", "Set14")] if root else []
    sets = [s for s in sets if (s / "HR").is_dir()]
    teacher = root / "weights" / "RLFN" / "rlfn_x4.pth" if root else None
    if args.smoke:  # plumbing only: a tiny teacher trained here, whatever data exists
        teacher = None
    if t91 is None or not t91.is_dir() or not sets:
        from sr_compress.data.defaults import default_benchmark_dir, default_images_dir

        return {"train": default_images_dir(), "val": [default_benchmark_dir(SCALE)],
                "teacher": teacher if teacher and teacher.is_file() else None, "source": "embedded default images"}
    return {"train": t91, "val": sets, "teacher": teacher if teacher and teacher.is_file() else None,
            "source": str(root)}


def mini_data(loc: dict[str, Any], work: Path, n_train: int = 3, n_val: int = 2) -> dict[str, Any]:
    """Smoke data: a few centre crops of the located images (train 96 px, val 64 px HR + MATLAB
    bicubic LR), so that every run's data loading and final evaluation take milliseconds."""
    from PIL import Image

    from sr_compress.data.imresize import bicubic_degrade_uint8
    from sr_compress.data.io import list_images, read_uint8

    def crop(a: np.ndarray, side: int) -> np.ndarray:
        y, x = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
        return a[y : y + side, x : x + side]

    train, val = work / "mini" / "train", work / "mini" / "val"
    (val / "HR").mkdir(parents=True, exist_ok=True)
    (val / "LR_bicubic" / f"X{SCALE}").mkdir(parents=True, exist_ok=True)
    train.mkdir(parents=True, exist_ok=True)
    big = [f for f in list_images(loc["train"]) if min(read_uint8(f).shape[:2]) >= 96][:n_train]
    for f in big:
        Image.fromarray(crop(read_uint8(f), 96)).save(train / f"{f.stem}.png")
    for f in list_images(Path(loc["val"][0]) / "HR")[:n_val]:
        hr = crop(read_uint8(f), 64)
        Image.fromarray(hr).save(val / "HR" / f"{f.stem}.png")
        Image.fromarray(bicubic_degrade_uint8(hr, SCALE)).save(val / "LR_bicubic" / f"X{SCALE}" / f"{f.stem}x{SCALE}.png")
    return {**loc, "train": train, "val": [val], "source": f"{loc['source']} (smoke: centre crops)"}


# ----------------------------------------------------------------------------------- one run
def overrides_for(job: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    it = int(job["iters"])
    o: dict[str, Any] = {
        "student": cfg["student"], "data.path": [str(cfg["train"])], "data.val": [str(v) for v in cfg["val"]],
        "data.val_max_images": 5, "data.batch_size": cfg["batch"], "data.patch_size": cfg["patch"],
        "train.iterations": it, "train.lr": cfg["lr"], "train.seed": int(job["seed"]), "train.ema_decay": 0.0,
        "train.checkpoint_every": it, "train.val_every": max(1, it // cfg["val_points"]),
        "train.log_every": max(1, it // cfg["val_points"]), "train.mixed_precision": "no",
    }
    if job["method"] != "scratch":
        o["teacher"] = str(cfg["teacher"])
    if job["method"] == "datafree":
        o.update({"datafree.generator": job["generator"], "datafree.batch_size": cfg["df_batch"],
                  "datafree.lr_size": cfg["df_lr_size"], "datafree.stu_step": cfg["df_stu_step"],
                  "datafree.inc_num": 1, "datafree.inc_step": 0})
    return o


def _curve(path: Path, key: str) -> list[tuple[int, float]]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [(int(float(r["iteration"])), float(r[key])) for r in csv.DictReader(fh) if r.get(key)]


def run_job(job: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Train one (method, seed, iterations) configuration; its final metrics and curves."""
    import torch

    from sr_compress.compress.engine import load_distill_config, run_distillation

    torch.set_num_threads(cfg["threads"])
    dc = load_distill_config(RECIPES[job["method"]], overrides_for(job, cfg))
    out = Path(cfg["work"]) / job["name"]
    res = run_distillation(dc, out, progress=False)
    val_key = f"{Path(cfg['val'][0]).name}_psnr" if cfg["val"] else ""
    final = res.metrics.get("final", {})
    return {**job, "final": final.get("student", {}), "teacher": final.get("teacher"),
            "bicubic": res.metrics["final"].get("bicubic"), "train_time_s": res.metrics["train_time_s"],
            "val_curve": _curve(out / "val.csv", val_key), "wall_curve": _curve(out / "log.csv", "wall_s")}


def jobs_for(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    n, out = cfg["iters"], []
    for seed in cfg["seeds"]:
        for method, mult in (("scratch", 1), ("scratch", 2), ("kd", 1), ("kd", 2), ("dukd", 1)):
            out.append({"name": f"{method}_{mult}x_s{seed}", "method": method, "mult": mult, "seed": seed,
                        "iters": n * mult})
        for gen in ("gan", "frozen"):
            out.append({"name": f"datafree_{gen}_s{seed}", "method": "datafree", "generator": gen, "mult": 1,
                        "seed": seed, "iters": cfg["df_iters"]})
    return out


def run_pool(jobs: list[dict[str, Any]], cfg: dict[str, Any], deadline: float) -> list[dict[str, Any]]:
    """Run jobs in ``cfg['jobs']`` worker processes (in-process when 1); stop at ``deadline``."""
    if cfg["jobs"] <= 1:
        return [run_job(j, cfg) for j in jobs if time.time() < deadline]
    work = Path(cfg["work"])
    (work / "cfg.json").write_text(json.dumps(cfg, default=str))
    pending, done = list(jobs), []
    running: dict[str, tuple[Any, Any]] = {}
    while (pending or running) and time.time() < deadline:
        while pending and len(running) < cfg["jobs"]:
            j = pending.pop(0)
            (work / f"{j['name']}.job.json").write_text(json.dumps(j))
            log = open(work / f"{j['name']}.log", "w")  # noqa: SIM115 - closed when the process ends
            running[j["name"]] = (subprocess.Popen([sys.executable, __file__, "--worker", j["name"], "--out", str(work)],
                                                   stdout=log, stderr=subprocess.STDOUT), log)
        for name, (proc, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                del running[name]
                res = work / f"{name}.result.json"
                if res.is_file():
                    done.append(json.loads(res.read_text()))
                else:
                    print(f"run {name} failed (exit {proc.returncode}); see {work / (name + '.log')}", flush=True)
        time.sleep(0.5)
    for name, (proc, log) in running.items():
        proc.kill()
        log.close()
        print(f"run {name} stopped at the deadline", flush=True)
    return done


def worker(name: str, work: Path) -> None:
    cfg = json.loads((work / "cfg.json").read_text())
    job = json.loads((work / f"{name}.job.json").read_text())
    res = run_job(job, cfg)
    (work / f"{name}.result.json").write_text(json.dumps(res, default=str))


# ----------------------------------------------------------------------------------- setup
def train_teacher(cfg: dict[str, Any], iters: int) -> Path:
    """A teacher when no RLFN x4 checkpoint is present: a larger EDSR trained from scratch."""
    from sr_compress.compress.engine import load_distill_config, run_distillation

    out = Path(cfg["work"]) / "teacher"
    dc = load_distill_config(RECIPES["scratch"], {
        "student": cfg["teacher_spec"], "data.path": [str(cfg["train"])], "data.batch_size": cfg["batch"],
        "data.patch_size": cfg["patch"], "train.iterations": iters, "train.lr": cfg["lr"],
        "train.ema_decay": 0.0, "train.checkpoint_every": iters, "train.log_every": max(1, iters // 4)})
    run_distillation(dc, out, progress=False)
    return out / "student.pth"


def time_probe(cfg: dict[str, Any], iters: int) -> dict[str, float]:
    """Seconds per iteration of each method, run alone (before the concurrent pool)."""
    per: dict[str, float] = {}
    for method in ("scratch", "kd", "dukd"):
        job = {"name": f"probe_{method}", "method": method, "seed": 0, "iters": iters, "mult": 1}
        probe_cfg = {**cfg, "val": [], "val_points": 2}  # no validation inside the timed window
        r = run_job(job, probe_cfg)
        wall = dict(r["wall_curve"])
        half, end = iters // 2, iters
        per[method] = (wall[end] - wall[half]) / max(1, end - half) if half in wall and end in wall else \
            r["train_time_s"] / iters
    return per


# ----------------------------------------------------------------------------------- analysis
def _stats(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan")


def _at(curve: list[tuple[int, float]], it: float) -> float | None:
    """Linear interpolation of a validation curve at iteration ``it`` (None beyond its end)."""
    if not curve or it > curve[-1][0]:
        return None
    xs, ys = zip(*curve, strict=True)
    return float(np.interp(it, xs, ys))


def by_name(results: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """{(row, seed): result}, row = e.g. 'kd 2x' or 'datafree frozen'."""
    out: dict[Any, Any] = {}
    for r in results:
        row = f"{r['method']} {r['generator']}" if r["method"] == "datafree" else f"{r['method']} {r['mult']}x"
        out[(row, int(r["seed"]))] = r
    return out


def equal_time_psnr(res: dict[Any, Any], row: str, seed: int, seconds: float, per_it: float) -> float | None:
    r = res.get((row, seed))
    return _at(r["val_curve"], seconds / per_it) if r else None


def paired(res: dict[Any, Any], seeds: list[int], a: Any, b: Any, sets: list[str]) -> dict[str, Any] | None:
    """Per-seed a − b (a, b: row names, or callables seed → {set: psnr}); mean, std, > 2 std."""
    def val(x: Any, seed: int) -> dict[str, float] | None:
        if callable(x):
            return x(seed)
        r = res.get((x, seed))
        return {s: r["final"][s]["psnr"] for s in sets} if r else None

    diffs: dict[str, list[float]] = {s: [] for s in sets}
    for seed in seeds:
        va, vb = val(a, seed), val(b, seed)
        if va is None or vb is None:
            continue
        for s in sets:
            if va.get(s) is not None and vb.get(s) is not None:
                diffs[s].append(va[s] - vb[s])
    if not any(diffs.values()):
        return None
    out: dict[str, Any] = {}
    for s, d in diffs.items():
        if d:
            m, sd = _stats(d)
            out[s] = {"diffs": d, "mean": m, "std": sd, "exceeds_2std": bool(len(d) > 1 and abs(m) > 2 * sd)}
    return out


def analyse(results: list[dict[str, Any]], cfg: dict[str, Any], per_it: dict[str, float]) -> dict[str, Any]:
    res = by_name(results)
    seeds, sets = cfg["seeds"], [Path(v).name for v in cfg["val"]]
    rows: dict[str, dict[str, Any]] = {}
    for row in sorted({k[0] for k in res}):
        vals = {s: [res[(row, sd)]["final"][s]["psnr"] for sd in seeds if (row, sd) in res] for s in sets}
        times = [res[(row, sd)]["train_time_s"] for sd in seeds if (row, sd) in res]
        rows[row] = {s: _stats(v) for s, v in vals.items() if v} | {"n": len(times), "train_s": _stats(times)}
    first = sets[0]
    t_dukd = cfg["iters"] * per_it.get("dukd", float("nan"))

    def at_dukd_time(row: str, method: str) -> Any:
        return lambda seed: {first: equal_time_psnr(res, row, seed, t_dukd, per_it[method])}

    def dukd_val(seed: int) -> dict[str, float | None]:
        r = res.get(("dukd 1x", seed))
        return {first: r["val_curve"][-1][1] if r and r["val_curve"] else None}

    comparisons = {
        "discrimination: kd − scratch (N)": paired(res, seeds, "kd 1x", "scratch 1x", sets),
        "dukd − kd (equal iterations N)": paired(res, seeds, "dukd 1x", "kd 1x", sets),
        "dukd − kd 2N (equal optimiser steps)": paired(res, seeds, "dukd 1x", "kd 2x", sets),
        "dukd − scratch 2N (equal optimiser steps)": paired(res, seeds, "dukd 1x", "scratch 2x", sets),
        f"dukd − kd (equal wall-clock, {first} val)": paired(res, seeds, dukd_val, at_dukd_time("kd 2x", "kd"), [first]),
        f"dukd − scratch (equal wall-clock, {first} val)": paired(res, seeds, dukd_val,
                                                                 at_dukd_time("scratch 2x", "scratch"), [first]),
        "kd 2N − scratch 2N": paired(res, seeds, "kd 2x", "scratch 2x", sets),
        "datafree: trained − frozen generator": paired(res, seeds, "datafree gan", "datafree frozen", sets),
    }
    eq_iters = {m: t_dukd / per_it[m] for m in ("scratch", "kd") if m in per_it}
    return {"rows": rows, "comparisons": comparisons, "per_iteration_s": per_it, "equal_time_iterations": eq_iters,
            "sets": sets}


def _pm(stat: Any) -> str:
    m, sd = stat
    return f"{m:.3f} ± {sd:.3f}" if sd == sd else f"{m:.3f}"  # noqa: PLR0124 - NaN check


def report(an: dict[str, Any], cfg: dict[str, Any], loc: dict[str, Any], wall: float, extra: dict[str, Any]) -> str:
    sets = an["sets"]
    rows = [[row, r["n"], *(_pm(r[s]) if s in r else "—" for s in sets), f"{r['train_s'][0]:.0f}"]
            for row, r in an["rows"].items()]
    comp = []
    for name, c in an["comparisons"].items():
        if c is None:
            comp.append([name, "—", "—", "(runs missing, or the equal-time point is beyond the 2N run)"])
            continue
        for s, d in c.items():
            comp.append([name, s, f"{d['mean']:+.3f} ± {d['std']:.3f} (n={len(d['diffs'])})",
                         "yes" if d["exceeds_2std"] else "no"])
    disc = an["comparisons"]["discrimination: kd − scratch (N)"]
    ok = bool(disc) and all(d["exceeds_2std"] and d["mean"] > 0 for d in disc.values())
    eq = ", ".join(f"{m} {v:.0f} it" for m, v in an["equal_time_iterations"].items())
    return (
        f"`{extra['command']}` — {machine_line()}; device {extra['device']}; total {wall:.0f} s.\n\n"
        f"Data: {loc['source']}; teacher {extra['teacher']}; student `{cfg['student']}`; N = {cfg['iters']} "
        f"iterations × batch {cfg['batch']} × LR patch {cfg['patch']}, Adam {cfg['lr']:g} cosine, EMA off; "
        f"DFSR {cfg['df_iters']} student updates, batch {cfg['df_batch']}, LR side {cfg['df_lr_size']}, "
        f"stu_step {cfg['df_stu_step']}; seeds {cfg['seeds']} (every RNG follows train.seed). "
        + (f"{cfg['fit_note']}. " if cfg.get("fit_note") else "")
        + "Solo per-iteration cost (s): "
        + ", ".join(f"{m} {v * 1e3:.1f} ms" for m, v in an["per_iteration_s"].items())
        + f"; dukd's N iterations take as long as {eq}.\n\n"
        + md_table(["row", "seeds", *(f"{s} PSNR-Y" for s in sets), "train s (mean)"], rows)
        + "\n\nPaired differences (per seed, then mean ± std over seeds; '> 2 std' = |mean| > 2 std):\n\n"
        + md_table(["comparison", "set", "difference (dB)", "> 2 std"], comp)
        + "\n\n**Discrimination check** (kd must beat scratch by > 2 std before method rows mean anything): "
        + ("passed." if ok else "**not passed** — this budget cannot tell methods apart; lengthen it.")
        + " Equal-wall-clock rows read the 2N runs' validation curves at dukd's training time, using the solo"
        " per-iteration costs (the runs themselves shared the GPU)."
    )


def fit_budget(cfg: dict[str, Any], per_it: dict[str, float], seconds_left: float) -> str:
    """Shrink N (and DFSR's updates) when the solo probe says the pool cannot finish in time.

    Estimate: total solo work over the jobs / (half the usable CPU cores, each worker being one
    CPU-bound Python loop), plus 60 s of start-up and evaluation. A run killed at the deadline
    yields nothing, so a smaller N that finishes beats the asked-for N that does not."""
    workers = max(1, min(cfg["jobs"], os.cpu_count() or 1))
    work = sum(j["iters"] * per_it.get(j["method"], per_it.get("kd", 0.0)) for j in jobs_for(cfg))
    est = work / max(1.0, workers / 2) + 60
    if est <= 0.85 * seconds_left:
        return f"N = {cfg['iters']} as asked (estimated {est:.0f} s of {seconds_left:.0f} s left)"
    f = max(0.01, (0.85 * seconds_left - 60) / (est - 60))
    old = cfg["iters"]
    cfg["iters"] = max(min(old, 100), int(old * f) // 100 * 100)
    cfg["df_iters"] = max(min(cfg["df_iters"], 100), int(cfg["df_iters"] * f) // 100 * 100)
    note = (f"**N reduced from {old} to {cfg['iters']}** (DFSR to {cfg['df_iters']}) to fit the deadline: the solo "
            f"probe estimated {est:.0f} s for {seconds_left:.0f} s left (`--no-fit` keeps N)")
    print(note, flush=True)
    return note


def _skip_run_reports() -> None:
    """Smoke only: no per-run report (matplotlib curves) and no MAC counts, which cost more than
    the smoke runs themselves; the suite reads metrics, not reports."""
    from sr_compress.compress import engine, report

    report.write_report = lambda *a, **k: None  # type: ignore[assignment]
    engine._macs = lambda *a, **k: None  # type: ignore[assignment]


# ----------------------------------------------------------------------------------- main
def settings(args: argparse.Namespace) -> dict[str, Any]:
    if args.smoke:  # plumbing check: tiny models, a handful of iterations, 2 seeds, one process
        s: dict[str, Any] = {"student": "edsr:c4b1", "teacher_spec": "edsr:c8b1", "teacher_iters": 2, "iters": 2,
                             "batch": 2, "patch": 12, "lr": 1e-3, "df_iters": 2, "df_batch": 2, "df_lr_size": 8,
                             "df_stu_step": 2, "val_points": 2, "probe_iters": 4, "seeds": [0, 1], "jobs": 1,
                             "threads": 1}
    else:
        s = {"student": "edsr:c20b4", "teacher_spec": "edsr:c48b8", "teacher_iters": 8000, "iters": 20000,
             "batch": 16, "patch": 32, "lr": 5e-4, "df_iters": 20000, "df_batch": 64, "df_lr_size": 12,
             "df_stu_step": 50, "val_points": 10, "probe_iters": 200, "seeds": [0, 1, 2], "jobs": 0, "threads": 1}
    for key in ("iters", "seeds", "jobs", "df_iters"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny CPU run of the whole pipeline (tested)")
    ap.add_argument("--iters", type=int, default=None, help="N, the DUKD table's iterations (default 20000)")
    ap.add_argument("--df-iters", dest="df_iters", type=int, default=None, help="DFSR student updates")
    ap.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=None, help="e.g. 0,1,2")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (0 = all runs at once, 1 = in-process)")
    ap.add_argument("--deadline-min", type=float, default=7.0, help="stop unfinished runs after this many minutes")
    ap.add_argument("--no-fit", action="store_true", help="keep N even if the probe says it will not finish")
    ap.add_argument("--data-root", default=None, help="shared data folder (default: located as the tests do)")
    ap.add_argument("--out", default=None, help="work folder (default runs/gpu_suite; smoke: a temp folder)")
    ap.add_argument("--section", default=None, help="RESULTS.md section (default gpu_suite / gpu_suite_smoke)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, Path(args.out))
        return 0
    t0 = time.time()
    import tempfile

    import torch

    cfg = settings(args)
    work = Path(args.out or (tempfile.mkdtemp(prefix="gpu_suite_") if args.smoke else ROOT / "runs" / "gpu_suite"))
    work.mkdir(parents=True, exist_ok=True)
    loc = locate(args)
    if args.smoke:
        loc = mini_data(loc, work)
    cfg.update({"work": str(work), "train": str(loc["train"]), "val": [str(v) for v in loc["val"]]})
    if args.smoke:
        cfg["val"] = cfg["val"][:1]
        _results.RESULTS_MD, _results.RESULTS_DIR = work / "RESULTS.md", work / "results"
        _skip_run_reports()
    torch.set_num_threads(cfg["threads"])
    teacher_note = "RLFN x4 (NTIRE 2022 checkpoint)"
    if loc["teacher"] is None:
        cfg["teacher"] = str(train_teacher(cfg, cfg["teacher_iters"]))
        teacher_note = f"`{cfg['teacher_spec']}` trained here for {cfg['teacher_iters']} iterations (no RLFN file)"
    else:
        cfg["teacher"] = str(loc["teacher"])
    jobs = jobs_for(cfg)
    cfg["jobs"] = len(jobs) if cfg["jobs"] == 0 else cfg["jobs"]
    # solo timing probe (the pool's runs share the device); in-process runs time themselves
    per_it = time_probe(cfg, cfg["probe_iters"]) if cfg["jobs"] > 1 else {}
    deadline = t0 + 60 * args.deadline_min
    if per_it and not args.no_fit:
        cfg["fit_note"] = fit_budget(cfg, per_it, deadline - time.time())
        jobs = jobs_for(cfg)
    results = run_pool(jobs, cfg, deadline)
    for m in ("scratch", "kd", "dukd"):
        own = [r["train_time_s"] / r["iters"] for r in results if r["method"] == m]
        if m not in per_it and own:
            per_it[m] = float(np.mean(own))
    print(f"per-iteration seconds: {per_it}", flush=True)
    an = analyse(results, cfg, per_it)
    section = args.section or ("gpu_suite_smoke" if args.smoke else "gpu_suite")
    extra = {"command": "python benchmarks/gpu_suite.py" + (" --smoke" if args.smoke else ""),
             "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
             "teacher": teacher_note}
    md = report(an, cfg, loc, time.time() - t0, extra)
    _results.update_section(section, md, {"settings": cfg, "analysis": an, "runs": results, "extra": extra})
    print(md, flush=True)
    print(f"\nwrote section {section} of {_results.RESULTS_MD} and {_results.RESULTS_DIR / (section + '.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
