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
from ..errors import CheckpointError, ConfigError
from .base import DistillMethod, StepContext, get_method, list_methods
from .checkpoint import (
    checkpoint_path,
    prune,
    resume_or_refuse,
    rng_state,
    save_atomic,
    set_rng_state,
)
from .config import DistillConfig
from .ema import ModelEMA
from .runlog import CsvLog
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
    try:
        method_cfg.check_budget(cfg.train.iterations)  # e.g. a growth schedule longer than the run
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


_MPI_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")
CPU_LAUNCH_HINT = ("for N CPU processes (gloo) run `accelerate launch --multi_gpu --num_processes N -m "
                   "sr_compress.cli distill ...` (CUDA_VISIBLE_DEVICES= on a GPU machine) or `torchrun "
                   "--nproc_per_node N -m sr_compress.cli distill ...`")


def _check_launch() -> None:
    """``accelerate launch --cpu --num_processes N`` without mpirun starts ONE process (accelerate
    uses mpirun for multi-CPU) that would silently train alone; its trace: a rendezvous address
    but no WORLD_SIZE."""
    env = os.environ
    if (env.get("ACCELERATE_USE_CPU", "").lower() in ("true", "1", "yes") and env.get("MASTER_ADDR")
            and not env.get("WORLD_SIZE") and not any(k in env for k in _MPI_SIZE_VARS)):
        raise ConfigError(f"`accelerate launch --cpu --num_processes N` starts only one process here; {CPU_LAUNCH_HINT}")


def _make_accelerator(cfg: DistillConfig) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # accelerate keeps one process-wide state and refuses a second Accelerator with another
    # precision; runs made one after another in one process (benchmarks, pipelines, tests) may
    # differ. Only the precision part is dropped: the process group (PartialState) is kept.
    _check_launch()
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
        takes = ", ".join(n for n in list_methods() if get_method(n).needs_teacher)
        raise ConfigError("student: teacher copies the teacher, but this method loads none: use a method that "
                          f"takes --teacher CKPT ({takes}) or a student spec such as edsr:c32b4")
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
        from ..data.degrade_pipelines import make_pipeline
        from ..data.degraded_datasets import DegradedPairDataset

        return DegradedPairDataset(cfg.data.path, cfg.scale, cfg.data.patch_size,
                                   make_pipeline(cfg.data.degradation, cfg.scale), augment=cfg.data.augment,
                                   seed=cfg.train.seed)
    from .datadistill.training_set import distilled_training_set

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


# --------------------------------------------------------------------------- the loop


@dataclass
class _Run:
    """What the steps of one run share: built in :func:`_prepare`, advanced by :func:`_loop`."""

    cfg: DistillConfig
    out: Path
    accelerator: Any
    method: DistillMethod
    teacher_desc: Any
    student_desc: Any
    teacher_info: dict[str, Any] | None
    student_info_initial: dict[str, Any] | None
    student_w: nn.Module
    optimizer_w: torch.optim.Optimizer
    teacher_w: nn.Module | None
    ema: ModelEMA | None
    schedule: LRSchedule
    growth: list[int]
    start: int
    end: int
    batches: Iterator[Any] | None
    validator: _Validator | None
    train_time: float
    warnings: list[str] = field(default_factory=list)
    train_log: CsvLog | None = None
    val_log: CsvLog | None = None
    logs: dict[str, float] = field(default_factory=dict)

    @property
    def main(self) -> bool:
        return bool(self.accelerator.is_main_process)

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoints"


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

    out = Path(out_dir)
    if stop_after is None and os.environ.get(STOP_AFTER_ENV):
        stop_after = int(os.environ[STOP_AFTER_ENV])
    accelerator = _make_accelerator(cfg)
    set_seed(cfg.train.seed)
    ckpt_file, state = _restore(cfg, out, resume)
    run = _prepare(cfg, out, accelerator, ckpt_file, state, stop_after)
    _open_run_dir(run)
    _loop(run, progress)
    return _finish(run)


