"""Image I/O at the library's edge — the ONE decode/encode path of ``sr-serve`` and ``upscale``.

Inside the library images are float32 NCHW RGB in [0, 1]. Reading converts every input the
same documented way:

* gray (L, I;16, I, F) → RGB by replicating the channel (``DecodedImage.gray`` remembers it, and
  :func:`encode_image` writes one plane back: BT.601 luma of the network's RGB);
* palette (P) → RGB(A) through its palette;
* RGBA / LA → RGB plus a separate alpha plane (returned, never blended in; resized on its own
  with :func:`resize_alpha`, bicubic, as Real-ESRGAN's CLI does);
* 16-bit PNG → scaled by 1/65535 (full precision kept in float; Pillow reduces 16-bit colour PNGs
  to 8 bits, so those are decoded by OpenCV);
* 32-bit int ("I") and float ("F") TIFFs → divided by the smallest of 1 (F only), 255 (F only),
  65535 that holds the image's maximum, else by the maximum itself (never saturated);
* CMYK / YCbCr / LAB → RGB through Pillow's conversion;
* EXIF orientation is applied, so pixels come out the way viewers show them;
* an embedded ICC profile is kept (pixels are not converted) and embedded again on output when it
  describes the output's colour space (RGB or gray), so viewers show the result in the same colours.
"""

from __future__ import annotations

import io as _io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UserInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
# modes whose pixels are one plane: the result is written back as one plane
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
OUTPUT_FORMATS = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg", "jpg": "image/jpeg"}

# magic bytes -> Pillow format name: a file that starts like an image but does not open is corrupt
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)


@dataclass
class DecodedImage:
    rgb: np.ndarray  # float32 HWC [0, 1], 3 channels
    alpha: np.ndarray | None  # float32 HW [0, 1] or None
    bit_depth: int  # 8, 16 or 32 (float/int32 TIFF)
    mode: str  # the original Pillow mode (gray detection, reports)
    format: str | None = None  # Pillow's format name (PNG, JPEG, ...)
    icc_profile: bytes | None = None

    @property
    def gray(self) -> bool:
        return self.mode in GRAY_MODES


def sniff_format(data: bytes) -> str | None:
    """The image format the first bytes announce (PNG/JPEG/BMP/TIFF/GIF/WEBP), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for sig, fmt in _SIGNATURES if data.startswith(sig)), None)


def _normalise_wide(arr: np.ndarray, ranges: tuple[float, ...]) -> np.ndarray:
    """float/int32 planes: divide by the first standard range holding the data, else its maximum."""
    arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(arr.max()) if arr.size else 0.0
    div = next((r for r in ranges if top <= r), top)
    return (arr / max(div, 1e-12)).clip(0, 1).astype(np.float32)


def _icc(img: Image.Image) -> bytes | None:
    icc = img.info.get("icc_profile")
    return icc if isinstance(icc, bytes) and len(icc) >= 20 else None


def decode_pil(img: Image.Image, data: bytes | None = None) -> DecodedImage:
    """Convert a loaded Pillow image (see the module docstring); ``data`` = its file bytes, which
    lets 16-bit colour PNGs keep all 16 bits."""
    fmt, icc = img.format, _icc(img)
    rotated = img.getexif().get(0x0112, 1) not in (0, 1)
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        ranges = (65535.0,)
        plane = _normalise_wide(np.asarray(img), ranges)
        return DecodedImage(np.repeat(plane[..., None], 3, axis=2), None, 16, mode, fmt, icc)
    if img.mode == "F":
        plane = _normalise_wide(np.asarray(img, dtype=np.float32), (1.0, 255.0, 65535.0))
        return DecodedImage(np.repeat(plane[..., None], 3, axis=2), None, 32, mode, fmt, icc)
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        decoded = DecodedImage(rgba[..., :3].copy(), rgba[..., 3].copy(), 8, mode, fmt, icc)
    else:
        if img.mode != "RGB":
            img = img.convert("RGB")
        decoded = DecodedImage(np.asarray(img, dtype=np.float32) / 255.0, None, 8, mode, fmt, icc)
    # OpenCV's IMREAD_UNCHANGED ignores EXIF orientation: rotated 16-bit PNGs keep Pillow's 8 bits
    if data is not None and not rotated and _png_is_16bit(data[:26]):
        decoded = _with_16bit(decoded, _cv2_16bit(data))
    return decoded


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise UserInputError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise UserInputError(f"{path}: not a readable image ({err}); re-export it as PNG") from None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_is_16bit(head: bytes) -> bool:
    """True for a PNG whose IHDR says 16 bits per sample (byte 24 of the file)."""
    return len(head) >= 26 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and head[24] == 16


def _from_cv2_16bit(arr: np.ndarray | None) -> np.ndarray | None:
    """OpenCV's uint16 BGR(A)/gray+alpha array -> float32 RGB(A) in [0, 1]; None if not 16-bit colour."""
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        return None
    c = arr.shape[2]
    if c == 2:  # gray + alpha
        arr = arr[..., [0, 0, 0, 1]]
    elif c in (3, 4):
        arr = arr[..., [2, 1, 0, 3][:c]]
    else:
        return None
    return arr.astype(np.float32) / 65535.0


