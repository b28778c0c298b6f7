"""A run stopped after a checkpoint and resumed ends bit-identical to an uninterrupted run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sr_compress.compress.base import DistillMethod, MethodConfig, StepContext, register_method
from sr_compress.compress.engine import load_distill_config, run_distillation
from sr_compress.compress.sampling import IterationBatchSampler
from sr_compress.errors import CheckpointError

from .test_engine import _one_thread, tiny_overrides  # noqa: F401  (fixture)


def _state(res) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {k: v.detach().clone() for k, v in res.student.model.state_dict().items()}


@pytest.mark.parametrize("method", ["dukd"])
def test_resume_is_exact(tmp_path: Path, method: str) -> None:
    over = tiny_overrides(tmp_path, method, **{
        "train.iterations": 8, "train.checkpoint_every": 3, "train.ema_decay": 0.5,
        "train.scheduler": "cosine", "train.clip_grad": 1.0,
    })
    cfg = load_distill_config(None, over)
    full = run_distillation(cfg, tmp_path / "full", progress=False)

    part = run_distillation(cfg, tmp_path / "killed", progress=False, stop_after=5)
    assert not part.completed and part.metrics["stopped_at"] == 5
    # checkpoints at 3 and 5 exist; drop the one at 5 so that iterations 4-5 are redone after
    # resuming from 3, as after a kill between two checkpoints
    (tmp_path / "killed" / "checkpoints" / "iter_00000005.pth").unlink()
    resumed = run_distillation(cfg, tmp_path / "killed", resume=True, progress=False)
    a, b = _state(full), _state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the log has each iteration exactly once
    import csv

    with open(tmp_path / "killed" / "log.csv") as fh:
        its = [int(r["iteration"]) for r in csv.DictReader(fh)]
    assert its == list(range(1, 9))


def test_resume_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    cfg = load_distill_config(None, tiny_overrides(tmp_path, "scratch"))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        run_distillation(cfg, tmp_path / "none", resume=True, progress=False)


def test_sampler_is_a_function_of_iteration() -> None:
    whole = list(IterationBatchSampler(7, 3, seed=5, start=0, total=10))
    tail = list(IterationBatchSampler(7, 3, seed=5, start=6, total=10))
    assert whole[6:] == tail
    # two processes split each global batch without overlap, and together cover it
    r0 = list(IterationBatchSampler(7, 3, seed=5, start=0, total=4, rank=0, world=2))
    r1 = list(IterationBatchSampler(7, 3, seed=5, start=0, total=4, rank=1, world=2))
    for b0, b1 in zip(r0, r1):
        assert not {s for _, s in b0} & {s for _, s in b1}
    # each epoch visits every item once
    flat = [i for b in whole for i, _ in b][:7]
    assert sorted(flat) == list(range(7))


# --------------------------------------------------------------------------- progressive growth


@dataclass
class _GrowConfig(MethodConfig):
    at: int = 3


@register_method
class _Grow(DistillMethod):
    """Test-only method: L1 to GT, one EDSR block appended at iteration ``at``."""

    name = "_test_grow"
    Config = _GrowConfig
    needs_teacher = False

    def growth_iterations(self) -> list[int]:
        return [self.cfg.at]  # type: ignore[attr-defined]

    def grow_student(self, student: torch.nn.Module, iteration: int) -> None:
        student.append_blocks(1)  # type: ignore[operator]

    def train_step(self, batch, ctx: StepContext) -> dict[str, float]:  # noqa: ANN001
        loss = F.l1_loss(ctx.student(batch["lr"]), batch["hr"])
        ctx.step(loss)
        return {"loss": float(loss.detach())}


def test_growth_rebuilds_optimizer_ema_and_resumes_exactly(tmp_path: Path) -> None:
    from sr_compress.models.load import load_model

    over = tiny_overrides(tmp_path, "_test_grow", **{
        "train.iterations": 6, "train.checkpoint_every": 2, "train.ema_decay": 0.5,
    })
    cfg = load_distill_config(None, over)
    full = run_distillation(cfg, tmp_path / "full", progress=False)
    assert len(full.student.model.body) == 2  # edsr:c8b1 + 1 grown block
    assert load_model(tmp_path / "full" / "student.pth", 2).params == full.student.params

    run_distillation(cfg, tmp_path / "cut", progress=False, stop_after=4)  # checkpoint after growth
    resumed = run_distillation(cfg, tmp_path / "cut", resume=True, progress=False)
    a, b = _state(full), _state(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
