"""distill warns when its EMA cannot average anything, and when the student ends below bicubic."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_compress.compress.engine import ema_warning, load_distill_config, run_distillation

from .test_engine import _one_thread, make_images, tiny_overrides  # noqa: F401  (fixture)


def test_ema_warning_rule() -> None:
    msg = ema_warning(0.999, 20)
    assert msg is not None and "0.999" in msg and "20 iterations" in msg and "98.0%" in msg
    assert ema_warning(0.999, 20000) is None
    assert ema_warning(0.0, 5) is None


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_distill_warns_on_useless_ema_and_below_bicubic(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    val = make_images(tmp_path / "val", n=2, size=32)
    over = tiny_overrides(tmp_path, "scratch", **{
        "train.iterations": 2, "train.ema_decay": 0.999, "data.val": [str(val)], "train.lr": 1e-6,
    })
    with caplog.at_level("WARNING"):
        res = run_distillation(load_distill_config(None, over), tmp_path / "run", progress=False)
    msgs = _messages(caplog)
    assert any("EMA" in m and "0.999" in m for m in msgs), msgs
    assert any("below bicubic" in m and "val" in m for m in msgs), msgs
    assert any("below bicubic" in w for w in res.metrics["warnings"])


def test_no_warnings_for_a_sane_ema(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    over = tiny_overrides(tmp_path, "scratch", **{"train.iterations": 2, "train.ema_decay": 0.1})
    with caplog.at_level("WARNING"):
        run_distillation(load_distill_config(None, over), tmp_path / "run", progress=False)
    assert not [m for m in _messages(caplog) if "EMA" in m]
