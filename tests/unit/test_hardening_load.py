"""Loading: an ambiguous scale is never guessed; files that are not checkpoints say so."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from sr_compress.cli import cli, run_cli
from sr_compress.errors import CheckpointError
from sr_compress.models.load import load_model
from sr_compress.models.registry import get_arch

PAN_SMALL = {"num_feat": 8, "up_feat": 6, "num_blocks": 2, "scale": 3, "in_ch": 3, "out_ch": 3}


@pytest.fixture
def pan_x3(tmp_path: Path) -> nn.Module:
    return get_arch("pan").from_hparams(dict(PAN_SMALL)).eval()


def test_ambiguous_scale_without_hint_requires_scale(tmp_path: Path, pan_x3: nn.Module) -> None:
    torch.save(pan_x3.state_dict(), tmp_path / "pan_model.pth")
    with pytest.raises(CheckpointError, match=r"x2 and x3.*--scale 2.*--scale 3"):
        load_model(tmp_path / "pan_model.pth")
    assert load_model(tmp_path / "pan_model.pth", scale=3).scale == 3


def test_ambiguous_scale_from_file_name_is_said(tmp_path: Path, pan_x3: nn.Module,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    torch.save(pan_x3.state_dict(), tmp_path / "PANx3_DF2K.pth")
    with caplog.at_level(logging.WARNING):
        assert load_model(tmp_path / "PANx3_DF2K.pth").scale == 3
    assert any("x3" in r.getMessage() and "file name" in r.getMessage() for r in caplog.records)


def test_our_format_scale_comes_from_metadata(tmp_path: Path, pan_x3: nn.Module) -> None:
    from sr_compress.models.load import make_descriptor, save_model

    desc = make_descriptor(get_arch("pan"), pan_x3, dict(PAN_SMALL), 3)
    p = save_model(desc, tmp_path / "x2_named_but_x3.pth")  # metadata wins over a misleading name
    assert load_model(p).scale == 3


def test_info_ambiguous_scale_is_one_line(tmp_path: Path, pan_x3: nn.Module,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(pan_x3.state_dict(), tmp_path / "pan_model.pth")
    assert run_cli(cli, ["info", str(tmp_path / "pan_model.pth")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--scale" in err[0]


def _not_checkpoints(tmp_path: Path) -> list[Path]:
    jpg = tmp_path / "photo.jpg"
    Image.new("RGB", (16, 16), (200, 10, 10)).save(jpg)
    param = tmp_path / "model.param.txt"  # ncnn text layout, but not dispatched as .param
    param.write_text("7767517\n3 3\nInput data 0 1 data\nConvolution conv0 1 1 data out 0=8\n")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage-23-bytes-file!!")
    return [jpg, param, junk]


def test_files_that_are_not_checkpoints_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for p in _not_checkpoints(tmp_path):
        with pytest.raises(CheckpointError) as err:
            load_model(p)
        msg = str(err.value)
        assert "not a checkpoint" in msg and "arbitrary code" not in msg, msg
        assert ".safetensors" in msg and ".pth" in msg, msg
        assert run_cli(cli, ["info", str(p)]) == 2
        line = capsys.readouterr().err.strip()
        assert "\n" not in line and "not a checkpoint" in line


def test_pickled_module_message_is_whole(tmp_path: Path) -> None:
    p = tmp_path / "whole_model.pth"
    torch.save(nn.Sequential(nn.Conv2d(3, 3, 3)), p)
    with pytest.raises(CheckpointError, match="refusing to load") as err:
        load_model(p)
    msg = str(err.value)
    assert "torch.nn.modules.container.Sequential" in msg, msg
    # the global is named whole, in its own parentheses, never cut mid-word
    inner = msg[msg.index("(") + 1: msg.index(")")]
    assert inner.endswith("Sequential") or "Sequential" in inner.split()[-1], inner


def test_raw_pickle_is_still_refused_as_unsafe(tmp_path: Path) -> None:
    p = tmp_path / "raw.pth"
    p.write_bytes(pickle.dumps({"a": Path("x")}))
    with pytest.raises(CheckpointError, match="refusing"):
        load_model(p)
