"""Odd inputs are converted the documented way (data/io.py docstring, docs/data.md)."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from sr_compress.data.io import (
    decode_bytes,
    decode_image,
    list_images,
    read_image,
    read_uint8,
    to_tensor,
    to_uint8,
    write_image,
)
from sr_compress.errors import UserInputError


def _rgb(h: int = 6, w: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_png_roundtrip(tmp_path):
    arr = _rgb()
    Image.fromarray(arr).save(tmp_path / "a.png")
    dec = decode_image(tmp_path / "a.png")
    assert dec.bit_depth == 8 and dec.alpha is None and dec.mode == "RGB"
    assert dec.rgb.dtype == np.float32 and dec.rgb.shape == (6, 5, 3)
    np.testing.assert_array_equal(read_uint8(tmp_path / "a.png"), arr)
    t = read_image(tmp_path / "a.png")
    assert t.shape == (3, 6, 5) and t.dtype == torch.float32
    np.testing.assert_allclose(t.permute(1, 2, 0).numpy() * 255, arr, atol=1e-4)


def test_gray_is_replicated(tmp_path):
    g = np.arange(30, dtype=np.uint8).reshape(6, 5) * 8
    Image.fromarray(g, mode="L").save(tmp_path / "g.png")
    out = read_uint8(tmp_path / "g.png")
    assert out.shape == (6, 5, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)


def test_rgba_keeps_alpha_separately(tmp_path):
    rgba = np.dstack([_rgb(), np.full((6, 5), 77, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    dec = decode_image(tmp_path / "a.png")
    np.testing.assert_array_equal(np.round(dec.rgb * 255).astype(np.uint8), rgba[..., :3])  # not blended
    assert dec.alpha is not None and np.allclose(dec.alpha, 77 / 255)


def test_gray_alpha(tmp_path):
    la = Image.fromarray(np.full((4, 4), 200, np.uint8), mode="L").convert("LA")
    la.putalpha(10)
    la.save(tmp_path / "la.png")
    dec = decode_image(tmp_path / "la.png")
    assert dec.rgb.shape == (4, 4, 3) and np.allclose(dec.rgb, 200 / 255)
    assert np.allclose(dec.alpha, 10 / 255)


def test_palette_with_and_without_transparency(tmp_path):
    arr = _rgb()
    p = Image.fromarray(arr).quantize(colors=8)
    p.save(tmp_path / "p.png")
    expected = np.asarray(p.convert("RGB"))
    np.testing.assert_array_equal(read_uint8(tmp_path / "p.png"), expected)
    p.info["transparency"] = 0
    p.save(tmp_path / "pt.png", transparency=0)
    dec = decode_image(tmp_path / "pt.png")
    assert dec.alpha is not None and dec.rgb.shape == (6, 5, 3)


def test_16bit_gray(tmp_path):
    g16 = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000 + 7)
    cv2.imwrite(str(tmp_path / "g16.png"), g16)
    dec = decode_image(tmp_path / "g16.png")
    assert dec.bit_depth == 16
    np.testing.assert_allclose(dec.rgb[..., 1], g16 / 65535.0, atol=1e-6)


def test_16bit_rgb_keeps_precision(tmp_path):
    rgb16 = np.random.default_rng(1).integers(0, 65536, (4, 5, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    dec = decode_image(tmp_path / "c16.png")
    assert dec.bit_depth == 16 and dec.alpha is None
    np.testing.assert_allclose(dec.rgb, rgb16 / 65535.0, atol=1e-6)
    # bytes path (the server) gives the same
    dec_b = decode_bytes((tmp_path / "c16.png").read_bytes())
    np.testing.assert_allclose(dec_b.rgb, dec.rgb)


def _write_png16(path, arr: np.ndarray, color_type: int) -> None:
    """Minimal PNG encoder (16-bit, filter 0) for layouts the libraries cannot write."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_16bit_rgba_and_gray_alpha(tmp_path):
    rgba16 = np.random.default_rng(2).integers(0, 65536, (3, 4, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "a16.png"), rgba16[..., [2, 1, 0, 3]])
    dec = decode_image(tmp_path / "a16.png")
    assert dec.bit_depth == 16
    np.testing.assert_allclose(dec.rgb, rgba16[..., :3] / 65535.0, atol=1e-6)
    np.testing.assert_allclose(dec.alpha, rgba16[..., 3] / 65535.0, atol=1e-6)
    la16 = np.random.default_rng(3).integers(0, 65536, (3, 4, 2), dtype=np.uint16)
    _write_png16(tmp_path / "la16.png", la16, color_type=4)  # neither Pillow nor OpenCV writes this
    dec = decode_image(tmp_path / "la16.png")
    assert dec.rgb.shape == (3, 4, 3)
    np.testing.assert_allclose(dec.rgb[..., 2], la16[..., 0] / 65535.0, atol=1e-6)
    np.testing.assert_allclose(dec.alpha, la16[..., 1] / 65535.0, atol=1e-6)


def test_cmyk_converted_like_pillow(tmp_path):
    cmyk = Image.fromarray(_rgb(8, 8)).convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    expected = np.asarray(Image.open(tmp_path / "c.jpg").convert("RGB"))
    out = read_uint8(tmp_path / "c.jpg")
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("orientation, shape", [(1, (4, 6)), (3, (4, 6)), (6, (6, 4)), (8, (6, 4))])
def test_exif_orientation_applied(tmp_path, orientation, shape):
    arr = np.zeros((4, 6, 3), np.uint8)
    arr[0, 0] = 255  # marker in the stored top-left corner
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(tmp_path / "e.png", exif=exif.tobytes())
    out = read_uint8(tmp_path / "e.png")
    assert out.shape[:2] == shape
    expected_corner = {1: (0, 0), 3: (3, 5), 6: (0, 3), 8: (5, 0)}[orientation]
    assert out[expected_corner].max() == 255


def test_errors_name_the_file(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        decode_image(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(UserInputError, match="bad.png"):
        decode_image(bad)
    with pytest.raises(UserInputError, match="not a readable image"):
        decode_bytes(b"garbage")
    with pytest.raises(UserInputError, match="not found"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no images"):
        list_images(tmp_path / "empty")


def test_list_images_sorted_and_filtered(tmp_path):
    for n in ("b.png", "a.JPG", "c.txt"):
        (tmp_path / n).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]


def test_uint8_helpers_roundtrip(tmp_path):
    arr = _rgb()
    t = to_tensor(arr)
    assert t.shape == (1, 3, 6, 5)
    np.testing.assert_array_equal(to_uint8(t), arr)
    np.testing.assert_array_equal(to_uint8(t[0].numpy()), arr)
    # rounding and clipping at the edge
    x = torch.tensor([[[-0.1, 0.5 / 255, 1.2]]])
    assert to_uint8(x).ravel().tolist() == [0, 0, 255]
    write_image(tmp_path / "sub" / "o.png", t[0])
    np.testing.assert_array_equal(read_uint8(tmp_path / "sub" / "o.png"), arr)
    write_image(tmp_path / "u.png", arr)
    np.testing.assert_array_equal(read_uint8(tmp_path / "u.png"), arr)
    with pytest.raises(ValueError):
        to_uint8(torch.zeros(2, 3, 4, 4))


def test_decode_bytes_matches_file(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_rgb()).save(buf, format="PNG")
    (tmp_path / "x.png").write_bytes(buf.getvalue())
    np.testing.assert_array_equal(decode_bytes(buf.getvalue()).rgb, decode_image(tmp_path / "x.png").rgb)
