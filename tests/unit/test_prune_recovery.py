"""distill --init PRUNED: the student is the pruned network; the run resumes exactly and keeps the widths."""

from __future__ import annotations

from pathlib import Path

import torch

from sr_compress.compress.engine import load_distill_config, run_distillation
from sr_compress.compress.prune import prune_model
from sr_compress.models.load import load_model, save_model

from .test_engine import _one_thread, tiny_overrides  # noqa: F401  (fixture)


def test_recovery_from_pruned_init_resumes_exactly(tmp_path: Path) -> None:
    over = tiny_overrides(tmp_path, "kd", **{"train.iterations": 6, "train.checkpoint_every": 3})
    teacher = load_model(over["teacher"])
    for p in teacher.model.parameters():  # a frozen teacher copy: pruning must not silently no-op
        p.requires_grad_(False)
    pruned = prune_model(teacher, channels=0.5, importance="l2", round_to=2)
    init = save_model(pruned.desc, tmp_path / "pruned.pth")
    over.update({"student": "init", "init": str(init)})
    cfg = load_distill_config(None, over)
    full = run_distillation(cfg, tmp_path / "full", progress=False)
    part = run_distillation(cfg, tmp_path / "killed", progress=False, stop_after=3)
    assert not part.completed
    resumed = run_distillation(cfg, tmp_path / "killed", resume=True, progress=False)
    a, b = full.student.model.state_dict(), resumed.student.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    back = load_model(tmp_path / "full" / "student.pth")
    assert back.params == pruned.params_after < teacher.params
    assert back.model.sr_compress_pruned["widths"] == pruned.record["widths"]
