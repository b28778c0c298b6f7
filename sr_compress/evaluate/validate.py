"""Fidelity of every artifact of an export directory, in SR units.

For each dataset image, the PyTorch reference (``reference.pth`` beside the artifacts, else the
manifest's source checkpoint) and every artifact super-resolve the same LR image through the same
tiler. Per artifact we report PSNR-Y/SSIM against ground truth (standard protocol), the drop vs
PyTorch in dB (mean PSNR of the reference minus that of the artifact), the PSNR of the artifact's
output against the reference output (RGB, float outputs clipped to [0, 1], peak 1), the max/mean
absolute error of the raw outputs and a NaN/Inf count. Results go to ``validation.json`` /
``validation.md`` and a side-by-side PNG of the worst image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..data.io import to_uint8
from ..errors import MissingDependency, UserInputError
from ..export import REFERENCE_NAME
from ..export.manifest import Manifest, read_manifest
from ..metrics.sr import evaluate_pair
from ..models.registry import ModelDescriptor
from ..runtime.base import Runner
from ..runtime.runners import TorchRunner, make_runner
from ..runtime.tiling import upscale


def load_reference(manifest: Manifest) -> ModelDescriptor:
    """The PyTorch model the artifacts were exported from."""
    from ..models.load import load_model

    root = manifest.root or Path(".")
    ref = root / REFERENCE_NAME
    if ref.is_file():
        desc = load_model(ref, manifest.scale)
    elif manifest.source and Path(manifest.source).is_file():
        desc = load_model(manifest.source, manifest.scale)
    else:
        raise UserInputError(
            f"{root}: no {REFERENCE_NAME} and the source checkpoint {manifest.source!r} is not readable; "
            "re-export or pass the checkpoint with --reference"
        )
    if desc.scale != manifest.scale:
        raise UserInputError(f"reference model is x{desc.scale} but the export is x{manifest.scale}")
    return desc


def open_runners(manifest: Manifest, device: str = "cpu", threads: int | None = None,
                 only: list[str] | None = None) -> tuple[list[tuple[str, Runner]], list[dict[str, str]]]:
    """Runners for the manifest's artifacts; artifacts whose backend is unavailable are listed as skipped."""
    problems = manifest.verify()
    if problems:
        raise UserInputError(f"{manifest.root}: {problems[0]}; re-run 'sr-compress export'")
    runners, skipped = [], []
    for a in manifest.artifacts:
        if only and a.name not in only:
            continue
        try:
            dev = "cuda" if a.backend == "tensorrt" else device
            runners.append((a.name, make_runner(a, manifest=manifest, device=dev, threads=threads)))
        except MissingDependency as err:
            skipped.append({"artifact": a.name, "reason": str(err)})
    if only:
        unknown = sorted(set(only) - {a.name for a in manifest.artifacts})
        if unknown:
            raise UserInputError(f"--artifact {unknown[0]!r} not in {manifest.root}")
    return runners, skipped


