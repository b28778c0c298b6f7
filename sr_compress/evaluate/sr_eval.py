"""Evaluate an upscaler on a benchmark set under the standard SR protocol.

Everything is reduced to one callable, ``upscale_fn(lr_uint8_hwc) -> sr_uint8_hwc``, so a torch
:class:`~sr_compress.models.registry.ModelDescriptor`, any backend
:class:`~sr_compress.runtime.base.Runner` (through the shared tiler) and the bicubic baseline are
measured by exactly the same code. The SR output is rounded to uint8 before the metric, as if it were
saved to PNG (the protocol's ``round_uint8``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import BenchmarkSet, dataset_name, discover_sources
from ..data.imresize import bicubic_upscale_uint8, imresize, modcrop
from ..data.io import decode_image, round_uint8, to_uint8
from ..errors import UserInputError
from ..metrics.sr import PROTOCOL, Protocol, evaluate_pair, rgb_to_y

UpscaleFn = Callable[[np.ndarray], np.ndarray]


float_to_uint8_hwc = to_uint8  # the protocol's float → uint8 rounding (one copy: data/io.py)


def bicubic_upscale_fn(scale: int) -> UpscaleFn:
    """The bicubic baseline: MATLAB ``imresize(lr, scale, 'bicubic')`` rounded to uint8."""

    def fn(lr: np.ndarray) -> np.ndarray:
        return bicubic_upscale_uint8(lr, scale)

    fn.label = f"bicubic x{scale}"  # type: ignore[attr-defined]
    return fn


def _pad(x: torch.Tensor, pad_b: int, pad_r: int) -> torch.Tensor:
    if pad_b == 0 and pad_r == 0:
        return x
    # reflect keeps statistics natural at the border; it needs the pad to be smaller than the side
    mode = "reflect" if pad_b < x.shape[-2] and pad_r < x.shape[-1] else "replicate"
    return F.pad(x, (0, pad_r, 0, pad_b), mode=mode)


def torch_upscale_fn(desc: Any, device: str = "cpu") -> UpscaleFn:
    """Run a ModelDescriptor on the whole image (padded to its ``size_requirements``, cropped back).

    The model runs in eval mode; its previous train/eval mode is restored after each call, so a
    training loop can validate with it.
    """
    model = desc.model.to(device)
    scale = int(desc.scale)
    req = desc.size_requirements

    @torch.inference_mode()
    def fn(lr: np.ndarray) -> np.ndarray:
        h, w = lr.shape[:2]
        x = torch.from_numpy(lr.astype(np.float32) / 255.0).permute(2, 0, 1)[None].to(device)
        pad_b, pad_r = req.padding_for(h, w)
        was_training = model.training
        model.eval()
        try:
            y = model(_pad(x, pad_b, pad_r))
        finally:
            model.train(was_training)
        if y.shape[-2] != (h + pad_b) * scale or y.shape[-1] != (w + pad_r) * scale:
            raise UserInputError(
                f"model {desc.arch} returned {tuple(y.shape[-2:])} for a {(h + pad_b, w + pad_r)} input; "
                f"expected x{scale} — is --scale right for this checkpoint?"
            )
        return float_to_uint8_hwc(y[0, :, : h * scale, : w * scale])

    fn.label = f"{desc.arch} x{scale}"  # type: ignore[attr-defined]
    return fn


def runner_upscale_fn(runner: Any, tile: int | None = None, overlap: int = 8) -> UpscaleFn:
    """Any backend Runner, through the shared tiler (``tile=None``: whole image when possible)."""
    from ..runtime.tiling import upscale

    def fn(lr: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(lr.astype(np.float32).transpose(2, 0, 1) / 255.0)
        return float_to_uint8_hwc(upscale(runner, x, tile=tile, overlap=overlap))

    fn.label = f"{runner.info.backend} {runner.info.precision}"  # type: ignore[attr-defined]
    return fn


def load_upscaler(model: str, scale: int | None, device: str = "cpu", tile: int | None = None,
                  backend: str | None = None, precision: str | None = None,
                  runner_suffixes: Iterable[str] | None = None) -> tuple[Any, int, dict]:
    """(upscale_fn, scale, model facts) for 'bicubic', an export directory, an artifact or a checkpoint."""
    from ..backends import eval_suffixes

    suffixes = set(runner_suffixes if runner_suffixes is not None else eval_suffixes())
    info: dict[str, Any]

    if model.lower() == "bicubic":
        if scale is None:
            raise UserInputError("--model bicubic needs --scale (2, 3, 4, ...)")
        return bicubic_upscale_fn(scale), scale, {"model": "bicubic"}
    path = Path(model).expanduser()
    if path.is_dir():
        # an export directory, chosen like sr-serve does (fp32, OpenVINO first); reference.pth is torch
        from ..upscale.model import load_upscale_runner

        runner = load_upscale_runner(path, backend, precision, device)
        s = runner.info.scale
        if scale is not None and scale != s:
            raise UserInputError(f"{path}: the exported model is x{s}, but --scale is {scale}")
        info = {"model": str(path), "backend": runner.info.backend, "precision": runner.info.precision}
        return runner_upscale_fn(runner, tile=tile), s, info
    if path.suffix.lower() in suffixes:
        from ..runtime.runners import make_runner

        runner = make_runner(path, device=device)
        s = runner.info.scale
        if scale is not None and scale != s:
            raise UserInputError(f"{path}: the exported model is x{s}, but --scale is {scale}")
        info = {"model": str(path), "backend": runner.info.backend, "precision": runner.info.precision}
        return runner_upscale_fn(runner, tile=tile), s, info
    from ..models.load import load_model

    desc = load_model(model, scale=scale)  # raises unless desc.scale == scale
    info = {"model": str(model), "arch": desc.arch, "params": desc.params, "sha256": desc.source_sha256}
    return torch_upscale_fn(desc, device=device), desc.scale, info


def as_upscale_fn(model: Any, scale: int) -> UpscaleFn:
    """Turn "bicubic", a ModelDescriptor, a Runner or a plain callable into an ``UpscaleFn``."""
    if isinstance(model, str):
        if model.lower() == "bicubic":
            return bicubic_upscale_fn(scale)
        raise UserInputError(f"unknown upscaler {model!r}: give a checkpoint path or 'bicubic'")
    from ..models.registry import ModelDescriptor
    from ..runtime.base import Runner

    if isinstance(model, ModelDescriptor):
        if model.scale != scale:
            raise UserInputError(f"model {model.arch} is x{model.scale}, but --scale is {scale}")
        return torch_upscale_fn(model)
    if isinstance(model, Runner):
        if model.info.scale != scale:
            raise UserInputError(f"runner is x{model.info.scale}, but --scale is {scale}")
        return runner_upscale_fn(model)
    if callable(model):
        return model
    raise TypeError(f"cannot evaluate a {type(model).__name__}")


FULL_REFERENCE = ("psnr", "ssim")
NO_REFERENCE = ("niqe",)
METRICS = FULL_REFERENCE + NO_REFERENCE


def parse_metrics(text: str | None) -> tuple[str, ...]:
    """``"psnr,ssim,niqe"`` → a checked tuple (default: psnr, ssim)."""
    names = tuple(m.strip().lower() for m in (text or "psnr,ssim").split(",") if m.strip())
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise UserInputError(f"--metrics {text!r}: unknown {', '.join(bad) or '(empty)'}; use any of "
                             f"{', '.join(METRICS)}")
    return names


@dataclass
class EvalExtras:
    """What an evaluation does besides PSNR/SSIM against HR."""

    metrics: tuple[str, ...] = FULL_REFERENCE
    save_dir: Path | None = None  # every SR output as <save_dir>/<dataset>/<image>.png
    reference_fn: UpscaleFn | None = None  # teacher: PSNR/SSIM of the output against its output
    niqe_params: str | Path | None = None


def _score(name: str, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray | None, scale: int, protocol: Protocol,
           extras: EvalExtras, dataset: str) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name}
    if hr is not None and any(m in extras.metrics for m in FULL_REFERENCE):
        row.update(evaluate_pair(sr, hr, scale, protocol))
    if "niqe" in extras.metrics:
        from ..metrics.niqe import calculate_niqe

        crop = protocol.crop_border if protocol.crop_border is not None else scale
        row["niqe"] = calculate_niqe(sr, crop_border=crop, params_path=extras.niqe_params)
    if extras.reference_fn is not None:
        ref = np.asarray(extras.reference_fn(lr))
        fid = evaluate_pair(sr, ref, scale, protocol)
        row.update({"psnr_ref": fid["psnr"], "ssim_ref": fid["ssim"]})
    if extras.save_dir is not None:
        from ..data.io import write_image

        write_image(Path(extras.save_dir) / dataset / f"{name}.png", sr)
    return row


def _means(rows: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k in rows[0] if k != "name" and isinstance(rows[0][k], (int, float))]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def evaluate_model(
    upscale_fn: Any,
    bench: BenchmarkSet,
    scale: int | None = None,
    protocol: Protocol = PROTOCOL,
    progress: bool = True,
    extras: EvalExtras | None = None,
) -> dict[str, Any]:
    """PSNR/SSIM of ``upscale_fn`` on every image of ``bench`` plus their means.

    ``upscale_fn`` maps an LR uint8 HWC array to an SR uint8 HWC array (or is "bicubic", a
    ModelDescriptor or a Runner, see :func:`as_upscale_fn`). Returns a JSON-able dict:
    ``{"dataset", "scale", "n_images", "psnr", "ssim", "images": [{"name", "psnr", "ssim"}],
    "protocol", "lr_source", "seconds"}``; the means are plain averages over images (the
    convention of every SR paper). ``extras`` adds NIQE, fidelity to a reference model
    (``psnr_ref``/``ssim_ref``) and saving every output.
    """
    extras = extras or EvalExtras()
    scale = int(scale or bench.scale)
    if bench.scale != scale:
        raise UserInputError(f"benchmark {bench.name} was loaded for x{bench.scale}, not x{scale}")
    if not protocol.round_uint8:
        raise UserInputError("the evaluator always rounds SR outputs to uint8 (Protocol.round_uint8=True)")
    if len(bench) == 0:
        raise UserInputError(f"benchmark {bench.name} has no images")
    fn = as_upscale_fn(upscale_fn, scale)
    items = bench.items
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc=f"{bench.name} x{scale}", unit="img", leave=False)
    rows = []
    t0 = time.perf_counter()
    for name, lr, hr in items:
        sr = np.asarray(fn(lr))
        if sr.dtype != np.uint8:
            raise TypeError(f"upscale_fn must return uint8 HWC, got {sr.dtype}")
        if sr.shape != hr.shape:
            raise UserInputError(
                f"{bench.name}/{name}: SR output is {sr.shape[1]}x{sr.shape[0]} but HR is "
                f"{hr.shape[1]}x{hr.shape[0]}; the model's scale does not match x{scale}"
            )
        rows.append(_score(name, lr, sr, hr, scale, protocol, extras, bench.name))
    seconds = time.perf_counter() - t0
    return {
        "dataset": bench.name,
        "scale": scale,
        "n_images": len(rows),
        **_means(rows),
        "images": rows,
        "protocol": protocol.as_dict(scale),
        "lr_source": bench.lr_source,
        "seconds": round(seconds, 3),
    }


def evaluate_no_reference(
    upscale_fn: Any,
    folder: str | Path,
    scale: int,
    protocol: Protocol = PROTOCOL,
    progress: bool = True,
    extras: EvalExtras | None = None,
) -> dict[str, Any]:
    """No-reference evaluation: every image in ``folder`` IS an LR input (real-world photos, RealSRSet);
    only NIQE (and fidelity to ``extras.reference_fn``) can be measured."""
    from ..data.io import list_images, read_uint8

    extras = extras or EvalExtras(metrics=NO_REFERENCE)
    fn = as_upscale_fn(upscale_fn, scale)
    files = list_images(folder)
    name = dataset_name(folder)
    if progress:
        from tqdm.auto import tqdm

        files = tqdm(files, desc=f"{name} x{scale} (no reference)", unit="img", leave=False)
    t0 = time.perf_counter()
    rows = []
    for f in files:
        lr = read_uint8(f)
        rows.append(_score(f.stem, lr, np.asarray(fn(lr)), None, scale, protocol, extras, name))
    return {"dataset": name, "scale": scale, "n_images": len(rows), **_means(rows), "images": rows,
            "protocol": protocol.as_dict(scale), "lr_source": "the images themselves (no HR)",
            "seconds": round(time.perf_counter() - t0, 3)}


def y_domain_bicubic_baseline(path: str | Path, scale: int) -> dict[str, Any]:
    """The "Bicubic" row of the classic SR tables (SRCNN, VDSR, LapSRN, EDSR, RCAN, IMDN, ...).

    Those numbers were not computed from RGB LR images. Following the SRCNN/VDSR MATLAB test
    scripts: ``Y = rgb2ycbcr(modcrop(HR))`` on uint8 (so Y is *rounded*; a single-channel image
    such as Set14/bridge is used as Y *as is*, without the 16-235 scaling), ``Y/255`` is
    downscaled and upscaled with MATLAB bicubic in floating point (no rounding in between), the
    result is rounded to uint8, ``scale`` pixels are shaved per side, and PSNR is taken against the
    rounded HR Y. This reproduces the published Set5/Set14 bicubic values to <= 0.01 dB
    (docs/evaluation.md); our protocol (RGB LR files, float Y, gray as RGB) gives up to 0.09 dB
    more on Set14 because bridge is gray.
    """
    rows = []
    for src in discover_sources(path, scale):
        dec = decode_image(src.hr)
        hr = modcrop(round_uint8(dec.rgb), scale, channels_last=True)
        gray = dec.mode in ("L", "I;16", "I;16B", "I;16L", "I", "LA")
        y = hr[..., 0].astype(np.float64) if gray else np.round(rgb_to_y(hr))
        t = torch.from_numpy(y / 255.0)
        up = imresize(imresize(t, 1.0 / scale), float(scale)).numpy()
        sr_y = round_uint8(up).astype(np.float64)
        c = scale
        mse = np.mean((sr_y[c:-c, c:-c] - y[c:-c, c:-c]) ** 2)
        rows.append({"name": src.hr.stem, "psnr": float(10 * np.log10(255.0**2 / mse)), "gray": gray})
    return {
        "dataset": dataset_name(path),
        "scale": scale,
        "n_images": len(rows),
        "psnr": float(np.mean([r["psnr"] for r in rows])),
        "images": rows,
        "protocol": "SRCNN/VDSR Y-domain bicubic: rounded Y (gray used as is), float bicubic down+up, "
        "uint8 rounding, shave=scale",
    }