def _restore(cfg: DistillConfig, out: Path, resume: bool) -> tuple[Path | None, dict[str, Any] | None]:
    """The checkpoint to continue from (``--resume``), or (None, None) for a new run."""
    found = resume_or_refuse(out / "checkpoints", out, resume)
    if found is None:
        return None, None
    ckpt_file, state = found
    _check_resumable(cfg, state, ckpt_file, out)
    return ckpt_file, state


def _build_student(cfg: DistillConfig, teacher_desc: Any) -> Any:
    from ..models.students import build_student

    if cfg.student == INIT_SPEC:  # the student IS the init file's network (e.g. a pruned teacher)
        return _student_from_init(cfg)
    if cfg.student == TEACHER_SPEC:
        return _copy_of_teacher(teacher_desc)
    return build_student(cfg.student, cfg.scale)


def _load_student_weights(cfg: DistillConfig, state: dict[str, Any], ckpt_file: Path | None,
                          student: nn.Module) -> None:
    """A checkpoint's student weights (the student already grown to the checkpoint's stage)."""
    try:
        student.load_state_dict(state["student"])
    except RuntimeError as err:  # e.g. a checkpoint written by another version of the student
        first = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        raise CheckpointError(f"{ckpt_file}: does not fit the student {cfg.student} ({first[:160]})") from None


def _load_run_state(cfg: DistillConfig, state: dict[str, Any], ckpt_file: Path | None, method: DistillMethod,
                    optimizer: torch.optim.Optimizer, ema: ModelEMA | None) -> None:
    """Put a checkpoint's optimizer, EMA and method state back."""
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None and state.get("ema") is not None:
        ema.load_state_dict(state["ema"])
    for kind, items in (("module", method.extra_modules()), ("optimizer", method.extra_optimizers())):
        saved = state.get(f"extra_{kind}s", {})
        for name, obj in items.items():
            if name not in saved:
                raise CheckpointError(f"{ckpt_file}: no state for {kind} '{name}' of method '{cfg.method}'")
            obj.load_state_dict(saved[name])
    method.load_state_dict(state.get("method", {}))


def _prepare(cfg: DistillConfig, out: Path, accelerator: Any, ckpt_file: Path | None,
             state: dict[str, Any] | None, stop_after: int | None) -> _Run:
    """Models, optimizer, EMA, schedule, accelerate wrapping and data, restored from ``state`` if given."""
    tc, device, main = cfg.train, accelerator.device, accelerator.is_main_process
    method = build_method(cfg)
    teacher_desc = _load_teacher(cfg) if method.needs_teacher else None
    student_desc = _build_student(cfg, teacher_desc)
    # summaries before any wrapping: params and MACs of the plain modules
    teacher_info = {**teacher_desc.summary(), "macs": _macs(teacher_desc, cfg.scale)} \
        if teacher_desc is not None and main else None
    student_info_initial = {**student_desc.summary(), "macs": _macs(student_desc, cfg.scale)} if main else None
    if cfg.init and state is None and cfg.student != INIT_SPEC:  # a resumed run loads its own weights
        _init_student(student_desc, cfg.init, cfg.scale)
    student = student_desc.model.to(device)
    teacher = teacher_desc.model.to(device) if teacher_desc is not None else None
    method.setup(student, teacher, device)

    # growth already done before the checkpoint must be replayed before loading its weights
    growth = sorted(set(method.growth_iterations()))
    start = int(state["iteration"]) if state is not None else 0
    for g in (g for g in growth if g < start):
        method.grow_student(student, g)
        student.to(device)
    if state is not None:
        _load_student_weights(cfg, state, ckpt_file, student)
    student.train()
    ema = ModelEMA(student, tc.ema_decay) if tc.ema_decay > 0 else None  # a copy of the loaded weights
    optimizer = _make_optimizer(cfg, student)
    if state is not None:
        _load_run_state(cfg, state, ckpt_file, method, optimizer, ema)

    # accelerate: student + optimizer, extra trainables, teacher (autocast, no DDP)
    student_w, optimizer_w = accelerator.prepare(student, optimizer)
    _bind_prepared(method, {n: accelerator.prepare(m) for n, m in method.extra_modules().items()},
                   {n: accelerator.prepare(o) for n, o in method.extra_optimizers().items()})
    teacher_w = accelerator.prepare_model(teacher, evaluation_mode=True) if teacher is not None else None
    if accelerator.scaler is not None and state is not None and state.get("scaler") is not None:
        accelerator.scaler.load_state_dict(state["scaler"])
    if state is not None:
        set_rng_state(state["rng"])

    total = tc.iterations
    dataset = _build_dataset(cfg, method)
    batches = None
    if dataset is not None and start < total:
        loader = make_loader(dataset, cfg.data.batch_size, tc.seed, start, total,
                             accelerator.process_index, accelerator.num_processes, cfg.data.num_workers)
        batches = _batches(loader, device)
    return _Run(
        cfg=cfg, out=out, accelerator=accelerator, method=method, teacher_desc=teacher_desc,
        student_desc=student_desc, teacher_info=teacher_info, student_info_initial=student_info_initial,
        student_w=student_w, optimizer_w=optimizer_w, teacher_w=teacher_w, ema=ema,
        schedule=LRSchedule(tc.lr, total, tc.scheduler, list(tc.milestones), tc.gamma, tc.eta_min),
        growth=growth, start=start, end=total if stop_after is None else min(total, max(stop_after, start)),
        batches=batches, validator=_Validator(cfg) if cfg.data.val else None,
        train_time=float(state.get("train_time", 0.0)) if state is not None else 0.0,
    )


