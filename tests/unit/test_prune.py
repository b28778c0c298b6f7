"""Structured pruning: valid graphs for every prunable arch, exact split handling, safe round trip."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from sr_compress.cli import cli, run_cli
from sr_compress.compress.prune import prune_model
from sr_compress.models.load import load_model, make_descriptor, save_model
from sr_compress.models.registry import ModelDescriptor, get_arch

torch.set_num_threads(1)

TINY: dict[str, dict[str, Any]] = {
    "rlfn": {"num_feat": 16, "num_blocks": 2, "scale": 2},
    "imdn": {"num_feat": 16, "num_blocks": 2, "scale": 2},
    "rfdn": {"num_feat": 16, "num_blocks": 2, "scale": 2},
    "pan": {"num_feat": 16, "up_feat": 8, "num_blocks": 2, "scale": 2},
    "edsr": {"num_feat": 16, "num_block": 2, "scale": 2},
    "srvgg": {"num_feat": 16, "num_conv": 2, "scale": 2},
}


def tiny(arch: str, seed: int = 0) -> ModelDescriptor:
    torch.manual_seed(seed)
    spec = get_arch(arch)
    hp = dict(TINY[arch])
    assert spec.from_hparams is not None
    return make_descriptor(spec, spec.from_hparams(hp).eval(), hp, hp["scale"], source=f"tiny {arch}")


@pytest.mark.parametrize("arch", sorted(TINY))
def test_pruning_keeps_graph_and_output_shape(arch: str) -> None:
    desc = tiny(arch)
    res = prune_model(desc, channels=0.5, importance="l2", round_to=4)
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert res.desc.model(x).shape == desc.model(x).shape == (1, 3, 40, 48)
    assert res.macs_after < res.macs_before and res.params_after < res.params_before
    widths = res.record["widths"]
    assert widths and all(w["in"] >= 1 and w["out"] >= 1 for w in widths.values())


def test_imdn_split_pruning_is_exact() -> None:
    """Pruning channels of IMDN's split conv equals zeroing them (torch-pruning + our split fix-up)."""
    import torch_pruning as tp

    from sr_compress.models.pruned.fixups import apply_fixups

    m = tiny("imdn").model
    x = torch.rand(1, 3, 20, 20)
    for idxs in ([0, 1], [5, 9], [1, 7, 12]):  # distilled part, remaining part, both
        z = copy.deepcopy(m)
        with torch.no_grad():
            z.IMDB1.c1.weight[idxs] = 0
            z.IMDB1.c1.bias[idxs] = 0
            ref = z(x)
        p = copy.deepcopy(m)
        graph = tp.DependencyGraph().build_dependency(p, example_inputs=x)
        graph.get_pruning_group(p.IMDB1.c1, tp.prune_conv_out_channels, idxs=idxs).prune()
        apply_fixups(p)
        with torch.no_grad():
            assert torch.allclose(p(x), ref, atol=1e-5)


def test_frozen_parameters_are_pruned_not_ignored() -> None:
    """torch-pruning silently prunes nothing when requires_grad=False: we make the copy trainable."""
    desc = tiny("rlfn")
    for p in desc.model.parameters():
        p.requires_grad_(False)
    res = prune_model(desc, channels=0.5, importance="l1", round_to=4)
    assert res.params_after < res.params_before
    assert all(not p.requires_grad for p in desc.model.parameters())  # the original is untouched


def test_taylor_and_macs_target() -> None:
    desc = tiny("rlfn")
    lr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 32, 32)
    res = prune_model(desc, macs=0.6, importance="taylor", round_to=2, batches=[(lr, hr)])
    assert res.macs_after <= 0.6 * res.macs_before


def test_pruned_checkpoint_round_trip_onnx(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from sr_compress.export.onnx import export_onnx

    res = prune_model(tiny("imdn"), channels=0.6, importance="l2", round_to=4)
    path = save_model(res.desc, tmp_path / "pruned.pth")
    raw = torch.load(path, weights_only=True)  # safe: plain containers only
    assert raw["sr_compress"]["pruned"]["widths"]
    back = load_model(path)
    x = torch.rand(1, 3, 24, 20)
    with torch.no_grad():
        ref = res.desc.model(x)
        assert torch.allclose(back.model(x), ref, atol=1e-6)
    export_onnx(back, tmp_path / "m.onnx", optimize=None)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    assert abs(out - ref.numpy()).max() < 1e-4


def _ckpt(tmp_path: Path) -> Path:
    return save_model(tiny("rlfn"), tmp_path / "rlfn.pth")


@pytest.mark.parametrize("args, needle", [
    (["--macs", "1.0"], "must be in (0, 1)"),
    (["--channels", "0"], "must be in (0, 1)"),
    ([], "exactly one target"),
])
def test_prune_cli_bad_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                               needle: str) -> None:
    code = run_cli(cli, ["prune", str(_ckpt(tmp_path)), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1


def test_prune_cli_unknown_arch_and_wrong_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pth"
    torch.save({"foo.weight": torch.zeros(3, 3)}, bad)
    assert run_cli(cli, ["prune", str(bad), "--out", str(tmp_path / "o"), "--macs", "0.5"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    out = tmp_path / "p"
    assert run_cli(cli, ["prune", str(_ckpt(tmp_path)), "--out", str(out), "--channels", "0.5",
                         "--importance", "l2", "--round-to", "4"]) == 0
    capsys.readouterr()
    assert run_cli(cli, ["info", str(out / "pruned.pth"), "--scale", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "x2" in err
    assert run_cli(cli, ["info", str(out / "pruned.pth")]) == 0
    assert "layer widths" in capsys.readouterr().out
