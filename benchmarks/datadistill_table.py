"""Dataset distillation for SR: does a distilled ~6 % of T91 train a student better than a random 6 %?

First a discrimination check (the experiment must tell full T91 from a random subset of the same
size as the distilled sets by > 2 std of the paired difference), then the rows: random / kcenter /
pixel_dm / feature_medoids / gsdd (latent, teacher-relabelled) / d4m (latent, teacher-relabelled)
and the controls full data and teacher-relabelled random subset. Every (row, seed) re-draws all
RNGs that belong to it (candidate crops, k-means, DM, the student's init and batches) from the
seed; the patch VAE of gsdd/d4m is trained once (its own seed, cached) and shared — said in the
output. Every row trains the same student with the engine (same iterations, batch, patch, lr) on
the ``distill-data`` output folder, evaluated on Set5/Set14 (Y PSNR, crop = scale).

    nice -n 15 python benchmarks/datadistill_table.py --threads 1 [--check-only] [--resume]

Writes the ``datadistill_table`` section of benchmarks/RESULTS.md and results/datadistill_table.json;
the prose is benchmarks/templates/datadistill_table.md. Finished runs are kept in
``--work``/runs.json, so ``--resume`` continues an interrupted run instead of starting again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    Budget,
    add_run_args,
    benchmark_set,
    command_line,
    evaluate,
    machine_line,
    md_table,
    render,
    shared,
    start,
    work_dir,
    write_results,
)

SOURCE = shared("train", "T91", "HR")
TEACHER = shared("weights", "RLFN", "rlfn_x4.pth")
# row -> (distill-data method, teacher-label views); "full" trains on the source folder itself
ROWS: dict[str, tuple[str, int]] = {
    "random": ("random", 0), "random_relabel": ("random", 1), "kcenter": ("kcenter", 0),
    "pixel_dm": ("pixel_dm", 0), "feature_medoids": ("feature_medoids", 0), "gsdd": ("gsdd", 1), "d4m": ("d4m", 1),
}
ORDER = ["full", *ROWS]


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_argument_group("student (identical for every row)")
    g.add_argument("--student", default="edsr:c32b4")
    g.add_argument("--init", default=None, help="initialise the student from this checkpoint (e.g. a pruned teacher)")
    g.add_argument("--iterations", type=int, default=300)
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--patch", type=int, default=24, help="LR patch side (distilled HR patches are x4 of it)")
    g.add_argument("--lr", type=float, default=1e-3)
    d = ap.add_argument_group("distilled sets")
    d.add_argument("--ipc", type=int, default=8, help="images per pseudo-class (8 x 4 classes ~ 6 %% of T91 bytes)")
    d.add_argument("--classes", type=int, default=4)
    d.add_argument("--candidates-per-image", type=int, default=6)
    d.add_argument("--dm-iterations", type=int, default=40, help="pixel_dm / gsdd latent steps")
    d.add_argument("--vae-steps", type=int, default=1500)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--rows", default=",".join(ORDER))
    ap.add_argument("--check-only", action="store_true", help="only the discrimination check (full vs random)")
    ap.add_argument("--table-only", action="store_true",
                    help="train nothing: tabulate the finished runs of --work (and --merge)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/sr_datadistill_bench"))
    ap.add_argument("--overwrite", action="store_true", help="empty --work first if it holds an earlier run")
    ap.add_argument("--resume", action="store_true", help="keep --work and reuse its finished runs")
    ap.add_argument("--merge", type=Path, nargs="*", default=[],
                    help="also read the finished runs of these --work folders (runs of the same settings "
                         "made by parallel invocations); a folder with other settings is refused")
    ap.add_argument("--source", type=Path, default=SOURCE, help="HR source folder (default: T91 HR)")
    ap.add_argument("--sets", default="Set5,Set14", help="benchmark sets to evaluate on")
    add_run_args(ap, "datadistill_table", threads=1)
    return ap.parse_args()


def train_and_eval(data_dir: Path, out: Path, a: argparse.Namespace, seed: int, benches: list[Any]) -> dict[str, Any]:
    from sr_compress.compress.engine import load_distill_config, run_distillation

    over: dict[str, Any] = {
        "method": "scratch", "scale": 4, "student": a.student, "data.path": [str(data_dir)],
        "data.patch_size": a.patch, "data.batch_size": a.batch, "train.iterations": a.iterations,
        "train.lr": a.lr, "train.seed": seed, "train.checkpoint_every": a.iterations,
        "train.val_every": 10 * a.iterations,
    }
    if a.init:
        over["init"] = a.init
    t0 = time.perf_counter()
    res = run_distillation(load_distill_config(None, over), out, progress=False)
    res.student.model.eval()
    row: dict[str, Any] = {"train_s": round(time.perf_counter() - t0, 1)}
    for b in benches:
        r = evaluate(res.student, b, 4)
        row[b.name] = round(float(r["psnr"]), 3)
    return row


def distill(row: str, seed: int, a: argparse.Namespace, teacher: Any) -> tuple[Path, dict[str, Any]]:
    """The ``distill-data`` folder of ``row`` at ``seed`` (every distiller RNG seeded by it)."""
    from sr_compress.compress.datadistill import load_datadistill_config, run_data_distillation

    method, views = ROWS[row]
    sections: dict[str, dict[str, Any]] = {
        "pixel_dm": {"iterations": a.dm_iterations, "real_batch": 16, "net_width": 16},
        "gsdd": {"iterations": a.dm_iterations, "real_batch": 16, "vae": {"steps": a.vae_steps}},
        "d4m": {"vae": {"steps": a.vae_steps}},
    }
    raw: dict[str, Any] = {
        "method": method, "data": [str(a.source)], "scale": 4, "patch_size": a.patch, "ipc": a.ipc,
        "classes": a.classes, "teacher": str(TEACHER), "embed": "teacher", "seed": seed,
        "candidates_per_image": a.candidates_per_image, "relabel_views": views,
    }
    if method in sections:
        raw[method] = sections[method]
    out = a.work / f"{row}_s{seed}"
    man = run_data_distillation(load_datadistill_config(raw, src=f"row {row}"), out, teacher=teacher)
    stored = man.get("total_bytes_with_labels", man["total_bytes"])  # teacher labels count as stored bytes
    info = {"images": len(man["images"]), "bytes": stored, "ratio": stored / man["source"]["bytes"],
            "distill_s": man["wall_time_s"]}
    gen = man.get("method_info", {}).get("generator")
    if gen:
        info["generator"] = {"folder": gen["folder"], "cached": gen["cached"], "train": gen.get("train")}
    return out, info


def run_rows(rows: list[str], seeds: list[int], a: argparse.Namespace, budget: Budget, runs: dict[str, Any],
             teacher: Any, benches: list[Any]) -> list[str]:
    """Train + evaluate every (row, seed) not in ``runs`` (seed-major, so a budget cut keeps pairs)."""
    skipped = []
    store = a.work / "runs.json"
    for seed in seeds:
        for row in rows:
            key = f"{row}/{seed}"
            if key in runs:
                continue
            if budget.spent():
                skipped.append(key)
                continue
            print(f"[{budget.elapsed():6.0f}s] {key}", flush=True)
            if row == "full":
                files = [f for f in a.source.iterdir() if f.is_file()]
                data, info = a.source, {"images": len(files), "bytes": sum(f.stat().st_size for f in files),
                                        "ratio": 1.0, "distill_s": 0.0}
            else:
                data, info = distill(row, seed, a, teacher)
            runs[key] = {**info, **train_and_eval(data, a.work / f"{row}_s{seed}_train", a, seed, benches)}
            print(f"  {runs[key]}", flush=True)
            store.write_text(json.dumps(runs, indent=1))
    return skipped


def stats(runs: dict[str, Any], row: str, seeds: list[int], names: list[str]) -> dict[str, Any] | None:
    """Per-set mean/std over seeds, the paired difference to random (mean over the sets)."""
    have = [s for s in seeds if f"{row}/{s}" in runs]
    if not have:
        return None
    out: dict[str, Any] = {"row": row, "seeds": have, **{k: runs[f"{row}/{have[0]}"][k] for k in ("images", "ratio")}}
    for n in names:
        v = np.array([runs[f"{row}/{s}"][n] for s in have])
        out[n] = (float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"))
    paired = [s for s in have if f"random/{s}" in runs]
    if row != "random" and paired:
        d = np.array([np.mean([runs[f"{row}/{s}"][n] - runs[f"random/{s}"][n] for n in names]) for s in paired])
        sd = float(d.std(ddof=1)) if len(d) > 1 else float("nan")
        out["diff"] = (float(d.mean()), sd, len(d))
        out["significant"] = bool(len(d) > 1 and abs(d.mean()) > 2 * sd)
    out["distill_s"] = float(np.mean([runs[f"{row}/{s}"]["distill_s"] for s in have]))
    out["train_s"] = float(np.mean([runs[f"{row}/{s}"]["train_s"] for s in have]))
    return out


def _pm(v: tuple[float, float]) -> str:
    return f"{v[0]:.3f} ± {v[1]:.3f}" if v[1] == v[1] else f"{v[0]:.3f}"


def results_table(st: list[dict[str, Any]], names: list[str], bicubic: dict[str, Any]) -> str:
    headers = ["row", "seeds", "images", "% of T91 bytes", *[f"{n} PSNR" for n in names],
               "Δ vs random (dB, paired, mean of sets)", "> 2 std?", "distill s", "train s"]
    table = [["bicubic", "-", "-", "-", *[f"{bicubic[n]['psnr']:.3f}" for n in names], "-", "-", "-", "-"]]
    for r in st:
        diff = r.get("diff")
        dtxt = "-" if diff is None else (f"{diff[0]:+.3f} ± {diff[1]:.3f} (n={diff[2]})" if diff[2] > 1
                                          else f"{diff[0]:+.3f} (n=1)")
        table.append([r["row"], len(r["seeds"]), r["images"], f"{100 * r['ratio']:.2f}",
                      *[_pm(r[n]) for n in names], dtxt,
                      "-" if diff is None else ("yes" if r["significant"] else "no"),
                      f"{r['distill_s']:.0f}", f"{r['train_s']:.0f}"])
    return md_table(headers, table)


def check_line(st: dict[str, dict[str, Any]]) -> str:
    full = st.get("full")
    if not full or "diff" not in full:
        return "**Discrimination check not run** (full and random rows missing)."
    m, sd, n = full["diff"]
    if n < 2:
        return f"**Discrimination check undecided**: full T91 − random subset = {m:+.3f} dB on one seed (no std)."
    ok = full["significant"]
    return (f"**Discrimination check {'PASSED' if ok else 'FAILED'}**: full T91 − random subset = {m:+.3f} ± "
            f"{sd:.3f} dB (paired over {n} seeds, mean of the sets); {'>' if ok else 'not >'} 2 std. "
            + ("Rows below can be compared at this budget." if ok else
               "At this budget the experiment cannot tell full data from a random 6 %, so NO row below can be "
               "said to beat random, whatever its mean."))


# the settings every merged run must share (rows and seeds may differ)
SAME = ("student", "init", "iterations", "batch", "patch", "lr", "ipc", "classes", "candidates_per_image",
        "dm_iterations", "vae_steps", "source", "sets")


def settings_of(a: argparse.Namespace) -> dict[str, str]:
    return {k: str(getattr(a, k)) for k in SAME}


def merged_runs(a: argparse.Namespace) -> dict[str, Any]:
    """This --work's runs.json plus those of --merge folders, after checking their settings match."""
    (a.work / "settings.json").write_text(json.dumps(settings_of(a), indent=1))
    runs: dict[str, Any] = {}
    for folder in [a.work, *a.merge]:
        sfile, rfile = folder / "settings.json", folder / "runs.json"
        if folder != a.work and (not sfile.is_file() or json.loads(sfile.read_text()) != settings_of(a)):
            raise SystemExit(f"error: --merge {folder}: its settings.json differs from this run's (or is missing)")
        if rfile.is_file():
            runs.update({k: v for k, v in json.loads(rfile.read_text()).items() if k not in runs})
    return runs