def _open_run_dir(run: _Run) -> None:
    """Warnings known up front, config.yaml and the CSV logs.

    The run directory appears only now that models and data are built: a run that fails to start
    leaves no config.yaml behind (and a refused --resume keeps the run's own).
    """
    ema_msg = ema_warning(run.cfg.train.ema_decay, run.cfg.train.iterations)
    if ema_msg is not None and run.main:
        log.warning(ema_msg)
        run.warnings.append(ema_msg)
    if run.main:
        run.out.mkdir(parents=True, exist_ok=True)
        (run.out / "config.yaml").write_text(yaml.safe_dump(recipe_dict(run.cfg), sort_keys=False))
    run.accelerator.wait_for_everyone()
    if run.main:
        run.train_log = CsvLog(run.out / "log.csv", run.start)
        run.val_log = CsvLog(run.out / "val.csv", run.start)


def _train_one(run: _Run, it: int) -> float:
    """One iteration: growth, LR, batch, the method's step, EMA. Returns the LR used."""
    cfg, tc, acc = run.cfg, run.cfg.train, run.accelerator
    if it in run.growth:
        run.student_w, run.optimizer_w = _grow(acc, run.method, run.student_w, it, cfg)
        if run.ema is not None:
            run.ema.rebuild(_unwrap(acc, run.student_w))
    lr = run.method.lr_at(run.schedule, it)  # e.g. DFSR restarts it per progressive stage
    for g in run.optimizer_w.param_groups:
        g["lr"] = lr
    batch = next(run.batches) if run.batches is not None else None
    seed_all(derive_seed(tc.seed, it, acc.process_index))
    ctx = StepContext(
        accelerator=acc, student=run.student_w, teacher=run.teacher_w, optimizer=run.optimizer_w,
        scale=cfg.scale, iteration=it, total_iterations=tc.iterations, clip_grad=tc.clip_grad, device=run.device,
        teacher_size=run.teacher_desc.size_requirements if run.teacher_desc is not None else None,
    )
    run.logs = run.method.train_step(batch, ctx)
    if "loss" not in run.logs:
        raise RuntimeError(f"method {cfg.method!r} returned no 'loss' from train_step")
    if run.ema is not None:
        run.ema.update(_unwrap(acc, run.student_w))
    return lr


