"""DFSR data-free distillation end to end through the engine: no training images at all."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from sr_compress.compress.engine import load_distill_config, run_distillation

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convs: a second thread only adds contention
    yield
    torch.set_num_threads(n)


def _teacher(path: Path) -> Path:
    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    torch.manual_seed(123)
    save_model(build_student("edsr:c8b1", 2), path)
    return path


def _cfg(tmp_path: Path, **extra: object):
    over = {
        "method": "datafree", "scale": 2, "student": "edsr:c8b2",
        "teacher": str(_teacher(tmp_path / "teacher.pth")),
        "train.iterations": 24, "train.lr": 3e-3, "train.scheduler": "constant",
        "train.checkpoint_every": 1000, "train.log_every": 4, "train.val_every": 1000,
        "datafree.batch_size": 4, "datafree.lr_size": 8, "datafree.latent_dim": 16,
        "datafree.stu_step": 3, "datafree.gen_lr": 1e-3, "datafree.reduction": "mean",
        "datafree.inc_num": 2, "datafree.inc_step": 8,
    }
    over.update(extra)
    return load_distill_config(None, over)


def _mse_column(out: Path) -> list[float]:
    with open(out / "log.csv") as fh:
        return [float(r["mse"]) for r in csv.DictReader(fh)]


def test_datafree_run_without_data_grows_and_reports(tmp_path: Path) -> None:
    from sr_compress.models.load import load_model

    cfg = _cfg(tmp_path)
    assert cfg.data.path == []  # no training images anywhere
    res = run_distillation(cfg, tmp_path / "run", progress=False)
    out = res.out_dir
    mse = _mse_column(out)
    assert mse[-1] < mse[0], mse  # student approaches the teacher on generated inputs
    report = json.loads((out / "report.json").read_text())
    assert report["metrics"]["extras"]["generated_grid"] == "generated_grid.png"
    assert (out / "generated_grid.png").stat().st_size > 0
    assert "generated_grid.png" in (out / "report.md").read_text()
    student = load_model(out / "student.pth")
    assert student.model.num_block == 2  # grown from 1 to the spec's 2 blocks
    assert {"g_adv", "g_rec"} <= set(csv.DictReader(open(out / "log.csv")).fieldnames or [])


def test_datafree_resume_is_exact_across_growth(tmp_path: Path) -> None:
    full = run_distillation(_cfg(tmp_path), tmp_path / "full", progress=False)
    part = run_distillation(_cfg(tmp_path), tmp_path / "part", progress=False, stop_after=12)
    assert not part.completed
    resumed = run_distillation(_cfg(tmp_path), tmp_path / "part", resume=True, progress=False)
    a, b = full.student.model.state_dict(), resumed.student.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_noise_generator_run(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, **{"datafree.generator": "noise", "datafree.inc_num": 1, "datafree.inc_step": 0})
    res = run_distillation(cfg, tmp_path / "noise", progress=False)
    mse = _mse_column(res.out_dir)
    assert mse[-1] < mse[0], mse
    assert "g_adv" not in json.loads((res.out_dir / "report.json").read_text())["metrics"]["last_logs"]


def test_cli_datafree_noise_without_data(tmp_path: Path) -> None:
    from sr_compress.cli import cli, run_cli

    teacher = _teacher(tmp_path / "teacher.pth")
    sets = ["datafree.batch_size=2", "datafree.lr_size=8", "datafree.stu_step=2", "train.log_every=2",
            "train.checkpoint_every=1000"]
    argv = ["distill", "--method", "datafree", "--generator", "noise", "--teacher", str(teacher),
            "--student", "edsr:c8b1", "--scale", "2", "--iterations", "4", "--out", str(tmp_path / "cli"),
            "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    code = run_cli(cli, argv)
    assert code == 0
    assert (tmp_path / "cli" / "student.pth").is_file()
    assert (tmp_path / "cli" / "generated_grid.png").is_file()