def _psnr_float(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - np.clip(b, 0, 1).astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def validate_export(
    directory: str | Path,
    data: Sequence[str | Path],
    tile: int | None = None,
    overlap: int = 8,
    threads: int | None = None,
    reference: ModelDescriptor | None = None,
    only: list[str] | None = None,
    write: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    from ..data.datasets import load_benchmark

    manifest = read_manifest(directory)
    root = manifest.root or Path(directory)
    if not data:
        raise UserInputError("--data: give at least one dataset folder (e.g. ../shared/data/benchmarks/Set5)")
    benches = [load_benchmark(p, manifest.scale) for p in data]
    desc = reference or load_reference(manifest)
    ref_runner = TorchRunner(desc, threads=threads)
    runners, skipped = open_runners(manifest, threads=threads, only=only)
    arts = {a.name: a for a in manifest.artifacts}
    per: dict[str, dict[str, list[dict[str, Any]]]] = {n: {} for n, _ in runners}
    ref_rows: dict[str, list[dict[str, Any]]] = {}
    worst: dict[str, Any] = {"mean_abs": -1.0}
    total = sum(len(b) for b in benches)
    bar = tqdm(total=total, desc="validate", unit="img", disable=not progress, leave=False)
    for bench in benches:
        ref_rows[bench.name] = []
        for name, lr_u8, hr in bench.items:
            lr = np.ascontiguousarray(lr_u8.astype(np.float32).transpose(2, 0, 1) / 255.0)
            ref = upscale(ref_runner, lr, tile, overlap)
            if ref.shape[1:] != hr.shape[:2]:
                raise UserInputError(
                    f"{bench.name}/{name}: output {ref.shape[2]}x{ref.shape[1]} != HR {hr.shape[1]}x{hr.shape[0]}; "
                    f"the data is not x{manifest.scale} (wrong --data scale?)"
                )
            ref_u8 = to_uint8(ref)
            ref_m = evaluate_pair(ref_u8, hr, manifest.scale)
            ref_rows[bench.name].append({"name": name, "psnr": ref_m["psnr"], "ssim": ref_m["ssim"]})
            for aname, runner in runners:
                out = upscale(runner, lr, tile, overlap)
                nonfinite = int((~np.isfinite(out)).sum())
                clean = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)
                m = evaluate_pair(to_uint8(clean), hr, manifest.scale)
                diff = np.abs(clean.astype(np.float64) - ref)
                row = {"name": name, "psnr": m["psnr"], "ssim": m["ssim"], "drop_db": ref_m["psnr"] - m["psnr"],
                       "psnr_vs_ref": _psnr_float(clean, ref), "max_abs": float(diff.max()),
                       "mean_abs": float(diff.mean()), "nonfinite": nonfinite}
                per[aname].setdefault(bench.name, []).append(row)
                if row["mean_abs"] > worst["mean_abs"]:
                    worst = {"mean_abs": row["mean_abs"], "artifact": aname, "dataset": bench.name,
                             "image": name, "ref": ref, "out": clean}
            bar.update()
    bar.close()
    for _n, r in runners:
        r.close()
    result = _summarise(manifest, root, benches, ref_rows, per, arts, skipped, tile)
    if write:
        if "ref" in worst:
            from .report_images import side_by_side

            png = side_by_side(worst["ref"], worst["out"], root / "validation_worst.png",
                               f"{worst['artifact']} {worst['dataset']}/{worst['image']}")
            result["worst_image"] = {k: worst[k] for k in ("artifact", "dataset", "image", "mean_abs")}
            result["worst_image"]["png"] = png.name
        (root / "validation.json").write_text(json.dumps(result, indent=2, default=json_default) + "\n")
        (root / "validation.md").write_text(render_markdown(result))
    return result


def json_default(v: Any) -> Any:
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return str(v)


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def _summarise(manifest: Manifest, root: Path, benches: list[Any], ref_rows: dict[str, list[dict[str, Any]]],
               per: dict[str, dict[str, list[dict[str, Any]]]], arts: dict[str, Any],
               skipped: list[dict[str, str]], tile: int | None) -> dict[str, Any]:
    ref_psnr = {b: _mean(rows, "psnr") for b, rows in ref_rows.items()}
    reference = {b: {"psnr": ref_psnr[b], "ssim": _mean(rows, "ssim"), "images": rows}
                 for b, rows in ref_rows.items()}
    artifacts = []
    for aname, by_ds in per.items():
        a = arts[aname]
        datasets = {}
        for ds, rows in by_ds.items():
            psnr_m = _mean(rows, "psnr")
            vs = [r["psnr_vs_ref"] for r in rows]
            datasets[ds] = {
                "psnr": psnr_m, "ssim": _mean(rows, "ssim"), "drop_db": ref_psnr[ds] - psnr_m,
                "psnr_vs_ref": float(min(vs)), "max_abs": max(r["max_abs"] for r in rows),
                "mean_abs": _mean(rows, "mean_abs"), "nonfinite": sum(r["nonfinite"] for r in rows),
                "images": rows,
            }
        artifacts.append({
            "name": aname, "backend": a.backend, "precision": a.precision, "path": a.path, "datasets": datasets,
            "max_drop_db": max(d["drop_db"] for d in datasets.values()),
            "min_psnr_vs_ref": min(d["psnr_vs_ref"] for d in datasets.values()),
            "max_abs": max(d["max_abs"] for d in datasets.values()),
            "nonfinite": sum(d["nonfinite"] for d in datasets.values()),
        })
    return {
        "export_dir": str(root), "arch": manifest.arch, "scale": manifest.scale, "tile": tile,
        "datasets": [{"name": b.name, "path": str(b.path), "images": len(b), "lr_source": b.lr_source}
                     for b in benches],
        "protocol": "PSNR/SSIM on Y (BT.601), crop=scale, uint8; psnr_vs_ref on RGB float outputs clipped to [0,1]",
        "reference": reference, "artifacts": artifacts, "skipped": skipped,
    }


def _f(v: float, nd: int = 4) -> str:
    return "inf" if math.isinf(v) else f"{v:.{nd}f}"


def render_markdown(res: dict[str, Any]) -> str:
    lines = [f"# Validation: {res['arch']} x{res['scale']}", "",
             f"Export `{res['export_dir']}`, tile {res['tile'] or 'none (full images)'}. {res['protocol']}.", ""]
    lines += ["| artifact | dataset | PSNR-Y | SSIM | drop vs PyTorch (dB) | PSNR vs PyTorch | max abs | mean abs | NaN/Inf |",
              "|---|---|---|---|---|---|---|---|---|"]
    for ds, r in res["reference"].items():
        lines.append(f"| pytorch (reference) | {ds} | {r['psnr']:.4f} | {r['ssim']:.4f} | 0 | inf | 0 | 0 | 0 |")
    for a in res["artifacts"]:
        for ds, d in a["datasets"].items():
            lines.append(f"| {a['name']} | {ds} | {d['psnr']:.4f} | {d['ssim']:.4f} | {d['drop_db']:+.4f} | "
                         f"{_f(d['psnr_vs_ref'], 2)} | {d['max_abs']:.5f} | {d['mean_abs']:.6f} | {d['nonfinite']} |")
    for s in res["skipped"]:
        lines.append(f"\nSkipped {s['artifact']}: {s['reason']}")
    if "worst_image" in res:
        w = res["worst_image"]
        lines += ["", f"Worst image: {w['artifact']} on {w['dataset']}/{w['image']} "
                  f"(mean abs {w['mean_abs']:.6f}): ![worst]({w['png']})"]
        if w.get("compare"):
            lines += ["", f"Compare it with bicubic, the PyTorch reference and HR: [{w['compare']}]({w['compare']})"]
    lines += ["", "## Per image", "", "| artifact | dataset | image | PSNR-Y | drop (dB) | PSNR vs PyTorch | max abs |",
              "|---|---|---|---|---|---|---|"]
    for a in res["artifacts"]:
        for ds, d in a["datasets"].items():
            for r in d["images"]:
                lines.append(f"| {a['name']} | {ds} | {r['name']} | {r['psnr']:.4f} | {r['drop_db']:+.4f} | "
                             f"{_f(r['psnr_vs_ref'], 2)} | {r['max_abs']:.5f} |")
    return "\n".join(lines) + "\n"


def render_console(res: dict[str, Any]) -> str:
    """The table ``sr-compress validate`` prints: per artifact and dataset, PSNR-Y and SSIM vs
    ground truth, then the agreement with the PyTorch reference."""
    head = (f"{'artifact':<16} {'dataset':<12} {'PSNR-Y':>8} {'SSIM':>7} {'drop dB':>9} {'vs ref':>7} "
            f"{'max abs':>9} {'NaN':>4}")
    lines = [head, "-" * len(head)]
    for ds, r in res["reference"].items():
        lines.append(f"{'pytorch':<16} {ds:<12} {r['psnr']:>8.4f} {r['ssim']:>7.4f} {0:>9.4f} {'inf':>7} "
                     f"{0:>9.5f} {0:>4}")
    for a in res["artifacts"]:
        for ds, d in a["datasets"].items():
            vs = "inf" if math.isinf(d["psnr_vs_ref"]) else f"{d['psnr_vs_ref']:.2f}"
            lines.append(f"{a['name']:<16} {ds:<12} {d['psnr']:>8.4f} {d['ssim']:>7.4f} {d['drop_db']:>+9.4f} "
                         f"{vs:>7} {d['max_abs']:>9.5f} {d['nonfinite']:>4}")
    lines += [f"skipped {s['artifact']}: {s['reason']}" for s in res["skipped"]]
    return "\n".join(lines)
