"""Architecture detection, safe loading, prefix handling, save/load and MAC counting (no shared data)."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from sr_compress.errors import CheckpointError, UnsupportedArchitecture
from sr_compress.models import get_arch, iter_archs
from sr_compress.models.flops import count_macs
from sr_compress.models.load import (
    descriptor_from_state_dict,
    load_model,
    save_model,
    scale_hint_from_name,
    strip_prefixes,
    unwrap_state_dict,
)

# small instances of every architecture we define (hparams as their from_hparams takes them)
SMALL = {
    "imdn": {"num_feat": 16, "num_blocks": 2, "scale": 3, "in_ch": 3, "out_ch": 3, "reduction": 4},
    "rlfn": {"num_feat": 12, "mid_feat": 10, "num_blocks": 2, "scale": 4, "esa_channels": 4, "in_ch": 3,
             "out_ch": 3, "img_range": 255.0},
    "rfdn": {"num_feat": 8, "num_blocks": 2, "scale": 2, "distilled": 4, "esa_channels": 2, "in_ch": 3,
             "out_ch": 3, "img_range": 255.0},
    "pan": {"num_feat": 8, "up_feat": 6, "num_blocks": 2, "scale": 4, "in_ch": 3, "out_ch": 3},
    "edsr": {"num_feat": 8, "num_block": 2, "scale": 3, "res_scale": 1.0, "img_range": 255.0, "in_ch": 3,
             "out_ch": 3},
    "srvgg": {"num_feat": 8, "num_conv": 3, "scale": 2, "in_ch": 3, "out_ch": 3},
    "carn_m": {"num_feat": 8, "groups": 2, "scales": [2, 3, 4], "scale": 4},
    "imdn_rtc": {"num_feat": 8, "num_blocks": 2, "scale": 3},
    "imdn_rte": {"num_feat": 8, "num_blocks": 2, "scale": 2, "img_range": 255.0},
    "fmen": {"num_feat": 8, "mid_feat": 4, "warmup_mid": 6, "up_blocks": [2, 1, 1], "scale": 2, "img_range": 255.0},
    "bsrn": {"num_feat": 8, "num_blocks": 2, "scale": 4, "esa_channels": 2, "img_range": 1.0},
    "rrdbnet": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2, "in_ch": 3, "out_ch": 3},
}


def _ours() -> list[str]:
    return [s.name for s in iter_archs() if s.from_hparams is not None]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_build_detect_roundtrip(name: str) -> None:
    spec = get_arch(name)
    model = spec.from_hparams(dict(SMALL[name])).eval()
    sd = model.state_dict()
    matches = [s.name for s in iter_archs() if s.detect(sd)]
    assert matches and matches[0] == name, matches
    desc = descriptor_from_state_dict(dict(sd))
    assert desc.arch == name and desc.scale == SMALL[name]["scale"]
    for k, v in SMALL[name].items():
        assert desc.hyperparams[k] == v, (k, desc.hyperparams[k], v)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        y = desc.model(x)
        assert torch.allclose(y, model(x), atol=1e-6)
    s = desc.scale
    assert y.shape == (1, 3, 16 * s, 16 * s)


def test_every_builtin_arch_has_a_small_test_instance() -> None:
    assert set(_ours()) == set(SMALL)


def test_multi_scale_carn_picks_head(tmp_path: Path) -> None:
    model = get_arch("carn_m").from_hparams(dict(SMALL["carn_m"]))
    torch.save(model.state_dict(), tmp_path / "carn_m.pth")
    x = torch.rand(1, 3, 8, 8)
    for s in (2, 3, 4):
        desc = load_model(tmp_path / "carn_m.pth", scale=s)
        assert desc.scale == s and desc.hyperparams["scale"] == s
        with torch.no_grad():
            assert desc.model(x).shape == (1, 3, 8 * s, 8 * s)
    assert load_model(tmp_path / "carn_m.pth").scale == 4
    with pytest.raises(CheckpointError, match="x8 was requested"):
        load_model(tmp_path / "carn_m.pth", scale=8)


def test_prefix_and_wrapper_stripping(tmp_path: Path) -> None:
    model = get_arch("imdn").from_hparams(dict(SMALL["imdn"]))
    wrapped = {"params_ema": OrderedDict((f"module.{k}", v) for k, v in model.state_dict().items()),
               "iter": 5}
    torch.save(wrapped, tmp_path / "w.pth")
    desc = load_model(tmp_path / "w.pth")
    assert desc.arch == "imdn" and desc.scale == 3
    assert strip_prefixes({"module._orig_mod.a": torch.zeros(1)}) == {"a": torch.zeros(1)}
    # a key that merely starts like a prefix in some entries is left alone
    assert set(strip_prefixes({"model.0.weight": torch.zeros(1), "x": torch.zeros(1)})) == {"model.0.weight", "x"}


def test_unwrap_prefers_ema_and_rejects_non_state_dicts() -> None:
    a, b = {"w": torch.ones(1)}, {"w": torch.zeros(1)}
    sd, meta = unwrap_state_dict({"params": a, "params_ema": b})
    assert torch.equal(sd["w"], torch.zeros(1)) and meta is None
    with pytest.raises(CheckpointError, match="no state dict"):
        unwrap_state_dict({"epoch": 3, "lr": 0.1}, "x.pth")


def test_legacy_non_zip_checkpoint(tmp_path: Path) -> None:
    model = get_arch("rfdn").from_hparams(dict(SMALL["rfdn"]))
    p = tmp_path / "legacy_x2.pth"
    torch.save(model.state_dict(), p, _use_new_zipfile_serialization=False)
    assert p.read_bytes()[:2] != b"PK"
    desc = load_model(p)
    assert desc.arch == "rfdn" and desc.source_sha256 and len(desc.source_sha256) == 64


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - the payload a malicious checkpoint would carry
        return (Path.touch, (self.marker,))


def test_unsafe_pickle_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pth"
    torch.save({"params": {"w": torch.zeros(1)}, "hook": _Evil(marker)}, p)
    marker.unlink(missing_ok=True)  # torch.save does not run __reduce__'s callable, but be sure
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_model(p)
    assert not marker.exists()
    # a raw (non-torch) pickle with a global is refused as well
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CheckpointError):
        load_model(raw)
    assert not marker.exists()


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pth"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="directory"):
        load_model(tmp_path)


def test_unknown_architecture_lists_keys(tmp_path: Path) -> None:
    p = tmp_path / "mystery.pth"
    torch.save({"foo.weight": torch.zeros(3, 3), "bar.bias": torch.zeros(3)}, p)
    with pytest.raises(UnsupportedArchitecture) as err:
        load_model(p)
    msg = str(err.value)
    assert "foo.weight" in msg and "imdn" in msg and "mystery.pth" in msg
    assert "spandrel: " in msg and "SwinIR" in msg and "not importable" not in msg  # spandrel families listed too


def test_save_load_roundtrip_keeps_hparams(tmp_path: Path) -> None:
    spec = get_arch("pan")
    hp = dict(SMALL["pan"], scale=3)  # x3 PAN is indistinguishable from x2 by its weights
    model = spec.from_hparams(hp).eval()
    from sr_compress.models.load import make_descriptor

    desc = make_descriptor(spec, model, hp, 3)
    p = save_model(desc, tmp_path / "sub" / "student.pth")
    back = load_model(p)
    assert back.arch == "pan" and back.scale == 3 and back.hyperparams == hp
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert torch.equal(back.model(x), model(x))
    # without metadata the weights fit x2 and x3: an explicit scale or the file-name hint decides
    torch.save(model.state_dict(), tmp_path / "bare.pth")
    with pytest.raises(CheckpointError, match="ambiguous"):
        load_model(tmp_path / "bare.pth")
    assert load_model(tmp_path / "bare.pth", scale=3).scale == 3
    torch.save(model.state_dict(), tmp_path / "PANx3_DF2K.pth")
    assert load_model(tmp_path / "PANx3_DF2K.pth").scale == 3
    with pytest.raises(CheckpointError, match="x4 was requested"):
        load_model(tmp_path / "bare.pth", scale=4)


def test_scale_hint_from_name() -> None:
    assert scale_hint_from_name("PANx3_DF2K.pth") == 3
    assert scale_hint_from_name("DCTLSA_X4.pt") == 4
    assert scale_hint_from_name("carn_m.pth") is None


def test_count_macs_known_layers() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, (1, 3, 10, 10)) == 8 * 10 * 10 * 3 * 9
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
    assert count_macs(grouped, (2, 8, 5, 5)) == 2 * 8 * 25 * 2 * 9
    lin = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    assert count_macs(lin, (2, 3, 2, 2)) == 2 * 5 * 12
    convt = nn.ConvTranspose2d(4, 6, 2, stride=2)
    assert count_macs(convt, (1, 4, 3, 3)) == 4 * 9 * 6 * 4
    # a module used twice counts twice; training flag restored
    twice = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(8, 3, 1))
    twice.train()
    macs = count_macs(twice, (1, 3, 10, 10))
    assert macs == 8 * 100 * 27 + 3 * 100 * 8 and twice.training


def test_inconsistent_shapes_give_checkpoint_error(tmp_path: Path) -> None:
    sd = get_arch("imdn").from_hparams(dict(SMALL["imdn"])).state_dict()
    sd["upsampler.0.weight"] = torch.zeros(7, 16, 3, 3)  # 7 is not 3 * s^2
    sd["upsampler.0.bias"] = torch.zeros(7)
    torch.save(sd, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="imdn"):
        load_model(tmp_path / "odd.pth")
    sd = get_arch("imdn").from_hparams(dict(SMALL["imdn"])).state_dict()
    sd["IMDB1.c5.weight"] = torch.zeros(16, 16, 3, 3)  # detected, but a weight of the wrong shape
    torch.save(sd, tmp_path / "bad_shape.pth")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(tmp_path / "bad_shape.pth")
