"""The one training loop every distillation method runs in.

``run_distillation`` owns: the accelerate ``Accelerator`` (CPU / one GPU / DDP via ``accelerate
launch``), teacher loading (frozen), student building, the default paired-patch data with a
resumable order (``sampling.py``), the student's Adam optimizer and LR schedule
(``schedule.py``), EMA (``ema.py``), progressive growth, checkpoints + exact resume
(``checkpoint.py``), periodic validation, the CSV logs and the final report (``report.py``).
A method (``methods/<name>.py``) only computes losses and steps optimizers through
:class:`~sr_compress.compress.base.StepContext`.

Determinism: at the start of iteration ``i`` every global RNG (python, numpy, torch) is seeded
from ``(seed, i, process index)``, and every training item from ``(seed, stream position)``.
Everything an iteration draws is therefore a function of its index, which is what makes a
resumed run bit-identical to an uninterrupted one (tested in tests/unit/test_engine_resume.py).
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from ..config import apply_overrides, from_dict, read_yaml, to_dict
from ..errors import CheckpointError, ConfigError, UserInputError
from .base import DistillMethod, StepContext, get_method, list_methods
from .checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    prune,
    rng_state,
    save_atomic,
    set_rng_state,
)
from .config import DistillConfig
from .ema import ModelEMA
from .sampling import derive_seed, make_loader, seed_all
from .schedule import LRSchedule

log = logging.getLogger(__name__)

# MACs are reported for the LR input that gives a 1280x720 output (the usual convention of SR
# efficiency papers, e.g. the NTIRE efficient-SR challenges).
MACS_OUTPUT_HW = (720, 1280)
KEEP_CHECKPOINTS = 2
STOP_AFTER_ENV = "SR_COMPRESS_STOP_AFTER"


# --------------------------------------------------------------------------- config


def load_distill_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> DistillConfig:
    """YAML recipe (optional) + dotted overrides (``train.lr``, ``dukd.q``) -> validated config.

    The method's own section (top-level key named after the method) is parsed by the method's
    ``Config`` dataclass and stored, as plain data, in ``method_args``. Sections of other
    registered methods are ignored (one recipe can serve several methods); unknown keys anywhere
    are rejected with their name.
    """
    src = str(path) if path else "command line"
    data = read_yaml(path) if path else {}
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    data = apply_overrides(data, overrides)
    method_name = data.get("method", DistillConfig.method)
    if not isinstance(method_name, str):
        raise ConfigError(f"{src}: 'method' must be a string, got {method_name!r}")
    method_cls = get_method(method_name)
    section = data.pop(method_name, None)
    if "method_args" in data:
        raise ConfigError(f"{src}: unknown key 'method_args' (put the method's options under '{method_name}:')")
    # a recipe may carry sections for several methods (switch with --method); only the active
    # one is used, the others must still be registered method names (typos are rejected below)
    for other in sorted(set(data) & set(list_methods())):
        log.info("%s: ignoring section '%s' (the method is '%s')", src, other, method_name)
        data.pop(other)
    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{src}: '{method_name}' must be a mapping, got {type(section).__name__}")
    if "student" not in data and method_cls.default_student:
        data["student"] = method_cls.default_student
    cfg = from_dict(DistillConfig, data, src=src)
    method_cfg = from_dict(method_cls.Config, section or {}, src=src, prefix=f"{method_name}.")
    cfg.method_args = to_dict(method_cfg)
    check = getattr(method_cfg, "check_budget", None)  # e.g. a growth schedule longer than the run
    if check is not None:
        try:
            check(cfg.train.iterations)
        except ValueError as err:
            raise ConfigError(f"{src}: {err}") from None
    if method_cls.needs_teacher and not cfg.teacher:
        raise ConfigError(f"{src}: method '{method_name}' needs a teacher (set 'teacher:' or pass --teacher CKPT)")
    if method_cls.needs_data and not cfg.data.path:
        raise ConfigError(
            f"{src}: method '{method_name}' needs training images (set 'data.path' or pass --data DIR)"
        )
    return cfg


def recipe_dict(cfg: DistillConfig) -> dict[str, Any]:
    """The resolved config in recipe layout (method options under the method's name): a run
    directory's ``config.yaml`` can be passed back as ``--config`` to reproduce the run."""
    data = to_dict(cfg)
    data[cfg.method] = data.pop("method_args")
    return data


def build_method(cfg: DistillConfig) -> DistillMethod:
    method_cls = get_method(cfg.method)
    method_cfg = from_dict(method_cls.Config, cfg.method_args, src="method_args", prefix=f"{cfg.method}.")
    return method_cls(method_cfg, cfg.scale)


# --------------------------------------------------------------------------- result


@dataclass
class RunResult:
    student: Any  # ModelDescriptor (EMA weights when EMA is enabled)
    out_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    completed: bool = True  # False when stopped early by ``stop_after``
    main_process: bool = True  # False in the other processes of a multi-process run


# --------------------------------------------------------------------------- helpers


def _unwrap(accelerator: Any, model: nn.Module) -> nn.Module:
    return accelerator.unwrap_model(model)


def _make_accelerator(cfg: DistillConfig) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # accelerate keeps one process-wide state and refuses a second Accelerator with another
    # precision; runs made one after another in one process (benchmarks, pipelines, tests) may
    # differ. Only the precision part is dropped: the process group (PartialState) is kept.
    state = AcceleratorState._shared_state
    if state and str(state.get("_mixed_precision", cfg.train.mixed_precision)) != cfg.train.mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    try:
        return Accelerator(mixed_precision=cfg.train.mixed_precision, cpu=not torch.cuda.is_available())
    except ValueError as err:  # e.g. fp16 requested on a CPU-only machine
        raise ConfigError(f"train.mixed_precision={cfg.train.mixed_precision!r}: {err}") from None


TEACHER_SPEC = "teacher"  # student spec meaning "the teacher's own architecture and weights"


def _copy_of_teacher(teacher_desc: Any) -> Any:
    if teacher_desc is None:
        raise ConfigError("student: teacher copies the teacher, but this method loads none: use a method that "
                          "takes --teacher CKPT (kd, dukd, datafree, pdd) or a student spec such as edsr:c32b4")
    desc = copy.deepcopy(teacher_desc)
    desc.model.train()
    for p in desc.model.parameters():
        p.requires_grad_(True)
    desc.source = f"copy of teacher {teacher_desc.source}"
    return desc


INIT_SPEC = "init"  # student spec meaning "the network in cfg.init, architecture and weights" (--init)


def _student_from_init(cfg: DistillConfig) -> Any:
    from ..models.load import load_model

    if not cfg.init:
        raise ConfigError("student: init takes its network from init: give --init CKPT (e.g. a pruned checkpoint)")
    desc = load_model(cfg.init, cfg.scale)
    desc.model.train()
    for p in desc.model.parameters():  # a frozen copy would silently train nothing
        p.requires_grad_(True)
    desc.source = f"init {cfg.init}"
    return desc


def _load_teacher(cfg: DistillConfig) -> Any:
    from ..models.load import load_model

    desc = load_model(cfg.teacher, cfg.scale)  # type: ignore[arg-type]
    if desc.scale != cfg.scale:
        raise UserInputError(
            f"teacher {cfg.teacher} is a x{desc.scale} model but the run is x{cfg.scale}; "
            f"pass --scale {desc.scale} or a x{cfg.scale} teacher"
        )
    desc.model.eval()
    for p in desc.model.parameters():
        p.requires_grad_(False)
    return desc


def _build_dataset(cfg: DistillConfig, method: DistillMethod) -> torch.utils.data.Dataset | None:
    if not method.needs_data:
        return method.make_dataset(cfg.data, cfg.scale)
    ds = method.make_dataset(cfg.data, cfg.scale)
    if ds is not None:
        return ds
    if cfg.data.degradation:
        from ..data.degradations import DegradedPairDataset, make_pipeline

        return DegradedPairDataset(cfg.data.path, cfg.scale, cfg.data.patch_size,
                                   make_pipeline(cfg.data.degradation, cfg.scale), augment=cfg.data.augment,
                                   seed=cfg.train.seed)
    from .datadistill.common import distilled_training_set

    # a `distill-data --out` folder: its images (bicubic LR) or its stored teacher labels
    ds = distilled_training_set(cfg.data.path, cfg.scale, cfg.data.patch_size, augment=cfg.data.augment)
    if ds is not None:
        return ds
    from ..data.datasets import PairedPatchDataset

    return PairedPatchDataset(cfg.data.path, cfg.scale, cfg.data.patch_size, augment=cfg.data.augment)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    return batch


def _batches(loader: Any, device: torch.device) -> Iterator[Any]:
    for batch in loader:
        yield _to_device(batch, device)


def _make_optimizer(cfg: DistillConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(params, lr=cfg.train.lr, betas=cfg.train.betas, weight_decay=cfg.train.weight_decay)


def _macs(desc: Any, scale: int) -> int | None:
    h, w = MACS_OUTPUT_HW[0] // scale, MACS_OUTPUT_HW[1] // scale
    try:
        return int(desc.macs(h, w))
    except Exception as err:  # noqa: BLE001 - a report detail must not kill a finished run
        log.warning("could not count MACs of %s: %s", desc.arch, err)
        return None


class _Validator:
    """Periodic (subset) and final (full) PSNR/SSIM on the validation benchmarks."""

    def __init__(self, cfg: DistillConfig) -> None:
        self.cfg = cfg
        self._sets: list[Any] | None = None

    def sets(self) -> list[Any]:
        if self._sets is None:
            from ..data.datasets import load_benchmark

            self._sets = [load_benchmark(p, self.cfg.scale) for p in self.cfg.data.val]
        return self._sets

    def run(self, fn: Any, full: bool) -> dict[str, dict[str, float]]:
        from ..evaluate.sr_eval import evaluate_model

        out: dict[str, dict[str, float]] = {}
        for bench in self.sets():
            if not full and self.cfg.data.val_max_images and len(bench.items) > self.cfg.data.val_max_images:
                bench = copy.copy(bench)
                bench.items = bench.items[: self.cfg.data.val_max_images]
            res = evaluate_model(fn, bench, self.cfg.scale, progress=False)
            out[bench.name] = {"psnr": float(res["psnr"]), "ssim": float(res["ssim"])}
        return out


def _model_fn(desc: Any, model: nn.Module, device: torch.device) -> Any:
    """Whole-image upscaler for the evaluator, running ``model`` with ``desc``'s size rules."""
    from ..evaluate.sr_eval import torch_upscale_fn

    view = copy.copy(desc)
    view.model = model
    return torch_upscale_fn(view, device=str(device))


class _CsvLog:
    """Append-only CSV whose rows after the resume point are dropped on resume."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.fields: list[str] | None = None
        self.rows: list[dict[str, Any]] = []
        if start > 0 and path.exists():
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.fields = list(reader.fieldnames or []) or None
                # rows are keyed by completed iterations; the checkpoint at ``start`` includes row ``start``
                self.rows = [r for r in reader if int(float(r["iteration"])) <= start]
        self._rewrite()

    def _rewrite(self) -> None:
        with open(self.path, "w", newline="") as fh:
            if self.fields:
                w = csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore")
                w.writeheader()
                w.writerows(self.rows)

    def write(self, row: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(row)
            self._rewrite()
        self.rows.append(row)
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore").writerow(row)


# --------------------------------------------------------------------------- the loop


def run_distillation(
    cfg: DistillConfig,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> RunResult:
    """Train ``cfg.student`` with ``cfg.method``; write the run directory; return the student.

    ``resume``: continue from the newest checkpoint in ``out_dir/checkpoints`` (error if none).
    ``stop_after``: stop once this many iterations are done (after writing a checkpoint there), as
    if the process were killed; also read from ``$SR_COMPRESS_STOP_AFTER``. Used to test resume.
    """
    from accelerate.utils import set_seed

    from ..models.load import save_model
    from ..models.students import build_student

    out = Path(out_dir)
    if stop_after is None and os.environ.get(STOP_AFTER_ENV):
        stop_after = int(os.environ[STOP_AFTER_ENV])
    tc = cfg.train
    total = tc.iterations
    accelerator = _make_accelerator(cfg)
    device = accelerator.device
    main = accelerator.is_main_process
    set_seed(tc.seed)

    ckpt_dir = out / "checkpoints"
    ckpt_file: Path | None = None
    if resume:
        ckpt_file = latest_checkpoint(ckpt_dir)
        if ckpt_file is None:
            raise CheckpointError(f"--resume: no checkpoint in {ckpt_dir} (run without --resume to start)")
    elif ckpt_dir.is_dir() and latest_checkpoint(ckpt_dir) is not None:
        raise UserInputError(
            f"{out} already holds a run with checkpoints; pass --resume to continue it or choose another --out"
        )
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(recipe_dict(cfg), sort_keys=False))
    accelerator.wait_for_everyone()

    # ---- models
    method = build_method(cfg)
    teacher_desc = _load_teacher(cfg) if method.needs_teacher else None
    if cfg.student == INIT_SPEC:  # the student IS the init file's network (e.g. a pruned teacher)
        student_desc = _student_from_init(cfg)
    else:
        student_desc = _copy_of_teacher(teacher_desc) if cfg.student == TEACHER_SPEC \
            else build_student(cfg.student, cfg.scale)
    if teacher_desc is not None and main:
        # summaries before any wrapping: params and MACs of the plain modules
        teacher_info = {**teacher_desc.summary(), "macs": _macs(teacher_desc, cfg.scale)}
    else:
        teacher_info = None
    student_info_initial = {**student_desc.summary(), "macs": _macs(student_desc, cfg.scale)} if main else None

    if cfg.init and not resume and cfg.student != INIT_SPEC:  # a resumed run loads its own weights below
        _init_student(student_desc, cfg.init, cfg.scale)
    student = student_desc.model.to(device)
    teacher = teacher_desc.model.to(device) if teacher_desc is not None else None
    method.setup(student, teacher, device)

    # growth already done before the checkpoint must be replayed before loading its weights
    growth = sorted(set(method.growth_iterations()))
    state = load_checkpoint(ckpt_file) if ckpt_file is not None else None
    start = int(state["iteration"]) if state is not None else 0
    for g in growth:
        if g < start:
            method.grow_student(student, g)
            student.to(device)
    if state is not None:
        student.load_state_dict(state["student"])
    student.train()

    ema = ModelEMA(student, tc.ema_decay) if tc.ema_decay > 0 else None
    optimizer = _make_optimizer(cfg, student)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        extra_m, extra_o = method.extra_modules(), method.extra_optimizers()
        for name, mod in extra_m.items():
            if name not in state["extra_modules"]:
                raise CheckpointError(f"{ckpt_file}: no state for module '{name}' of method '{cfg.method}'")
            mod.load_state_dict(state["extra_modules"][name])
        for name, opt in extra_o.items():
            opt.load_state_dict(state["extra_optimizers"][name])
        method.load_state_dict(state.get("method", {}))

    schedule = LRSchedule(tc.lr, total, tc.scheduler, list(tc.milestones), tc.gamma, tc.eta_min)

    # ---- accelerate: student + optimizer, extra trainables, teacher (autocast, no DDP)
    student_w, optimizer_w = accelerator.prepare(student, optimizer)
    extra_m, extra_o = method.extra_modules(), method.extra_optimizers()
    prepared_m = {n: accelerator.prepare(m) for n, m in extra_m.items()}
    prepared_o = {n: accelerator.prepare(o) for n, o in extra_o.items()}
    _bind_prepared(method, prepared_m, prepared_o)
    teacher_w = accelerator.prepare_model(teacher, evaluation_mode=True) if teacher is not None else None
    if accelerator.scaler is not None and state is not None and state.get("scaler") is not None:
        accelerator.scaler.load_state_dict(state["scaler"])
    if state is not None:
        set_rng_state(state["rng"])

    # ---- data
    dataset = _build_dataset(cfg, method)
    batches: Iterator[Any] | None = None
    if dataset is not None and start < total:
        loader = make_loader(dataset, cfg.data.batch_size, tc.seed, start, total,
                             accelerator.process_index, accelerator.num_processes, cfg.data.num_workers)
        batches = _batches(loader, device)

    validator = _Validator(cfg) if cfg.data.val else None
    train_log = _CsvLog(out / "log.csv", start) if main else None
    val_log = _CsvLog(out / "val.csv", start) if main else None
    end = total if stop_after is None else min(total, max(stop_after, start))

    pbar = None
    if main and progress:
        from tqdm.auto import tqdm

        pbar = tqdm(total=total, initial=start, desc=f"distill {cfg.method}", unit="it", dynamic_ncols=True)
    window: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    train_time = float(state.get("train_time", 0.0)) if state is not None else 0.0
    last_t = t0
    logs: dict[str, float] = {}

    for it in range(start, end):
        if it in growth:
            student_w, optimizer_w = _grow(accelerator, method, student_w, it, cfg)
            if ema is not None:
                ema.rebuild(_unwrap(accelerator, student_w))
        lr = schedule.lr_at(it)
        for g in optimizer_w.param_groups:
            g["lr"] = lr
        batch = next(batches) if batches is not None else None
        seed_all(derive_seed(tc.seed, it, accelerator.process_index))
        ctx = StepContext(
            accelerator=accelerator, student=student_w, teacher=teacher_w, optimizer=optimizer_w,
            scale=cfg.scale, iteration=it, total_iterations=total, clip_grad=tc.clip_grad, device=device,
            teacher_size=teacher_desc.size_requirements if teacher_desc is not None else None,
        )
        logs = method.train_step(batch, ctx)
        if "loss" not in logs:
            raise RuntimeError(f"method {cfg.method!r} returned no 'loss' from train_step")
        if ema is not None:
            ema.update(_unwrap(accelerator, student_w))
        done = it + 1
        for k, v in logs.items():
            window.setdefault(k, []).append(float(v))
        if pbar is not None:
            pbar.update(1)
            if done % max(1, min(tc.log_every, 10)) == 0 or done == end:
                pbar.set_postfix(loss=f"{float(logs['loss']):.4f}", lr=f"{lr:.2e}")
        if main and (done % tc.log_every == 0 or done == total):
            now = time.perf_counter()
            row = {"iteration": done, "lr": lr}
            row.update({k: sum(v) / len(v) for k, v in sorted(window.items())})
            row["wall_s"] = round(train_time + now - t0, 3)
            assert train_log is not None
            train_log.write(row)
            window = {}
            last_t = now
        if validator is not None and (done % tc.val_every == 0 or done == total):
            if main:
                eval_model = ema.module if ema is not None else _unwrap(accelerator, student_w)
                was_training = eval_model.training
                eval_model.eval()
                res = validator.run(_model_fn(student_desc, eval_model, device), full=False)
                if was_training:
                    eval_model.train()
                row = {"iteration": done}
                for name, r in res.items():
                    row[f"{name}_psnr"] = round(r["psnr"], 4)
                    row[f"{name}_ssim"] = round(r["ssim"], 5)
                assert val_log is not None
                val_log.write(row)
                if pbar is not None:
                    pbar.write(f"[{done}] " + "  ".join(f"{n}: {r['psnr']:.2f} dB / {r['ssim']:.4f}"
                                                        for n, r in res.items()))
            accelerator.wait_for_everyone()
        if done % tc.checkpoint_every == 0 or done == end:
            _save_checkpoint(accelerator, ckpt_dir, done, cfg, student_w, optimizer_w, ema, method, schedule,
                             train_time + time.perf_counter() - t0)
    del last_t
    if pbar is not None:
        pbar.close()
    train_time += time.perf_counter() - t0
    accelerator.wait_for_everyone()

    final_student = _final_student(accelerator, student_desc, student_w, ema, method)
    if end < total:
        return RunResult(final_student, out, {"stopped_at": end, "train_time_s": train_time}, completed=False,
                         main_process=main)

    metrics: dict[str, Any] = {"iterations": total, "train_time_s": round(train_time, 2),
                               "last_logs": {k: float(v) for k, v in logs.items()}}
    if main:
        save_model(final_student, out / "student.pth")
        student_info = {**final_student.summary(), "macs": _macs(final_student, cfg.scale)}
        if student_info_initial is not None and student_info_initial["params"] != student_info["params"]:
            student_info["initial_params"] = student_info_initial["params"]
        final_table: dict[str, dict[str, dict[str, float]]] = {}
        if validator is not None:
            final_student.model.eval()
            final_table["student"] = validator.run(_model_fn(final_student, final_student.model, device),
                                                   full=True)
            final_student.model.cpu()
            if teacher_w is not None:
                final_table["teacher"] = validator.run(_model_fn(teacher_desc, teacher_w, device), full=True)
            final_table["bicubic"] = validator.run("bicubic", full=True)
        metrics["final"] = final_table
        metrics["extras"] = method.finalize(out)  # method report extras (e.g. DFSR generated grid)
        from .report import write_report

        write_report(
            out,
            cfg=recipe_dict(cfg),
            teacher=teacher_info,
            student=student_info,
            metrics=metrics,
            macs_output_hw=MACS_OUTPUT_HW,
            device=str(device),
            num_processes=accelerator.num_processes,
        )
    accelerator.wait_for_everyone()
    return RunResult(final_student, out, metrics, main_process=main)


def _bind_prepared(method: DistillMethod, modules: dict[str, nn.Module],
                   optimizers: dict[str, torch.optim.Optimizer]) -> None:
    hook = getattr(method, "on_prepared", None)
    if hook is not None:
        hook(modules, optimizers)


def _grow(accelerator: Any, method: DistillMethod, student_w: nn.Module, it: int,
          cfg: DistillConfig) -> tuple[nn.Module, torch.optim.Optimizer]:
    """Grow the student in place, then give it a fresh optimizer (new params need Adam state)."""
    student = _unwrap(accelerator, student_w)
    method.grow_student(student, it)
    student.to(accelerator.device).train()
    optimizer = _make_optimizer(cfg, student)
    return accelerator.prepare(student, optimizer)


def _save_checkpoint(accelerator: Any, ckpt_dir: Path, done: int, cfg: DistillConfig, student_w: nn.Module,
                     optimizer_w: torch.optim.Optimizer, ema: ModelEMA | None, method: DistillMethod,
                     schedule: LRSchedule, train_time: float) -> None:
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        state = {
            "iteration": done,
            "config": to_dict(cfg),
            "student": _unwrap(accelerator, student_w).state_dict(),
            "optimizer": optimizer_w.state_dict(),
            "scheduler": schedule.state_dict(done),
            "ema": ema.state_dict() if ema is not None else None,
            "extra_modules": {n: _unwrap(accelerator, m).state_dict() for n, m in method.extra_modules().items()},
            "extra_optimizers": {n: o.state_dict() for n, o in method.extra_optimizers().items()},
            "method": method.state_dict(),
            "scaler": accelerator.scaler.state_dict() if accelerator.scaler is not None else None,
            # informative: each iteration reseeds from (seed, iteration), so these are not needed
            # for exactness, but they make the checkpoint self-describing
            "rng": rng_state(),
            "data_position": {"iteration": done, "batch_size": cfg.data.batch_size,
                              "num_processes": accelerator.num_processes},
            "train_time": train_time,
        }
        save_atomic(state, checkpoint_path(ckpt_dir, done))
        prune(ckpt_dir, KEEP_CHECKPOINTS)
    accelerator.wait_for_everyone()


def _init_student(student_desc: Any, init: str, scale: int) -> None:
    """Load ``init``'s weights into the freshly built student (same architecture required)."""
    from ..models.load import load_model
    from ..models.students import student_spec_for

    src = load_model(init, scale)
    try:
        student_desc.model.load_state_dict(src.model.state_dict())
    except RuntimeError:
        spec = student_spec_for(src)
        hint = f"set the student to {spec}" if spec else f"its architecture ({src.arch}) is not a student family"
        raise ConfigError(
            f"init: {init} does not fit the student {student_desc.source.removeprefix('student:')}; {hint}"
        ) from None
    student_desc.source = f"{student_desc.source} (init {Path(init).name})"


def _final_student(accelerator: Any, desc: Any, student_w: nn.Module, ema: ModelEMA | None,
                   method: DistillMethod) -> Any:
    """The exported student: a copy of the (EMA) weights on CPU, with up-to-date hyper-parameters."""
    src = ema.module if ema is not None else _unwrap(accelerator, student_w)
    pick = getattr(method, "final_module", None)  # e.g. PDD's EMA generalist (pdd.output: ema)
    if pick is not None:
        src = pick(src)
    model = copy.deepcopy(src).cpu().eval()
    hp = dict(desc.hyperparams)
    hook = getattr(method, "student_hyperparams", None)
    if hook is not None:
        hp = hook(model, hp)
    final = copy.copy(desc)
    final.model = model
    final.hyperparams = hp
    return final


def resolve_iterations_hint(cfg: DistillConfig) -> str:
    """One line describing the budget (used by the CLI before training starts)."""
    bs = cfg.data.batch_size
    return (f"{cfg.method}: {cfg.train.iterations} iterations x batch {bs} "
            f"(LR patch {cfg.data.patch_size}, x{cfg.scale}); ~{math.ceil(cfg.train.iterations * bs)} samples")
