"""Input safety for uploads: size, pixel count, format, and a decoder that never crashes.

Every failure here is a :class:`RequestError` carrying the HTTP status and a message naming the
limit that was hit, so the app can answer with a 4xx JSON body. The pixel limit is checked from
the image header (``Image.open`` reads only the header) before any pixel is decoded, which is
what stops decompression bombs: a 20 kB PNG can declare 50 000 x 50 000 pixels.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

# the library's one image decode (gray/palette/CMYK/alpha/16-bit/EXIF/ICC), shared with upscale
from ..data.io import OUTPUT_FORMATS as OUTPUT_FORMATS  # re-exported for app.py
from ..data.io import DecodedImage, decode_pil, sniff_format
from ..models.registry import SizeRequirements
from ..runtime.tiling import make_plan

# Pillow format name -> the MIME type we advertise
FORMAT_MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
# Content-Type values accepted for a raw body; the bytes are sniffed anyway
ACCEPTED_CONTENT_TYPES = set(FORMAT_MIME.values()) | {
    "image/jpg", "image/x-png", "image/x-ms-bmp", "application/octet-stream",
}


class RequestError(Exception):
    """A client error: ``status`` (4xx/503), machine-readable ``code`` and a one-line message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 20 * 1024 * 1024
    # 2048x1024 covers 1080p; peak memory per request is about 90 bytes per OUTPUT pixel (docs/serve.md)
    max_pixels: int = 2048 * 1024
    # the WORK a request causes, checked from the header too: pixels alone let a 1 x 2 M image through,
    # which padding turns into ~18 000 tiles. Output pixels: max_pixels at x4 by default.
    max_output_pixels: int = 2048 * 1024 * 16
    max_tiles: int | None = None  # per request; None = twice the tiles of a square max_pixels image
    max_aspect: float = 32.0  # longest side / shortest side
    allowed_formats: frozenset[str] = field(default_factory=lambda: frozenset(FORMAT_MIME))

    def describe(self) -> dict[str, object]:
        return {
            "max_upload_bytes": self.max_upload_bytes,
            "max_input_pixels": self.max_pixels,
            "max_output_pixels": self.max_output_pixels,
            "max_tiles": self.max_tiles,
            "max_aspect_ratio": self.max_aspect,
            "input_formats": sorted(self.allowed_formats),
        }

    def tile_budget(self, tile: int | tuple[int, int] | None, overlap: int, req: SizeRequirements) -> int:
        """Tiles one request may cause: ``max_tiles`` or the default derived from ``max_pixels``."""
        if self.max_tiles is not None:
            return self.max_tiles
        side = max(1, math.isqrt(self.max_pixels))
        return 2 * len(make_plan(side, side, tile, overlap if tile is not None else 0, req))