def main() -> None:
    a = parse()
    budget = start(a)
    from sr_compress.compress.datadistill.common import load_teacher

    if a.resume:
        a.work.mkdir(parents=True, exist_ok=True)
    else:
        work_dir(a.work, a.overwrite)
    runs = merged_runs(a)
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = [r for r in a.rows.split(",") if r]
    bad = sorted(set(rows) - set(ORDER))
    if bad:
        raise SystemExit(f"error: --rows: unknown row {bad[0]!r} (known: {', '.join(ORDER)})")
    benches = [benchmark_set(b, 4) for b in a.sets.split(",")]
    names = [b.name for b in benches]
    bicubic = {b.name: evaluate("bicubic", b, 4) for b in benches}
    teacher = load_teacher(str(TEACHER), 4)
    # the check first: full vs random at every seed, before any method row
    skipped: list[str] = []
    if a.table_only:
        skipped = [f"{r}/{s}" for s in seeds for r in rows if f"{r}/{s}" not in runs]
    else:
        skipped = run_rows([r for r in ("full", "random") if r in rows], seeds, a, budget, runs, teacher, benches)
    if not a.check_only and not a.table_only:
        skipped += run_rows([r for r in rows if r not in ("full", "random")], seeds, a, budget, runs, teacher, benches)
    st = {r: s for r in ORDER if (s := stats(runs, r, seeds, names)) is not None}
    gens = {json.dumps(v.get("generator", {}).get("train"), sort_keys=True) for v in runs.values() if "generator" in v}
    md = render(
        "datadistill_table", a=a, table=results_table(list(st.values()), names, bicubic), check=check_line(st),
        hr_patch=a.patch * 4, student=a.student + (f" initialised from {a.init}" if a.init else " from scratch"),
        generators=f"{len(gens)} VAE training(s) shared by all gsdd/d4m runs" if gens else "no gsdd/d4m run",
        skipped=f"\n\nNot run (CPU budget): {', '.join(skipped)}." if skipped else "",
        machine=machine_line(), total=f"{budget.elapsed():.0f}",
        cmd=command_line("datadistill_table.py"),
        merged=("" if not a.merge else " — the runs themselves came from parallel invocations of the same settings "
                "(e.g. `--check-only --seeds 0,1,2`; `--rows random_relabel,gsdd,d4m --budget-s 3300`; "
                "`--rows pixel_dm,feature_medoids,kcenter`, stopped for the budget), each with its own `--work`, "
                "merged by `--merge`"),
    )
    write_results(a, md, {"runs": runs, "stats": st, "bicubic": {k: v["psnr"] for k, v in bicubic.items()},
                          "settings": vars(a) | {"work": str(a.work), "source": str(a.source)},
                          "wall_s": budget.elapsed(), "skipped": skipped})


if __name__ == "__main__":
    main()
