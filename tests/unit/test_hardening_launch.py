"""`accelerate launch --cpu --num_processes 2` starts one process: say so instead of training alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_compress.compress.engine import load_distill_config, run_distillation
from sr_compress.errors import ConfigError

from .test_engine import _one_thread, tiny_overrides  # noqa: F401  (fixture)


def test_single_process_cpu_launch_asking_for_more_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what accelerate's simple launcher sets for --cpu --num_processes 2 (no mpirun): a rendezvous
    # address, but no WORLD_SIZE/RANK, so only one process ever starts
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    cfg = load_distill_config(None, tiny_overrides(tmp_path, "scratch"))
    with pytest.raises(ConfigError, match=r"--multi_gpu --num_processes N.*torchrun") as err:
        run_distillation(cfg, tmp_path / "run", progress=False)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_plain_cpu_launch_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")  # --cpu with one process: no rendezvous
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    cfg = load_distill_config(None, tiny_overrides(tmp_path, "scratch", **{"train.iterations": 2}))
    assert run_distillation(cfg, tmp_path / "run", progress=False).completed
