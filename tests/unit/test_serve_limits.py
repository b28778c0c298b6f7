"""Upload safety: size, pixel bomb, formats, truncation, gray/alpha/16-bit/EXIF decoding."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from sr_compress.serve.limits import Limits, RequestError, check_content_type, decode_upload, open_checked


def png_bomb(width: int = 6000, height: int = 6000) -> bytes:
    """A valid 8-bit gray PNG of ``width x height`` zeros: tens of kB that decode to tens of MB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * ((width + 1) * height), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def encode(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def rgb_image(h: int = 20, w: int = 30, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def expect(status: int, code: str, fn, *args) -> RequestError:  # noqa: ANN001
    with pytest.raises(RequestError) as info:
        fn(*args)
    assert (info.value.status, info.value.code) == (status, code), info.value.message
    return info.value


def test_pixel_bomb_is_refused_from_the_header_before_decoding() -> None:
    data = png_bomb()
    assert len(data) < 100_000
    err = expect(413, "too_many_pixels", open_checked, data, Limits(max_pixels=1_000_000))
    assert "6000x6000" in err.message and "max_pixels=1000000" in err.message
    # beyond Pillow's own guard too (2 x 89 M pixels): still our 413, never an exception
    huge = png_bomb(20000, 10000)
    expect(413, "too_many_pixels", decode_upload, huge, Limits(max_pixels=10**12))


def test_upload_size_format_and_corruption() -> None:
    png = encode(rgb_image())
    err = expect(413, "upload_too_large", decode_upload, png, Limits(max_upload_bytes=100))
    assert "max_upload_bytes=100" in err.message
    expect(415, "unsupported_format", decode_upload, encode(rgb_image(), "GIF"), Limits())
    expect(415, "unsupported_format", decode_upload, b"hello, not an image", Limits())
    expect(400, "corrupt_image", decode_upload, png[: len(png) // 2], Limits())
    jpg = encode(rgb_image(64, 64), "JPEG")
    expect(400, "corrupt_image", decode_upload, jpg[:300], Limits())


def test_content_type_whitelist() -> None:
    for ok in (None, "", "image/png", "image/jpeg; charset=binary", "application/octet-stream"):
        check_content_type(ok)
    for bad in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        err = expect(415, "unsupported_media_type", check_content_type, bad)
        assert repr(bad) in err.message and ("curl" in err.message) == (bad == "application/x-www-form-urlencoded")


def test_gray_alpha_16bit_and_exif_orientation() -> None:
    gray = decode_upload(encode(Image.new("L", (7, 5), 128)), Limits())
    assert gray.gray and gray.alpha is None and gray.rgb.shape == (5, 7, 3)

    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 3] = 200
    up = decode_upload(encode(Image.fromarray(rgba, "RGBA")), Limits())
    assert not up.gray and up.alpha is not None and np.allclose(up.alpha, 200 / 255)

    import cv2

    hi = np.random.default_rng(1).integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    ok, enc = cv2.imencode(".png", hi[..., ::-1])
    assert ok
    up16 = decode_upload(enc.tobytes(), Limits())
    assert up16.bit_depth == 16
    assert np.array_equal(np.round(up16.rgb * 65535).astype(np.uint16), hi)

    g16 = Image.fromarray(np.full((4, 4), 40000, np.uint16))
    upg = decode_upload(encode(g16), Limits())
    assert upg.gray and upg.bit_depth == 16 and np.allclose(upg.rgb, 40000 / 65535)

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    rotated = decode_upload(encode(rgb_image(20, 40), "JPEG", exif=exif), Limits())
    assert rotated.rgb.shape[:2] == (40, 20)


def _seed_files() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for fmt in ("PNG", "JPEG", "WEBP", "BMP", "TIFF"):
        for mode in ("RGB", "L", "RGBA"):
            if fmt == "JPEG" and mode == "RGBA":
                continue
            out.append(encode(Image.fromarray(rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)).convert(mode), fmt))
    return out


SEEDS = _seed_files()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corruption it survives
def test_mutated_images_only_ever_raise_request_errors() -> None:
    """Fuzz: flipped/deleted/inserted bytes and cuts of valid files decode or give a 4xx, never crash."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    edit = st.tuples(st.sampled_from(["flip", "cut", "delete", "insert"]), st.floats(0, 1), st.binary(min_size=1, max_size=8))

    @settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(SEEDS) - 1), st.lists(edit, min_size=1, max_size=5))
    def check(seed: int, edits: list[tuple[str, float, bytes]]) -> None:
        data = bytearray(SEEDS[seed])
        for op, where, payload in edits:
            pos = int(where * (len(data) - 1)) if data else 0
            if op == "flip" and data:
                data[pos] ^= payload[0] or 1
            elif op == "cut":
                data = data[:pos]
            elif op == "delete":
                del data[pos : pos + len(payload) * 4]
            else:
                data[pos:pos] = payload
        try:
            up = decode_upload(bytes(data), Limits(max_pixels=10**6))
        except RequestError as err:
            assert 400 <= err.status < 500 and err.message
        else:
            assert up.rgb.dtype == np.float32 and up.rgb.ndim == 3 and up.rgb.shape[2] == 3

    check()