@dataclass
class Upload:
    """A decoded upload: float32 HWC RGB [0, 1] plus what the response must preserve."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    gray: bool
    format: str
    mode: str
    icc_profile: bytes | None = None


def check_content_type(content_type: str | None) -> None:
    """Raw bodies must say they are an image (or opaque bytes); JSON, text, forms are refused."""
    if not content_type:
        return
    base = content_type.split(";", 1)[0].strip().lower()
    if base not in ACCEPTED_CONTENT_TYPES:
        # curl --data-binary labels bodies as a form unless told otherwise: the commonest mistake
        hint = " (curl: add -H 'Content-Type: image/png')" if base == "application/x-www-form-urlencoded" else ""
        raise RequestError(
            415, "unsupported_media_type",
            f"Content-Type {base!r} is not accepted; send the image bytes as image/png, image/jpeg, "
            f"image/webp, image/bmp, image/tiff or application/octet-stream, or as multipart/form-data{hint}",
        )


def check_upload_size(n_bytes: int, limits: Limits) -> None:
    if n_bytes > limits.max_upload_bytes:
        raise RequestError(
            413, "upload_too_large",
            f"upload is {n_bytes} bytes; the limit is max_upload_bytes={limits.max_upload_bytes} "
            "(sr-serve --max-upload-mb)",
        )


def _too_many_pixels(width: int, height: int, limits: Limits) -> RequestError:
    return RequestError(
        413, "too_many_pixels",
        f"image is {width}x{height} = {width * height} pixels; the limit is max_pixels={limits.max_pixels} "
        "(sr-serve --max-pixels)",
    )


def open_checked(data: bytes, limits: Limits) -> Image.Image:
    """Open the header only; enforce format and pixel limits before decoding any pixel."""
    check_upload_size(len(data), limits)
    allowed = ", ".join(sorted(limits.allowed_formats))
    try:
        img = Image.open(io.BytesIO(data), formats=sorted(limits.allowed_formats))
    except Image.DecompressionBombError as err:
        # Pillow's own, larger guard fired inside open(); report our limit, which is the binding one
        raise RequestError(413, "too_many_pixels", f"{err}; the limit is max_pixels={limits.max_pixels}") from None
    except UnidentifiedImageError:
        try:
            fmt = Image.open(io.BytesIO(data)).format
        except Exception:  # noqa: BLE001 - any failure means "not an image we know"
            fmt = None
        if fmt is None and sniff_format(data) in limits.allowed_formats:
            # starts like an allowed format but Pillow's opener gave up (e.g. bad IHDR CRC): corrupt
            raise RequestError(400, "corrupt_image", f"{sniff_format(data)} image header is corrupt") from None
        what = f"{fmt} images are not accepted" if fmt else "the body is not a recognised image"
        raise RequestError(415, "unsupported_format", f"{what}; allowed formats: {allowed}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise RequestError(400, "corrupt_image", f"image header cannot be read ({err})") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise RequestError(400, "corrupt_image", f"image declares an empty size {width}x{height}")
    if width * height > limits.max_pixels:
        raise _too_many_pixels(width, height, limits)
    return img


_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees


def probe_image_size(data: bytes, limits: Limits) -> tuple[int, int]:
    """(width, height) as decoded (EXIF rotation applied) from the header alone: no pixel is decoded."""
    img = open_checked(data, limits)
    width, height = img.size
    try:
        orientation = int(img.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is the decoder's business, not admission's
        orientation = 1
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def check_work(width: int, height: int, scale: int, tile: int | tuple[int, int] | None, overlap: int,
               req: SizeRequirements, limits: Limits, max_tiles: int) -> int:
    """Refuse (413) a request whose work is too large; return its tile count (after padding).

    Called with the header's size BEFORE decoding: aspect ratio, output pixels and the tile count the
    tiler will produce for the padded image (what memory and model time actually scale with).
    """
    short, long_ = min(width, height), max(width, height)
    if long_ > limits.max_aspect * short:
        raise RequestError(
            413, "bad_aspect_ratio",
            f"image is {width}x{height} (aspect {long_ / short:.0f}:1); the limit is max_aspect={limits.max_aspect:g} "
            "(sr-serve --max-aspect)")
    out_px = width * height * scale * scale
    if out_px > limits.max_output_pixels:
        raise RequestError(
            413, "too_many_output_pixels",
            f"x{scale} output would be {width * scale}x{height * scale} = {out_px} pixels; the limit is "
            f"max_output_pixels={limits.max_output_pixels} (sr-serve --max-output-pixels)")
    n = len(make_plan(height, width, tile, overlap if tile is not None else 0, req))
    if n > max_tiles:
        raise RequestError(
            413, "too_many_tiles",
            f"image {width}x{height} needs {n} tiles after padding; the limit is {max_tiles} tiles per request "
            "(sr-serve --max-tiles)")
    return n


def decode_upload(data: bytes, limits: Limits) -> Upload:
    """Decode an upload after :func:`open_checked`; truncated or corrupt data is a 400."""
    img = open_checked(data, limits)
    fmt = img.format or "?"
    try:
        img.load()
        decoded: DecodedImage = decode_pil(img, data)
    except Image.DecompressionBombError as err:
        raise RequestError(413, "too_many_pixels", f"{err}; the limit is max_pixels={limits.max_pixels}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as err:
        raise RequestError(400, "corrupt_image", f"{fmt} image cannot be decoded: {err}") from None
    h, w = decoded.rgb.shape[:2]
    if h * w > limits.max_pixels:  # EXIF rotation keeps the count; this guards odd plugins
        raise _too_many_pixels(w, h, limits)
    rgb = np.ascontiguousarray(decoded.rgb, dtype=np.float32)
    return Upload(rgb, decoded.alpha, decoded.bit_depth, decoded.gray, fmt, decoded.mode, decoded.icc_profile)