def _validate_now(run: _Run, done: int, pbar: Any) -> None:
    """Periodic validation of the EMA (or live) student, logged to val.csv and the progress bar."""
    assert run.validator is not None
    if run.main:
        eval_model = run.ema.module if run.ema is not None else _unwrap(run.accelerator, run.student_w)
        was_training = eval_model.training
        eval_model.eval()
        res = run.validator.run(_model_fn(run.student_desc, eval_model, run.device), full=False)
        if was_training:
            eval_model.train()
        row: dict[str, Any] = {"iteration": done}
        for name, r in res.items():
            row[f"{name}_psnr"] = round(r["psnr"], 4)
            row[f"{name}_ssim"] = round(r["ssim"], 5)
        assert run.val_log is not None
        run.val_log.write(row)
        if pbar is not None:
            pbar.write(f"[{done}] " + "  ".join(f"{n}: {r['psnr']:.2f} dB / {r['ssim']:.4f}" for n, r in res.items()))
    run.accelerator.wait_for_everyone()


def _loop(run: _Run, progress: bool) -> None:
    """Iterations ``start`` .. ``end``: train, log every ``log_every``, validate, checkpoint."""
    tc, total = run.cfg.train, run.cfg.train.iterations
    pbar = None
    if run.main and progress:
        from tqdm.auto import tqdm

        pbar = tqdm(total=total, initial=run.start, desc=f"distill {run.cfg.method}", unit="it", dynamic_ncols=True)
    window: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    for it in range(run.start, run.end):
        lr = _train_one(run, it)
        done = it + 1
        for k, v in run.logs.items():
            window.setdefault(k, []).append(float(v))
        if pbar is not None:
            pbar.update(1)
            if done % max(1, min(tc.log_every, 10)) == 0 or done == run.end:
                pbar.set_postfix(loss=f"{float(run.logs['loss']):.4f}", lr=f"{lr:.2e}")
        if run.main and (done % tc.log_every == 0 or done == total):
            row: dict[str, Any] = {"iteration": done, "lr": lr}
            row.update({k: sum(v) / len(v) for k, v in sorted(window.items())})
            row["wall_s"] = round(run.train_time + time.perf_counter() - t0, 3)
            assert run.train_log is not None
            run.train_log.write(row)
            window = {}
        if run.validator is not None and (done % tc.val_every == 0 or done == total):
            _validate_now(run, done, pbar)
        if done % tc.checkpoint_every == 0 or done == run.end:
            _save_checkpoint(run.accelerator, run.ckpt_dir, done, run.cfg, run.student_w, run.optimizer_w, run.ema,
                             run.method, run.schedule, run.train_time + time.perf_counter() - t0)
    if pbar is not None:
        pbar.close()
    run.train_time += time.perf_counter() - t0
    run.accelerator.wait_for_everyone()


