"""INT8 quantization-aware training (QAT) with NNCF, distilled from the FP32 model itself.

``nncf.quantize`` inserts fake-quantizers into a trainable copy of the model (calibrated on LR
patches); the copy is then fine-tuned with L1 to the FP32 model's outputs — the labels come from
the FP32 model, so no ground truth is needed and the embedded default photographs suffice.
Weights and quantizer parameters get separate learning rates (weights move little, scales a lot).

Checkpoints hold plain data only (``weights_only=True`` loads them): the wrapped model's state
dict plus NNCF's JSON-able placement config (``nncf.torch.get_config``); resume rebuilds the
wrapping from that config with ``nncf.torch.load_from_config`` (import paths restricted to
``nncf.*``) on a fresh FP32 copy, so no NNCF object is ever unpickled. Every iteration reseeds
from ``(seed, iteration)`` and the data order comes from :mod:`.sampling`, so a resumed run is
bit-identical to an uninterrupted one.

This loop is small and local rather than ``engine.run_distillation`` because the engine builds
its own student and one optimizer group; QAT needs a pre-built (wrapped) student and two groups.
It reuses the engine's parts: sampling, checkpoint files, LR schedule, report layout.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError, UserInputError
from ..models.hooks import run_with_pre_hooks
from ..models.registry import ModelDescriptor
from .checkpoint import checkpoint_path, prune, resume_or_refuse, rng_state, save_atomic
from .sampling import derive_seed, make_loader, seed_all
from .schedule import LRSchedule

log = logging.getLogger(__name__)

QAT_FILE = "qat.pth"
OVERFLOW_FIX = ("auto", "enable", "disable")
# activation range initialisation: NNCF's default averages each calibration patch's min/max, which
# clips the brightest pixels of full images (RLFN x4's output quantizer ended at 240/255: -0.88 dB
# on Set5 before any training); "minmax" spans everything calibration saw (-0.46 dB)
RANGE_ESTIMATORS = {"minmax": "MINMAX", "mean_minmax": "MEAN_MINMAX"}
PLACEMENTS = ("arch", "ptq")
KEEP_CHECKPOINTS = 2


@dataclass
class QATOptions:
    iterations: int = 200
    batch_size: int = 8
    patch_size: int = 48
    lr: float = 3e-5  # weights
    scale_lr: float = 1e-2  # quantizer ranges
    seed: int = 0
    calib_count: int = 32
    checkpoint_every: int = 50
    data: list[str] = field(default_factory=list)  # HR folders; empty: the embedded default images
    fixed_input_range: bool = True  # the input quantizer spans exactly [0, 1] (pixels), not its calibration
    keep_float: list[str] = field(default_factory=list)  # quantizer names left disabled (float)
    # 7-bit weights so u8 x s8 pair sums cannot saturate on x86 without VNNI (runtime/cpu.py);
    # "auto": on when this CPU lacks VNNI (the export check runs the artifact here)
    overflow_fix: str = "auto"
    range_estimator: str = "minmax"  # RANGE_ESTIMATORS; "mean_minmax" is NNCF's default
    # "arch": the architecture's float scopes; "ptq": the placement NNCF's OpenVINO backend gives
    # PTQ (ArchSpec.quant_ptq_float_scopes + quant_shared), for an IR as fast as PTQ's
    placement: str = "arch"
    # > 0: before calibration, rescale the channels that share one quantizer towards a common range
    # (ArchSpec.quant_equalize; 1 fully, 0.5 the geometric middle); 0: off
    equalize: float = 0.0

    def check(self) -> None:
        for name in ("iterations", "batch_size", "calib_count", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.patch_size < 8:
            raise UserInputError(f"--patch-size must be >= 8, got {self.patch_size}")
        if self.overflow_fix not in OVERFLOW_FIX:
            raise UserInputError(f"--overflow-fix must be one of {', '.join(OVERFLOW_FIX)}, got {self.overflow_fix!r}")
        if self.range_estimator not in RANGE_ESTIMATORS:
            raise UserInputError(f"--range-estimator must be one of {', '.join(RANGE_ESTIMATORS)}, "
                                 f"got {self.range_estimator!r}")
        if self.placement not in PLACEMENTS:
            raise UserInputError(f"--placement must be one of {', '.join(PLACEMENTS)}, got {self.placement!r}")
        if self.lr < 0 or self.scale_lr < 0:
            raise UserInputError("--lr and --scale-lr must be >= 0")
        if not 0 <= self.equalize <= 1:
            raise UserInputError(f"--equalize must be in [0, 1] (0: off, 0.5: the usual), got {self.equalize}")
        for d in self.data:
            if not Path(d).is_dir():
                raise UserInputError(f"--data {d}: not a folder of images")

    def half_range_weights(self) -> bool:
        """Whether weights use 7 bits (the overflow fix), with ``auto`` resolved for this CPU."""
        if self.overflow_fix == "auto":
            from ..runtime.cpu import int8_saturates

            return int8_saturates()
        return self.overflow_fix == "enable"


# --------------------------------------------------------------------------- NNCF plumbing


def use_reference_kernels() -> None:
    """Run NNCF's fake-quantizers with its torch-native functions, eagerly.

    NNCF's C++ extension is compiled on first use (minutes on a small CPU) under a shared lock
    that a killed build leaves behind, after which every process times out; its fallback wraps
    the same functions in ``torch.compile``, which recompiles per shape (a minute per new patch
    size here). The eager functions are what both of those compute.
    """
    from nncf.torch.quantization import extensions as ext
    from nncf.torch.quantization.reference import torch_executor

    class _Eager:
        Quantize_forward = staticmethod(torch_executor.forward)
        Quantize_backward = staticmethod(torch_executor.backward)

    if ext.QuantizedFunctionsCPU._loaded_namespace is None:
        ext.QuantizedFunctionsCPU._loaded_namespace = _Eager


def trainable_copy(model: nn.Module) -> nn.Module:
    """A deep copy whose parameters all train (NNCF would otherwise silently train only the scales)."""
    student = copy.deepcopy(model)
    for p in student.parameters():
        p.requires_grad_(True)
    student.train()
    return student


def check_trainable(model: nn.Module) -> None:
    """Refuse a model whose weights are frozen: QAT would tune the quantizer scales only."""
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad and "__nncf_hooks" not in n]
    if frozen:
        raise ConfigError(f"QAT student has {len(frozen)} frozen parameter(s) (e.g. {frozen[0]}); NNCF would "
                          "train only the quantizer scales: pass a trainable copy (qat.trainable_copy)")


def quantizers(model: nn.Module) -> dict[str, Any]:
    """NNCF quantizer modules of a wrapped model by hook name, in graph order."""
    from nncf.torch.function_hook.wrapper import get_hook_storage

    return {name: mod for name, mod in get_hook_storage(model).named_hooks()}


def _seen_inputs(model: nn.Module, xs: list[torch.Tensor]) -> tuple[list[str], dict[str, list[torch.Tensor]]]:
    """Quantizers in the order a forward pass hits them, and what each saw (weights are Parameters)."""
    qs = quantizers(model)
    seen: dict[str, list[torch.Tensor]] = {}
    order: list[str] = []

    def hook(name: str) -> Any:
        def fn(_mod: nn.Module, args: tuple[Any, ...]) -> None:
            if name not in seen:
                order.append(name)
            seen.setdefault(name, []).append(args[0] if isinstance(args[0], nn.Parameter) else args[0].detach())
        return fn

    run_with_pre_hooks(model, [(m, hook(n)) for n, m in qs.items()], xs)
    return order, seen


def weight_quantizers(model: nn.Module, channels: int = 3, size: int = 16) -> list[str]:
    """Names of the quantizers that act on weights (they see a Parameter in a forward pass)."""
    was = model.training
    model.eval()
    order, seen = _seen_inputs(model, [torch.zeros(1, channels, size, size)])
    model.train(was)
    return [n for n in order if isinstance(seen[n][0], nn.Parameter)]


def set_half_range(model: nn.Module, channels: int = 3) -> int:
    """Quantize every weight to 7 bits stored in the 8-bit grid (NNCF's overflow fix, all layers).

    NNCF's PyTorch backend ignores ``overflow_fix`` in ``nncf.quantize`` (none of RLFN's quantizers
    got a half range), so the flag is set here; narrow range is dropped so the exported grid is the
    full 256 levels ([-64, 63] x 2) that QDQ export requires. Returns how many quantizers changed.
    """
    qs = quantizers(model)
    n = 0
    for name in weight_quantizers(model, channels):
        q = qs[name]
        if hasattr(q, "_half_range") and hasattr(q, "set_levels"):
            q._half_range = True
            q._narrow_range = False
            q.set_levels()
            n += 1
    return n


def _first_activation_inputs(model: nn.Module, xs: list[torch.Tensor]) -> tuple[str | None, list[torch.Tensor]]:
    """The first quantizer a forward pass hits on an activation (not a weight) and what it saw for each x."""
    order, seen = _seen_inputs(model, xs)
    acts = [n for n in order if not isinstance(seen[n][0], nn.Parameter)]
    return (acts[0], seen[acts[0]]) if acts else (None, [])


def fix_input_range(model: nn.Module, channels: int = 3, size: int = 48) -> str | None:
    """Give the quantizer on the (pixel-wise scaled) input the exact range of pixels [0, 1].

    Calibration sets it from the patches it saw (the issue's probe: 239/255, so brighter pixels
    clip). The first activation quantizer is fixed only when it sees a pointwise function of the
    pixels (constant images stay constant there, e.g. RLFN's ``x * 255`` or a mean shift): its
    range is then the span of what black and white images give it.
    """
    was = model.training
    model.eval()
    xs = [torch.full((1, channels, size, size), v) for v in (0.0, 1.0)]
    name, seen = _first_activation_inputs(model, xs)
    model.train(was)
    if name is None or any(float(t.max() - t.min()) > 1e-6 for t in seen):
        return None
    q = quantizers(model)[name]
    if not (hasattr(q, "input_low") and hasattr(q, "input_range")):
        return None
    lo = min(float(t.min()) for t in seen)
    hi = max(float(t.max()) for t in seen)
    with torch.no_grad():
        q.input_low.fill_(lo)
        q.input_range.fill_(hi - lo)
    return name


def set_float(model: nn.Module, names: Sequence[str]) -> None:
    """Disable (keep in float) the named quantizers; unknown names are an error naming the choices."""
    qs = quantizers(model)
    for n in names:
        if n not in qs:
            raise UserInputError(f"--keep-float: no quantizer {n!r} (see --sensitivity for the names)")
        qs[n].disable_quantization()


def float_scopes(desc: ModelDescriptor, placement: str = "arch") -> list[str]:
    """The architecture's node-name patterns that stay in float (``ArchSpec.quant_float_scopes``, or
    ``quant_ptq_float_scopes`` for ``placement="ptq"`` where the architecture has them)."""
    from ..models.registry import ARCHS

    if desc.arch not in ARCHS:
        return []
    spec = ARCHS.get(desc.arch)
    if placement == "ptq" and spec.quant_ptq_float_scopes is not None:
        return list(spec.quant_ptq_float_scopes)
    return list(spec.quant_float_scopes)


def shared_patterns(desc: ModelDescriptor, placement: str = "arch") -> list[str]:
    """``ArchSpec.quant_shared`` for ``placement="ptq"`` (none otherwise)."""
    from ..models.registry import ARCHS

    return list(ARCHS.get(desc.arch).quant_shared) if placement == "ptq" and desc.arch in ARCHS else []


def share_quantizers(model: nn.Module, patterns: Sequence[str]) -> list[list[str]]:
    """Make the quantizers whose hook names match a pattern with the same group ``g`` one module.

    The shared one starts from the union of the group's calibrated ranges. NNCF's JSON config keeps
    the sharing (``load_from_config`` rebuilds one module), so checkpoints and resume need nothing
    more. Returns the groups (hook names) that were joined.
    """
    from nncf.torch.function_hook.wrapper import get_hook_storage

    storage = get_hook_storage(model)
    groups: dict[tuple[int, str], list[str]] = {}
    for name, _ in storage.named_hooks(remove_duplicate=False):
        for i, pat in enumerate(patterns):
            m = re.match(pat, name)
            if m:
                groups.setdefault((i, m.group("g")), []).append(name)
    joined = [names for names in groups.values() if len(names) > 1]
    for names in joined:
        slots = [_hook_slot(storage, n) for n in names]
        mods: list[Any] = [hooks[key] for hooks, key in slots]
        lo = min(float(q.input_low.detach().min()) for q in mods)
        hi = max(float((q.input_low + q.input_range.abs()).detach().max()) for q in mods)
        with torch.no_grad():
            mods[0].input_low.fill_(lo)
            mods[0].input_range.fill_(hi - lo)
        for hooks, key in slots[1:]:
            hooks[key] = mods[0]
    return joined


def _hook_slot(storage: nn.Module, name: str) -> tuple[nn.ModuleDict, str]:
    """Where hook ``name`` (``post_hooks.<op>__<port>.<index>``) lives: its ModuleDict and key."""
    kind, rest = name.split(".", 1)
    key, idx = rest.rsplit(".", 1)
    return getattr(storage, kind)[key], idx


def wrap(model: nn.Module, calib: list[torch.Tensor], fixed_input_range: bool = True,
         half_range: bool = False, range_estimator: str = "minmax", float_patterns: Sequence[str] = (),
         shared: Sequence[str] = ()) -> nn.Module:
    """``nncf.quantize`` a trainable copy of ``model`` calibrated on ``calib`` (fake-quant, trainable)."""
    import nncf
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    use_reference_kernels()
    student = trainable_copy(model).eval()
    # NNCF's own overflow fix (default FIRST_LAYER) doubles the first convolution's weight scale in
    # the torch backend, leaving it 7 (or, with half_range, 6) effective bits: the most sensitive
    # quantizer of RLFN x4 (5.8 dB of output fidelity). set_half_range is the one overflow fix here.
    params = nncf.AdvancedQuantizationParameters(
        overflow_fix=nncf.OverflowFix.DISABLE,
        activations_range_estimator_params=getattr(RangeEstimatorParametersSet, RANGE_ESTIMATORS[range_estimator]))
    ignored = nncf.IgnoredScope(patterns=list(float_patterns), validate=False) if float_patterns else None
    logging.getLogger("nncf").setLevel(logging.WARNING)  # else one INFO line per ignored node
    q = nncf.quantize(student, nncf.Dataset(calib), subset_size=len(calib),
                      preset=nncf.QuantizationPreset.MIXED, fast_bias_correction=True,
                      advanced_parameters=params, ignored_scope=ignored)
    if half_range:
        set_half_range(q, channels=int(calib[0].shape[1]))
    if fixed_input_range:
        fix_input_range(q)
    share_quantizers(q, shared)
    _train_all(q)
    return q


def wrap_for(desc: ModelDescriptor, opts: QATOptions, model: nn.Module | None = None) -> nn.Module:
    """:func:`wrap` ``model`` (default ``desc.model``) as ``opts`` and ``desc``'s architecture ask:
    calibrated on ``opts``' patches, with its input range, weight bits, range estimator and float scopes
    (equalized first with ``opts.equalize``; ``model`` itself is never changed)."""
    calib = calibration(desc, opts)
    src = desc.model if model is None else model
    if opts.equalize:
        src = equalized(desc, src, calib, opts.equalize)
    return wrap(src, calib, opts.fixed_input_range, opts.half_range_weights(), opts.range_estimator,
                float_scopes(desc, opts.placement), shared_patterns(desc, opts.placement))


def equalized(desc: ModelDescriptor, model: nn.Module, calib: list[torch.Tensor], alpha: float) -> nn.Module:
    """A copy of ``model`` rescaled by ``desc``'s architecture's ``quant_equalize`` (same FP32 function)."""
    from ..models.registry import ARCHS

    spec = ARCHS.get(desc.arch) if desc.arch in ARCHS else None
    if spec is None or spec.quant_equalize is None:
        able = sorted(n for n, s in ARCHS.items() if s.quant_equalize is not None)
        raise UserInputError(f"--equalize: architecture {desc.arch!r} has no equalization "
                             f"(available for: {', '.join(able) or 'none'}); drop --equalize")
    out = copy.deepcopy(model).eval()
    n = spec.quant_equalize(out, calib, alpha)
    log.info("equalized %d channels (alpha %s)", n, alpha)
    return out


def _train_all(model: nn.Module) -> None:
    # NNCF registers its integer bookkeeping (bit width, signedness) as frozen parameters too
    for p in model.parameters():
        if p.is_floating_point():
            p.requires_grad_(True)


def rebuild(model: nn.Module, config: dict[str, Any], state: dict[str, torch.Tensor],
            half_range: bool = False) -> nn.Module:
    """The wrapped model of a checkpoint: NNCF placement from ``config`` on a fresh copy, then ``state``."""
    import nncf.torch

    use_reference_kernels()
    q = nncf.torch.load_from_config(trainable_copy(model), config)
    if half_range:  # not part of NNCF's config: re-applied from what the checkpoint records
        set_half_range(q)
    try:
        q.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"QAT state does not fit this model ({str(err).splitlines()[0][:160]})") from None
    _train_all(q)
    return q


def constrain_ranges(model: nn.Module) -> None:
    """Keep every trained range deployable: zero inside asymmetric ranges, positive symmetric scales.

    Unconstrained, a 1e-2 range learning rate pushes e.g. RLFN's ESA sigmoid ranges above zero and a
    few weight scales through zero within 200 iterations; INT8 runtimes need zero representable.
    NOTE: this alone does not fix the export breaking after long QAT runs (docs/compression.md).
    """
    with torch.no_grad():
        for q in quantizers(model).values():
            if hasattr(q, "input_low") and hasattr(q, "input_range"):
                high = q.input_low + q.input_range.abs()
                q.input_low.clamp_(max=0.0)
                q.input_range.copy_(torch.maximum(high, torch.zeros_like(high)) - q.input_low)
            elif hasattr(q, "scale"):
                q.scale.copy_(q.scale.abs().clamp(min=1e-6))


def nncf_config(model: nn.Module) -> dict[str, Any]:
    import nncf.torch

    # a JSON round trip proves it is plain data (what weights_only=True can load back)
    return json.loads(json.dumps(nncf.torch.get_config(model)))


# --------------------------------------------------------------------------- data


def training_set(desc: ModelDescriptor, opts: QATOptions) -> torch.utils.data.Dataset:
    from ..data.datasets import PairedPatchDataset
    from ..data.defaults import default_images_dir

    paths = list(opts.data) or [str(default_images_dir())]
    return PairedPatchDataset(paths, desc.scale, opts.patch_size, augment=True)


def calibration(desc: ModelDescriptor, opts: QATOptions) -> list[torch.Tensor]:
    from ..export.quantize import calibration_patches

    patches = calibration_patches(opts.data[0] if opts.data else None, desc.scale, patch=opts.patch_size,
                                  count=opts.calib_count, req=desc.size_requirements, seed=opts.seed)
    return [torch.from_numpy(p) for p in patches]


# --------------------------------------------------------------------------- training


@dataclass
class QATResult:
    model: nn.Module  # the wrapped (fake-quant) model, eval mode, CPU
    config: dict[str, Any]
    out_dir: Path
    iterations_done: int
    train_time_s: float
    completed: bool
    last_loss: float | None = None


def param_groups(model: nn.Module, opts: QATOptions) -> list[dict[str, Any]]:
    quant = [p for n, p in model.named_parameters() if "__nncf_hooks" in n and p.is_floating_point()]
    weights = [p for n, p in model.named_parameters() if "__nncf_hooks" not in n]
    return [{"params": weights, "lr": opts.lr, "base_lr": opts.lr},
            {"params": quant, "lr": opts.scale_lr, "base_lr": opts.scale_lr}]


def _start(desc: ModelDescriptor, out: Path, opts: QATOptions, resume: bool) -> tuple[nn.Module, dict[str, Any],
                                                                                     dict[str, Any] | None]:
    found = resume_or_refuse(out / "checkpoints", out, resume, what="a QAT run")
    if found is not None:
        path, state = found
        cfg = state.get("nncf_config")
        if not isinstance(cfg, dict):
            raise CheckpointError(f"{path}: not a QAT checkpoint (no nncf_config); delete it or use another --out")
        return rebuild(desc.model, cfg, state["student"], bool(state.get("half_range_weights"))), cfg, state
    q = wrap_for(desc, opts)
    return q, nncf_config(q), None


def run_qat(desc: ModelDescriptor, out: str | Path, opts: QATOptions, resume: bool = False,
            progress: bool = True, stop_after: int | None = None) -> QATResult:
    """Quantize ``desc``'s model with NNCF and fine-tune it against the FP32 model; write ``out``."""
    from tqdm.auto import tqdm

    opts.check()
    out = Path(out)
    teacher = desc.model.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student, cfg, state = _start(desc, out, opts, resume)
    set_float(student, opts.keep_float)
    check_trainable(student)
    optimizer = torch.optim.Adam(param_groups(student, opts), lr=opts.lr, betas=(0.9, 0.99))
    start = 0
    train_time = 0.0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        start, train_time = int(state["iteration"]), float(state.get("train_time", 0.0))
    total = opts.iterations
    end = total if stop_after is None else min(total, max(stop_after, start))
    schedule = LRSchedule(1.0, total, "cosine", [], 0.5, 1e-3)
    loader = make_loader(training_set(desc, opts), opts.batch_size, opts.seed, start, total, 0, 1, 0)
    batches = iter(loader)
    out.mkdir(parents=True, exist_ok=True)
    (out / "qat_options.json").write_text(json.dumps(asdict(opts), indent=2) + "\n")
    student.train()
    pbar = tqdm(total=total, initial=start, desc="qat", unit="it", dynamic_ncols=True, disable=not progress)
    t0 = time.perf_counter()
    loss_v: float | None = None
    with open(out / "log.csv", "a") as logf:
        for it in range(start, end):
            factor = schedule.lr_at(it)
            for g in optimizer.param_groups:
                g["lr"] = g["base_lr"] * factor
            x = next(batches)["lr"]
            seed_all(derive_seed(opts.seed, it, 0))
            with torch.no_grad():
                target = teacher(x)
            loss = F.l1_loss(student(x), target)
            if not torch.isfinite(loss):  # never train on silently: every later step would be NaN too
                raise ConfigError(f"QAT diverged: the loss is {float(loss)} at iteration {it + 1} ({out}); "
                                  "lower --scale-lr/--lr, or --resume from the last checkpoint with them")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            constrain_ranges(student)
            loss_v = float(loss.detach())
            done = it + 1
            logf.write(f"{done},{loss_v:.6g}\n")
            pbar.update(1)
            pbar.set_postfix(loss=f"{loss_v:.5f}")
            if done % opts.checkpoint_every == 0 or done == end:
                _save(out, done, student, cfg, optimizer, opts, train_time + time.perf_counter() - t0)
    pbar.close()
    train_time += time.perf_counter() - t0
    student.eval()
    if end == total:
        save_qat(out / QAT_FILE, student, cfg, desc, opts, total)
    return QATResult(student, cfg, out, end, round(train_time, 2), end == total, loss_v)


