"""Run checkpoints are tensors + plain types: a planted pickle never runs; resume edge cases."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import yaml

from sr_compress.cli import cli, run_cli
from sr_compress.compress.checkpoint import load_checkpoint
from sr_compress.compress.engine import load_distill_config, run_distillation
from sr_compress.errors import CheckpointError

from .test_engine import _one_thread, tiny_overrides  # noqa: F401  (fixture)


class _Payload:
    """What a malicious checkpoint carries: unpickling calls ``Path.touch(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def _plant(ckpt_dir: Path, marker: Path, iteration: int = 99) -> Path:
    """A newest checkpoint holding a __reduce__ payload, written both ways an attacker could."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    p = ckpt_dir / f"iter_{iteration:08d}.pth"
    torch.save({"iteration": iteration, "student": {}, "x": _Payload(marker)}, p)
    marker.unlink(missing_ok=True)
    return p


def _stopped_run(tmp_path: Path, **extra: object) -> tuple[Path, dict]:
    over = tiny_overrides(tmp_path, "scratch", **{"train.iterations": 4, "train.checkpoint_every": 1, **extra})
    out = tmp_path / "run"
    run_distillation(load_distill_config(None, over), out, progress=False, stop_after=2)
    return out, over


def test_load_checkpoint_refuses_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = _plant(tmp_path / "ck", marker)
    with pytest.raises(CheckpointError, match="refusing"):
        load_checkpoint(p)
    assert not marker.exists()
    raw = tmp_path / "ck" / "iter_00000100.pth"
    raw.write_bytes(pickle.dumps({"iteration": 100, "x": _Payload(marker)}))
    with pytest.raises(CheckpointError, match="refusing"):
        load_checkpoint(raw)
    assert not marker.exists()


def test_checkpoint_is_weights_only_loadable(tmp_path: Path) -> None:
    out, _ = _stopped_run(tmp_path)
    for p in sorted((out / "checkpoints").glob("iter_*.pth")):
        state = torch.load(p, map_location="cpu", weights_only=True)  # no allowlist needed
        assert state["iteration"] in (1, 2)
        assert isinstance(state["rng"]["numpy"][1], list)


def test_distill_resume_with_planted_pickle_exits_2_without_running_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _stopped_run(tmp_path)
    marker = tmp_path / "pwned"
    _plant(out / "checkpoints", marker)
    rc = run_cli(cli, ["distill", "--resume", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert not marker.exists()
    assert len(err) == 1 and err[0].startswith("error: ") and "iter_00000099.pth" in err[0], err


def test_pipeline_auto_resume_does_not_run_planted_pickle(tmp_path: Path) -> None:
    """The pipeline's distill stage resumes through the same loader (steps._has_checkpoint)."""
    from sr_compress.pipeline.steps import _has_checkpoint

    out, over = _stopped_run(tmp_path)
    marker = tmp_path / "pwned"
    _plant(out / "checkpoints", marker)
    assert _has_checkpoint(out)
    with pytest.raises(CheckpointError, match="refusing"):
        run_distillation(load_distill_config(None, over), out, resume=_has_checkpoint(out), progress=False)
    assert not marker.exists()


def test_truncated_latest_checkpoint_falls_back_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, over = _stopped_run(tmp_path)
    latest = out / "checkpoints" / "iter_00000002.pth"
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 3])
    with caplog.at_level("WARNING"):
        res = run_distillation(load_distill_config(None, over), out, resume=True, progress=False)
    assert res.completed
    assert any("iter_00000002.pth" in r.getMessage() and "iter_00000001.pth" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_resume_with_changed_student_is_one_line_and_keeps_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _stopped_run(tmp_path)
    before = (out / "config.yaml").read_text()
    rc = run_cli(cli, ["distill", "--resume", "--out", str(out), "--student", "edsr:c16b2", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "student" in err[0] and "edsr:c8b1" in err[0], err
    assert (out / "config.yaml").read_text() == before
    # and the plain resume still works afterwards
    assert run_cli(cli, ["distill", "--resume", "--out", str(out), "--no-progress"]) == 0


def test_failed_distill_leaves_no_config(tmp_path: Path) -> None:
    """config.yaml is written only once training really starts (models and data are built)."""
    over = tiny_overrides(tmp_path, "scratch")
    over["data.path"] = [str(tmp_path / "empty")]
    (tmp_path / "empty").mkdir()
    out = tmp_path / "failed"
    with pytest.raises(Exception):  # noqa: B017 - whichever error an empty folder gives
        run_distillation(load_distill_config(None, over), out, progress=False)
    assert not (out / "config.yaml").exists()


def test_failed_teacher_leaves_no_config(tmp_path: Path) -> None:
    over = tiny_overrides(tmp_path, "kd")
    over["teacher"] = str(tmp_path / "missing.pth")
    out = tmp_path / "failed"
    with pytest.raises(CheckpointError):
        run_distillation(load_distill_config(None, over), out, progress=False)
    assert not (out / "config.yaml").exists()


def test_ctrl_c_prints_resume_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import sr_compress.compress.engine as engine

    def interrupted(_cfg: object, out: Path, **_k: object) -> None:
        (out / "checkpoints").mkdir(parents=True)
        (out / "checkpoints" / "iter_00000003.pth").touch()  # a checkpoint was written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run_distillation", interrupted)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"method": "scratch", "data": {"path": [str(tmp_path)]}}))
    out = tmp_path / "run dir"
    rc = run_cli(cli, ["distill", "--config", str(recipe), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 130
    assert f"sr-compress distill --resume --out '{out}'" in err, err
    assert "iteration 3" in err, err


def test_ctrl_c_before_first_checkpoint_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import sr_compress.compress.engine as engine

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run_distillation", interrupted)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"method": "scratch", "data": {"path": [str(tmp_path)]}}))
    rc = run_cli(cli, ["distill", "--config", str(recipe), "--out", str(tmp_path / "o"), "--no-progress"])
    assert rc == 130
    assert "no checkpoint yet" in capsys.readouterr().err
