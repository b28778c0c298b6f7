"""End to end: train a tiny blind generalist, adapt it with PDD through the CLI; NIQE on real params."""

from __future__ import annotations

import pytest
import torch

from sr_compress.cli import cli, run_cli
from tests.helpers import shared_data

pytestmark = pytest.mark.integration


def test_train_then_pdd_cli(tmp_path) -> None:
    torch.set_num_threads(2)
    hr = shared_data("benchmarks", "Set5", "HR")
    real = shared_data("realworld", "RealSRSet+5images")
    gen = tmp_path / "gen"
    rc = run_cli(cli, ["train", "--degradation", "realesrgan", "--arch", "srvgg:c8b2", "--data", str(hr),
                       "--scale", "4", "--iterations", "3", "--batch-size", "2", "--patch-size", "16",
                       "--out", str(gen), "--no-progress"])
    assert rc == 0 and (gen / "student.pth").is_file()
    out = tmp_path / "pdd"
    # no --student: PDD's specialist is a trainable copy of the generalist (student: teacher)
    rc = run_cli(cli, ["distill", "--method", "pdd", "--teacher", str(gen / "student.pth"),
                       "--scale", "4", "--data", str(hr), "--real-lr", str(real),
                       "--iterations", "4", "--batch-size", "2", "--patch-size", "16",
                       "--set", "pdd.warmup=1", "--set", "pdd.w_inter=100", "--set", "pdd.intra_tau=0.1",
                       "--out", str(out), "--no-progress"])
    assert rc == 0 and (out / "student.pth").is_file()
    log = (out / "log.csv").read_text()
    assert "inter" in log and "intra" in log

    from sr_compress.models.load import load_model

    desc = load_model(out / "student.pth", 4)
    assert desc.arch == "srvgg" and desc.hyperparams["num_feat"] == 8
    student = desc.model.eval()
    with torch.no_grad():
        sr = student(torch.rand(1, 3, 12, 12))
    assert sr.shape == (1, 3, 48, 48) and torch.isfinite(sr).all()


def test_pdd_student_must_match_teacher(tmp_path) -> None:
    hr = shared_data("benchmarks", "Set5", "HR")
    real = shared_data("realworld", "RealSRSet+5images")
    gen = tmp_path / "gen"
    assert run_cli(cli, ["train", "--arch", "srvgg:c8b2", "--data", str(hr), "--scale", "4", "--iterations", "1",
                         "--batch-size", "1", "--patch-size", "16", "--out", str(gen), "--no-progress"]) == 0
    rc = run_cli(cli, ["distill", "--method", "pdd", "--teacher", str(gen / "student.pth"),
                       "--student", "srvgg:c16b2", "--scale", "4", "--data", str(hr), "--real-lr", str(real),
                       "--iterations", "1", "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2


def test_niqe_matches_basicsr_on_baboon() -> None:
    from sr_compress.data.io import read_uint8
    from sr_compress.metrics.niqe import calculate_niqe

    params = shared_data("metrics", "niqe", "niqe_pris_params.npz")
    img = read_uint8(shared_data("benchmarks", "Set14", "HR", "baboon.png"))
    # BasicSR's calculate_niqe(baboon.png, crop_border=0) = 5.7296 (its documented test value)
    assert calculate_niqe(img, params_path=params) == pytest.approx(5.7296, abs=2e-3)


def test_train_init_from_real_checkpoint(tmp_path) -> None:
    """--init starts from a real RLFN-S x4 checkpoint: the arch comes from it, training moves the weights a little."""
    from sr_compress.models.load import load_model

    hr = shared_data("benchmarks", "Set5", "HR")
    ckpt = shared_data("weights", "RLFN", "rlfn_s_x4.pth")
    out = tmp_path / "gen"
    rc = run_cli(cli, ["train", "--init", str(ckpt), "--data", str(hr), "--scale", "4", "--iterations", "2",
                       "--batch-size", "1", "--patch-size", "16", "--lr", "1e-6", "--out", str(out), "--no-progress"])
    assert rc == 0
    trained, src = load_model(out / "student.pth", 4), load_model(ckpt, 4)
    assert trained.hyperparams == src.hyperparams  # rlfn:c48b6
    a, b = trained.model.state_dict(), src.model.state_dict()
    diffs = [float((a[k] - b[k]).abs().max()) for k in b]
    assert max(diffs) < 1e-3 and max(diffs) > 0  # initialised from the checkpoint, then trained


def test_train_init_wrong_arch_is_a_clear_error(tmp_path, capsys) -> None:
    hr = shared_data("benchmarks", "Set5", "HR")
    ckpt = shared_data("weights", "RLFN", "rlfn_s_x4.pth")
    rc = run_cli(cli, ["train", "--init", str(ckpt), "--arch", "rlfn:c32b4", "--data", str(hr), "--scale", "4",
                       "--iterations", "1", "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "rlfn_s_x4.pth" in err and "rlfn:c48b6" in err


def test_pdd_adapts_a_real_imdn_checkpoint(tmp_path) -> None:
    """student: teacher copies any loadable architecture, e.g. the official IMDN x4, and saves it reloadable."""
    from sr_compress.models.load import load_model

    ckpt = shared_data("weights", "IMDN", "IMDN_x4.pth")
    out = tmp_path / "pdd"
    rc = run_cli(cli, ["distill", "--method", "pdd", "--teacher", str(ckpt), "--scale", "4",
                       "--data", str(shared_data("benchmarks", "Set5", "HR")),
                       "--real-lr", str(shared_data("realworld", "RealSRSet+5images")),
                       "--iterations", "2", "--batch-size", "1", "--patch-size", "16", "--set", "pdd.warmup=0",
                       "--out", str(out), "--no-progress"])
    assert rc == 0
    adapted, src = load_model(out / "student.pth", 4), load_model(ckpt, 4)
    assert adapted.arch == "imdn" and adapted.params == src.params
    a, b = adapted.model.state_dict(), src.model.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in b)  # trained, not just copied
