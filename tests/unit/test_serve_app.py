"""Server pieces without a network: model specs, artifact choice, output encoding, CLI option checks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_compress.errors import UserInputError
from sr_compress.export.manifest import ArtifactEntry, Manifest
from sr_compress.serve.app import ServeConfig, encode_result
from sr_compress.serve.limits import Upload
from sr_compress.serve.models import choose_artifact, parse_spec


def test_parse_spec_names(tmp_path: Path) -> None:
    assert parse_spec(f"x4={tmp_path}/m.onnx") == ("x4", tmp_path / "m.onnx")
    assert parse_spec(f"{tmp_path}/student.pth")[0] == "student"
    assert parse_spec(str(tmp_path))[0] == tmp_path.name
    with pytest.raises(UserInputError, match="NAME=PATH"):
        parse_spec("bad name!=x.onnx")


def test_choose_artifact_prefers_fp32_and_names_what_exists() -> None:
    m = Manifest(arch="edsr", scale=2, size_requirements={}, artifacts=[
        ArtifactEntry("ov-int8", "a", "openvino", "int8"), ArtifactEntry("onnx", "b", "onnxruntime", "fp32"),
        ArtifactEntry("ov-fp32", "c", "openvino", "fp32")])
    assert choose_artifact(m, None, None).name == "ov-fp32"
    assert choose_artifact(m, "onnxruntime", None).name == "onnx"
    assert choose_artifact(m, None, "int8").name == "ov-int8"
    with pytest.raises(UserInputError, match="available: openvino/int8, onnxruntime/fp32"):
        choose_artifact(m, "tensorrt", None)


def _upload(h: int, w: int, gray: bool = False, alpha: bool = False, bits: int = 8) -> Upload:
    rng = np.random.default_rng(0)
    rgb = rng.random((h, w, 3), dtype=np.float32)
    if gray:
        rgb[:] = rgb[..., :1]
    a = rng.random((h, w), dtype=np.float32) if alpha else None
    return Upload(rgb, a, bits, gray, "PNG", "RGB")


def _sr(up: Upload) -> np.ndarray:
    return np.transpose(up.rgb, (2, 0, 1)).repeat(2, 1).repeat(2, 2)


def test_encode_keeps_gray_alpha_and_16_bit() -> None:
    import cv2

    cfg = ServeConfig()
    up = _upload(5, 6, alpha=True)
    data, ctype = encode_result(_sr(up), up, 2, "png", cfg)
    img = Image.open(io.BytesIO(data))
    assert ctype == "image/png" and img.mode == "RGBA" and img.size == (12, 10)
    data, ctype = encode_result(_sr(up), up, 2, "jpeg", cfg)
    assert ctype == "image/jpeg" and Image.open(io.BytesIO(data)).mode == "RGB"  # JPEG has no alpha
    data, ctype = encode_result(_sr(up), up, 2, "webp", cfg)
    assert ctype == "image/webp" and Image.open(io.BytesIO(data)).mode == "RGBA"

    g = _upload(4, 4, gray=True)
    assert Image.open(io.BytesIO(encode_result(_sr(g), g, 2, "png", cfg)[0])).mode == "L"

    hi = _upload(4, 3, alpha=True, bits=16)
    arr = cv2.imdecode(np.frombuffer(encode_result(_sr(hi), hi, 2, "png", cfg)[0], np.uint8), cv2.IMREAD_UNCHANGED)
    assert arr.dtype == np.uint16 and arr.shape == (8, 6, 4)
    want = np.round(_sr(hi)[0] * 65535)
    assert np.abs(arr[..., 2].astype(float) - want).max() == 0
    g16 = _upload(3, 3, gray=True, bits=16)
    out = Image.open(io.BytesIO(encode_result(_sr(g16), g16, 2, "png", cfg)[0]))
    assert out.mode.startswith("I") and out.size == (6, 6)
    # 16-bit input asked as webp is quantised to 8 bits, not refused
    assert Image.open(io.BytesIO(encode_result(_sr(hi), hi, 2, "webp", cfg)[0])).mode == "RGBA"


def test_cli_rejects_bad_options_with_one_line() -> None:
    from click.testing import CliRunner

    from sr_compress.serve.cli import command

    res = CliRunner().invoke(command, ["--model", "x.onnx", "--max-batch", "0"], standalone_mode=False)
    assert isinstance(res.exception, UserInputError) and "--max-batch" in str(res.exception)
    res = CliRunner().invoke(command, ["--model", "/nonexistent/x.onnx"], standalone_mode=False)
    assert isinstance(res.exception, UserInputError) and "does not exist" in str(res.exception)
