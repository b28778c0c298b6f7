"""The one image-I/O path shared by sr-serve and upscale: wide TIFFs, corrupt headers, ICC, encode."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from sr_compress.data.io import decode_bytes, decode_image, encode_decoded, encode_image, sniff_format
from sr_compress.serve.limits import Limits, RequestError, decode_upload


def _tiff(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="TIFF")
    return buf.getvalue()


@pytest.mark.parametrize("arr, want", [
    (np.array([[0.0, 0.5], [0.25, 1.0]], np.float32), [[0, 0.5], [0.25, 1]]),            # [0, 1] floats
    (np.array([[0.0, 127.5], [51.0, 255.0]], np.float32), [[0, 0.5], [0.2, 1]]),          # 8-bit range floats
    (np.array([[0, 30000], [40000, 65535]], np.int32), [[0, 30000 / 65535], [40000 / 65535, 1]]),
    (np.array([[0, 2_000_000], [1_000_000, 4_000_000]], np.int32), [[0, 0.5], [0.25, 1]]),  # beyond 16 bits
])
def test_float_and_int32_tiffs_are_not_saturated(arr: np.ndarray, want: list) -> None:
    data = _tiff(arr)
    for dec in (decode_bytes(data), decode_upload(data, Limits())):
        assert dec.rgb.shape == (2, 2, 3) and dec.gray
        np.testing.assert_allclose(dec.rgb[..., 0], np.array(want), atol=1e-6)


def _bad_crc_png() -> bytes:
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + b"\x10" * 12 for _ in range(4)))

    def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
        c = zlib.crc32(kind + body) & 0xFFFFFFFF if crc is None else crc
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", c)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr, crc=0x12345678) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_png_with_bad_ihdr_crc_is_400_corrupt_not_415() -> None:
    data = _bad_crc_png()
    assert sniff_format(data) == "PNG"
    with pytest.raises(RequestError) as info:
        decode_upload(data, Limits())
    assert (info.value.status, info.value.code) == (400, "corrupt_image")
    # still 415 for bytes that are not an image at all
    with pytest.raises(RequestError) as info:
        decode_upload(b"plain text, not an image", Limits())
    assert info.value.status == 415


def test_icc_profile_is_kept_through_decode_and_encode(tmp_path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8))
    src.save(tmp_path / "c.png", icc_profile=icc)
    dec = decode_image(tmp_path / "c.png")
    assert dec.icc_profile == icc
    sr = np.transpose(dec.rgb, (2, 0, 1)).repeat(2, 1).repeat(2, 2)
    for fmt in ("png", "webp", "jpg"):
        out = Image.open(io.BytesIO(encode_decoded(sr, dec, fmt)))
        assert out.size == (10, 12) and out.info.get("icc_profile") == icc, fmt
    deep = Image.open(io.BytesIO(encode_image(dec.rgb, "png", bit_depth=16, icc_profile=icc)))
    assert deep.info.get("icc_profile") == icc  # 16-bit colour PNGs (written by OpenCV) keep it too
    # an RGB profile is not attached to a gray output
    assert "icc_profile" not in Image.open(io.BytesIO(encode_image(dec.rgb, "png", gray=True, icc_profile=icc))).info


def test_upload_and_file_decode_agree_and_encode_keeps_modes(tmp_path) -> None:
    rgba = np.random.default_rng(1).integers(0, 256, (7, 9, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    up, dec = decode_upload(data, Limits()), decode_image(tmp_path / "a.png")
    np.testing.assert_array_equal(up.rgb, dec.rgb)
    np.testing.assert_array_equal(up.alpha, dec.alpha)
    sr = np.transpose(dec.rgb, (2, 0, 1)).repeat(3, 1).repeat(3, 2)
    out = Image.open(io.BytesIO(encode_decoded(sr, dec, "png")))
    assert out.mode == "RGBA" and out.size == (27, 21)