def _save(out: Path, done: int, student: nn.Module, cfg: dict[str, Any], optimizer: torch.optim.Optimizer,
          opts: QATOptions, train_time: float) -> None:
    ckpt_dir = out / "checkpoints"
    state = {"iteration": done, "student": student.state_dict(), "nncf_config": cfg,
             "optimizer": optimizer.state_dict(), "rng": rng_state(), "options": asdict(opts),
             "train_time": train_time, "half_range_weights": opts.half_range_weights()}
    save_atomic(state, checkpoint_path(ckpt_dir, done))
    prune(ckpt_dir, KEEP_CHECKPOINTS)


def save_qat(path: Path, model: nn.Module, cfg: dict[str, Any], desc: ModelDescriptor, opts: QATOptions,
             iterations: int) -> None:
    """The finished fake-quant model as plain data (state dict + NNCF config + where it came from)."""
    save_atomic({"state_dict": model.state_dict(), "nncf_config": cfg, "arch": desc.arch, "scale": desc.scale,
                 "source": desc.source, "source_sha256": desc.source_sha256, "iterations": iterations,
                 "options": asdict(opts), "half_range_weights": opts.half_range_weights()}, path)


def load_qat(path: str | Path, desc: ModelDescriptor) -> nn.Module:
    """Rebuild the fake-quant model saved by :func:`save_qat` on top of ``desc`` (its FP32 source)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unreadable or unsafe: one line either way
        raise CheckpointError(f"{path}: cannot read QAT model ({' '.join(str(err).split())[:120]})") from None
    if not isinstance(obj, dict) or "nncf_config" not in obj:
        raise CheckpointError(f"{path}: not a QAT model written by 'sr-compress quantize --qat'")
    return rebuild(desc.model, obj["nncf_config"], obj["state_dict"], bool(obj.get("half_range_weights"))).eval()


def output_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (peak 1) between two model outputs clipped to [0, 1]."""
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))