def _final_table(run: _Run, final_student: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Full validation of the final student, the teacher and bicubic (empty without --val)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    if run.validator is None:
        return table
    final_student.model.eval()
    table["student"] = run.validator.run(_model_fn(final_student, final_student.model, run.device), full=True)
    final_student.model.cpu()
    if run.teacher_w is not None:
        table["teacher"] = run.validator.run(_model_fn(run.teacher_desc, run.teacher_w, run.device), full=True)
    table["bicubic"] = run.validator.run("bicubic", full=True)
    return table


def _finish(run: _Run) -> RunResult:
    """student.pth, the final validation table, warnings and report.{md,json}; the result."""
    from ..models.load import save_model
    from .report import write_report

    cfg, acc = run.cfg, run.accelerator
    final_student = _final_student(acc, run.student_desc, run.student_w, run.ema, run.method)
    if run.end < cfg.train.iterations:
        return RunResult(final_student, run.out, {"stopped_at": run.end, "train_time_s": run.train_time},
                         completed=False, main_process=run.main)
    metrics: dict[str, Any] = {"iterations": cfg.train.iterations, "train_time_s": round(run.train_time, 2),
                               "last_logs": {k: float(v) for k, v in run.logs.items()}}
    if run.main:
        save_model(final_student, run.out / "student.pth")
        student_info = {**final_student.summary(), "macs": _macs(final_student, cfg.scale)}
        initial = run.student_info_initial
        if initial is not None and initial["params"] != student_info["params"]:
            student_info["initial_params"] = initial["params"]
        table = _final_table(run, final_student)
        for msg in _below_bicubic(table):
            log.warning(msg)
            run.warnings.append(msg)
        metrics["final"] = table
        metrics["warnings"] = run.warnings
        metrics["extras"] = run.method.finalize(run.out)  # method report extras (e.g. DFSR generated grid)
        write_report(run.out, cfg=recipe_dict(cfg), teacher=run.teacher_info, student=student_info,
                     metrics=metrics, macs_output_hw=MACS_OUTPUT_HW, device=str(run.device),
                     num_processes=acc.num_processes)
    acc.wait_for_everyone()
    return RunResult(final_student, run.out, metrics, main_process=run.main)


# keys whose change makes a checkpoint unusable (others, e.g. train.iterations, may change)
_RUN_IDENTITY = ("method", "scale", "student")


def _check_resumable(cfg: DistillConfig, state: dict[str, Any], ckpt_file: Path, out: Path) -> None:
    saved = state.get("config") or {}
    now = to_dict(cfg)
    for key in _RUN_IDENTITY:
        if key in saved and saved[key] != now[key]:
            raise ConfigError(
                f"--resume: {ckpt_file} was trained with {key}={saved[key]}, not {now[key]}; drop --{key} "
                f"to continue the run, or start a new one with another --out than {out}"
            )


def _bind_prepared(method: DistillMethod, modules: dict[str, nn.Module],
                   optimizers: dict[str, torch.optim.Optimizer]) -> None:
    method.on_prepared(modules, optimizers)


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
    src = method.final_module(src)  # e.g. PDD's EMA generalist (pdd.output: ema)
    model = copy.deepcopy(src).cpu().eval()
    hp = method.student_hyperparams(model, dict(desc.hyperparams))
    final = copy.copy(desc)
    final.model = model
    final.hyperparams = hp
    return final


def ema_warning(decay: float, iterations: int) -> str | None:
    """Why an EMA this slow exports (nearly) the initial weights, or None when it averages.

    After ``n`` updates the EMA still holds ``decay**n`` of the initial weights (no warm-up):
    above a half, the exported student is mostly untrained.
    """
    if decay <= 0:
        return None
    kept = decay ** iterations
    if kept <= 0.5:
        return None
    useful = 0.05 ** (1.0 / iterations)  # a decay that keeps <= 5% of the initial weights
    return (f"EMA decay {decay:g} over {iterations} iterations keeps {kept:.1%} of the initial weights: the "
            f"exported student (the EMA) is nearly untrained; train >= {math.ceil(math.log(0.05) / math.log(decay))} "
            f"iterations, or pass --ema {useful:.3g} or lower (--ema 0 disables it)")


def _below_bicubic(final_table: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    student, bicubic = final_table.get("student", {}), final_table.get("bicubic", {})
    return [f"the final student is below bicubic on {name}: {r['psnr']:.2f} dB vs {bicubic[name]['psnr']:.2f} dB "
            "(undertrained or diverged: more iterations, another --lr, or check the EMA)"
            for name, r in student.items() if name in bicubic and r["psnr"] < bicubic[name]["psnr"]]


def resolve_iterations_hint(cfg: DistillConfig) -> str:
    """One line describing the budget (used by the CLI before training starts)."""
    bs = cfg.data.batch_size
    return (f"{cfg.method}: {cfg.train.iterations} iterations x batch {bs} "
            f"(LR patch {cfg.data.patch_size}, x{cfg.scale}); ~{math.ceil(cfg.train.iterations * bs)} samples")
