"""Student networks: shapes, spec parsing, function-preserving growth, ONNX export."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_compress.errors import UserInputError
from sr_compress.models.load import load_model, save_model
from sr_compress.models.students import build_student, parse_student_spec


@pytest.mark.parametrize("spec", ["edsr:c8b2", "rlfn:c8b2", "srvgg:c8b2"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_student_shapes_and_reload(spec: str, scale: int, tmp_path: Path) -> None:
    desc = build_student(spec, scale)
    assert desc.arch == spec.split(":")[0] and desc.scale == scale and desc.onnx_exportable
    x = torch.rand(2, 3, 16, 20)
    desc.model.eval()
    with torch.no_grad():
        y = desc.model(x)
    assert y.shape == (2, 3, 16 * scale, 20 * scale)
    p = save_model(desc, tmp_path / "s.pth")
    back = load_model(p)
    assert back.arch == desc.arch and back.scale == scale and back.params == desc.params
    with torch.no_grad():
        assert torch.equal(back.model(x), y)
    # the bare state dict is recognised by detection too
    torch.save(desc.model.state_dict(), tmp_path / "bare.pth")
    assert load_model(tmp_path / "bare.pth").arch == desc.arch


def test_spec_parsing_and_errors() -> None:
    assert parse_student_spec("EDSR:c32b4") == ("edsr", 32, 4)
    for bad in ("edsr", "edsr:c32", "vdsr:c32b4", "edsr:c2b1", "rlfn:c32b0"):
        with pytest.raises(UserInputError, match="student spec"):
            parse_student_spec(bad)


def test_params_grow_with_width_and_depth() -> None:
    small, wide, deep = (build_student(s, 4).params for s in ("edsr:c16b2", "edsr:c32b2", "edsr:c16b4"))
    assert small < wide and small < deep
    # a 3x3 conv block of 16 channels: 2 convs * (16*16*9 + 16)
    assert deep - small == 2 * 2 * (16 * 16 * 9 + 16)


def test_edsr_append_blocks_preserves_function(tmp_path: Path) -> None:
    desc = build_student("edsr:c8b2", 2)
    model = desc.model.eval()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        before = model(x)
        new = model.append_blocks(2)
        after = model(x)
    assert len(new) == 2 and model.num_block == 4
    assert torch.equal(before, after)
    # the new blocks are trainable: one gradient step moves the output
    model.train()
    loss = model(x).square().mean()
    loss.backward()
    assert new[0].conv2.weight.grad is not None and new[0].conv2.weight.grad.abs().sum() > 0
    back = load_model(save_model(desc, tmp_path / "grown.pth"))
    assert back.hyperparams["num_block"] == 4


@pytest.mark.parametrize("spec", ["edsr:c8b1", "rlfn:c8b1", "srvgg:c8b1"])
def test_students_export_to_onnx(spec: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    desc = build_student(spec, 2)
    model = desc.model.eval()
    x = torch.rand(1, 3, 16, 16)
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, input_names=["lr"], output_names=["sr"], opset_version=17,
                      dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}},
                      dynamo=False)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    x2 = torch.rand(1, 3, 20, 24)  # another size through the dynamic axes
    (out,) = sess.run(None, {"lr": x2.numpy()})
    with torch.no_grad():
        ref = model(x2).numpy()
    assert out.shape == ref.shape == (1, 3, 40, 48)
    assert np.abs(out - ref).max() < 1e-4


@pytest.mark.parametrize("spec", ["edsr:c8b2", "rlfn:c12b3", "srvgg:c16b4"])
def test_student_spec_for_round_trips(spec: str) -> None:
    from sr_compress.models.students import student_spec_for

    assert student_spec_for(build_student(spec, 4)) == spec


def test_student_spec_for_other_settings_is_none() -> None:
    from sr_compress.models.students import student_spec_for

    desc = build_student("rlfn:c12b3", 4)
    desc.hyperparams = {**desc.hyperparams, "esa_channels": 8}  # not what a student spec builds
    assert student_spec_for(desc) is None