def _cv2_16bit(data: bytes) -> np.ndarray | None:
    try:
        import cv2
    except ImportError:  # pragma: no cover - opencv is a dependency
        return None
    return _from_cv2_16bit(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))


def _with_16bit(decoded: DecodedImage, hi: np.ndarray | None) -> DecodedImage:
    if hi is None or decoded.bit_depth != 8 or hi.shape[:2] != decoded.rgb.shape[:2]:
        return decoded
    alpha = hi[..., 3].copy() if hi.shape[2] == 4 else None
    return DecodedImage(hi[..., :3].copy(), alpha, 16, decoded.mode, decoded.format, decoded.icc_profile)


def decode_image(path: str | Path) -> DecodedImage:
    """Read any supported image file (see module docstring for the conversions)."""
    p = Path(path)
    img = _open(p)
    data = None
    if img.format == "PNG":
        try:
            with open(p, "rb") as fh:
                head = fh.read(26)
                data = head + fh.read() if _png_is_16bit(head) else None
        except OSError:
            data = None
    return decode_pil(img, data)


def decode_bytes(data: bytes, name: str = "image") -> DecodedImage:
    """Decode an in-memory image; errors name it ``name``."""
    try:
        img = Image.open(_io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        raise UserInputError(f"{name}: not a readable image ({err})") from None
    return decode_pil(img, data)


def read_image(path: str | Path) -> torch.Tensor:
    """Read an image as a float32 (3, H, W) RGB tensor in [0, 1] (alpha dropped)."""
    return torch.from_numpy(decode_image(path).rgb).permute(2, 0, 1).contiguous()


def read_uint8(path: str | Path) -> np.ndarray:
    """Read an image as uint8 HWC RGB (the form the metrics and benchmark LR files use)."""
    return round_uint8(decode_image(path).rgb)


def round_uint8(x: np.ndarray) -> np.ndarray:
    """The protocol's float → uint8 step for an array in [0, 1] of any layout (x 255, round, clip):
    the one copy, which ``to_uint8`` (CHW) and every other caller share."""
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """float [0, 1] CHW tensor/array (or NCHW with N=1) → uint8 HWC, rounded like MATLAB."""
    if isinstance(img, torch.Tensor):
        img = img.detach().float().cpu().numpy()
    if img.ndim == 4:
        if img.shape[0] != 1:
            raise ValueError("to_uint8 takes one image")
        img = img[0]
    return round_uint8(np.transpose(img, (1, 2, 0)))


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HWC → float32 (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0).contiguous()


def write_image(path: str | Path, img: torch.Tensor | np.ndarray) -> None:
    """Write a float [0, 1] CHW tensor/array or a uint8 HWC array."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arr = img if isinstance(img, np.ndarray) and img.dtype == np.uint8 else to_uint8(img)
    Image.fromarray(arr).save(p)


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (not recursive), sorted by name."""
    p = Path(folder)
    if not p.is_dir():
        raise UserInputError(f"image folder not found: {p}")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise UserInputError(f"{p}: no images found (supported: {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


# -- encoding: the other half of the shared path (server responses, upscale outputs) ----------
def resize_alpha(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an alpha plane to ``height x width``: bicubic (what Real-ESRGAN's CLI offers too);
    alpha is not an image the network knows."""
    img = Image.fromarray(np.ascontiguousarray(alpha, dtype=np.float32))  # mode F
    return np.asarray(img.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32).clip(0, 1)


def _quantize(x: np.ndarray, bits: int) -> np.ndarray:
    if bits == 16:
        return np.clip(np.round(x * 65535.0), 0, 65535).astype(np.uint16)
    return round_uint8(x)


def _icc_for(icc: bytes | None, gray: bool) -> bytes | None:
    """The profile only when its colour space (header bytes 16-20) is the output's."""
    if icc is None:
        return None
    return icc if icc[16:20] == (b"GRAY" if gray else b"RGB ") else None


def _with_iccp(png: bytes, icc: bytes | None) -> bytes:
    """Insert an iCCP chunk right after IHDR (OpenCV cannot embed a profile itself)."""
    if icc is None or not png.startswith(_PNG_SIGNATURE):
        return png
    import struct
    import zlib

    body = b"ICC profile\x00\x00" + zlib.compress(icc)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body) & 0xFFFFFFFF)
    end_ihdr = 8 + 8 + 13 + 4
    return png[:end_ihdr] + chunk + png[end_ihdr:]


def _encode_16bit(arr: np.ndarray, icc: bytes | None) -> bytes:
    if arr.shape[-1] == 1:
        buf = _io.BytesIO()
        Image.fromarray(np.ascontiguousarray(arr[..., 0])).save(buf, format="PNG")  # mode I;16
        return _with_iccp(buf.getvalue(), icc)
    import cv2

    order = [2, 1, 0, 3][: arr.shape[-1]] if arr.shape[-1] in (3, 4) else [0, 0, 0, 1]
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(arr[..., order]))
    if not ok:
        raise RuntimeError("OpenCV failed to encode a 16-bit PNG")
    return _with_iccp(enc.tobytes(), icc)


def encode_image(
    rgb: np.ndarray,
    fmt: str = "png",
    *,
    alpha: np.ndarray | None = None,
    gray: bool = False,
    bit_depth: int = 8,
    icc_profile: bytes | None = None,
    quality: int = 95,
    compress_level: int = 1,
) -> bytes:
    """float HWC RGB [0, 1] (+ alpha HW of the same size) → encoded bytes of ``fmt``.

    Keeps what the source had where the format allows: gray → one plane (BT.601 luma of the RGB the
    network produced), alpha (not in JPEG), >8-bit → 16-bit PNG (WEBP/JPEG are 8-bit), ICC profile.
    ``compress_level=1`` favours speed over size (callers can recompress).
    """
    fmt = fmt.lower()
    if fmt not in OUTPUT_FORMATS:
        raise UserInputError(f"output format {fmt!r} is not supported; use png, webp or jpg")
    if fmt in ("jpeg", "jpg"):
        alpha = None  # JPEG has no alpha channel
    bits = 16 if (bit_depth > 8 and fmt == "png") else 8
    if gray:
        plane = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
        chans = [plane] if alpha is None else [plane, alpha]
    else:
        chans = [rgb[..., i] for i in range(3)] + ([alpha] if alpha is not None else [])
    arr = _quantize(np.stack(chans, axis=-1), bits)
    if bits == 16:
        return _encode_16bit(arr, _icc_for(icc_profile, gray))
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr.shape[-1]]
    img = Image.fromarray(np.ascontiguousarray(arr[..., 0] if mode == "L" else arr))  # mode from the shape
    extra: dict[str, object] = {}
    icc = _icc_for(icc_profile, gray)
    if fmt == "webp" and mode in ("L", "LA"):
        img = img.convert("RGBA" if mode == "LA" else "RGB")
        icc = _icc_for(icc_profile, False)
    if icc is not None:
        extra["icc_profile"] = icc
    buf = _io.BytesIO()
    if fmt == "png":
        img.save(buf, format="PNG", compress_level=compress_level, **extra)
    elif fmt == "webp":
        img.save(buf, format="WEBP", quality=quality, **extra)
    else:
        img.save(buf, format="JPEG", quality=quality, **extra)
    return buf.getvalue()


def encode_decoded(sr_chw: np.ndarray, source: DecodedImage, fmt: str = "png", quality: int = 95) -> bytes:
    """Encode the (3, H, W) SR of ``source``: its alpha resized to the SR size, gray/bits/ICC kept."""
    rgb = np.transpose(sr_chw, (1, 2, 0))
    h, w = rgb.shape[:2]
    alpha = resize_alpha(source.alpha, h, w) if source.alpha is not None else None
    return encode_image(rgb, fmt, alpha=alpha, gray=source.gray, bit_depth=source.bit_depth,
                        icc_profile=source.icc_profile, quality=quality)
