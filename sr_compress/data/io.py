"""Image I/O at the library's edge.

Inside the library images are float32 NCHW RGB in [0, 1]. Reading converts every input the
same documented way:

* gray (L, I;16, I) → RGB by replicating the channel;
* palette (P) → RGB(A) through its palette;
* RGBA / LA → RGB plus a separate alpha plane (returned, never blended in);
* 16-bit PNG → scaled by 1/65535 (full precision kept in float);
* CMYK / YCbCr / LAB → RGB through Pillow's conversion;
* EXIF orientation is applied, so pixels come out the way viewers show them.
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


@dataclass
class DecodedImage:
    rgb: np.ndarray  # float32 HWC [0, 1], 3 channels
    alpha: np.ndarray | None  # float32 HW [0, 1] or None
    bit_depth: int  # 8 or 16
    mode: str  # the original Pillow mode, for reports


def _decode(img: Image.Image) -> DecodedImage:
    img = ImageOps.exif_transpose(img)
    mode = img.mode
    bit_depth = 8
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        bit_depth = 16
        rgb = np.repeat((arr / 65535.0)[..., None], 3, axis=2)
        return DecodedImage(rgb.clip(0, 1).astype(np.float32), None, bit_depth, mode)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        return DecodedImage(np.repeat(arr[..., None].clip(0, 1), 3, axis=2), None, 32, mode)
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return DecodedImage(rgba[..., :3].copy(), rgba[..., 3].copy(), bit_depth, mode)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return DecodedImage(np.asarray(img, dtype=np.float32) / 255.0, None, bit_depth, mode)


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise UserInputError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
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


def _try_16bit_png(path: Path) -> np.ndarray | None:
    """Pillow reads 16-bit RGB(A) PNGs as 8-bit; OpenCV keeps all 16 bits.

    Only 16-bit PNGs (checked in the header) are decoded a second time, so ordinary 8-bit images
    cost one decode.
    """
    try:
        with open(path, "rb") as fh:
            if not _png_is_16bit(fh.read(26)):
                return None
        import cv2
    except (ImportError, OSError):
        return None
    return _from_cv2_16bit(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))


def _with_16bit(decoded: DecodedImage, hi: np.ndarray | None) -> DecodedImage:
    if hi is None or decoded.bit_depth != 8:
        return decoded
    alpha = hi[..., 3].copy() if hi.shape[2] == 4 else None
    return DecodedImage(hi[..., :3].copy(), alpha, 16, decoded.mode)


def decode_image(path: str | Path) -> DecodedImage:
    """Read any supported image file (see module docstring for the conversions)."""
    p = Path(path)
    img = _open(p)
    decoded = _decode(img)
    if decoded.bit_depth == 8 and img.format == "PNG":
        decoded = _with_16bit(decoded, _try_16bit_png(p))
    return decoded


def decode_bytes(data: bytes) -> DecodedImage:
    """Decode an in-memory image (used by the server)."""
    try:
        img = Image.open(_io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UserInputError(f"not a readable image ({err})") from None
    decoded = _decode(img)
    if decoded.bit_depth == 8 and _png_is_16bit(data[:26]):
        try:
            import cv2
        except ImportError:
            return decoded
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        decoded = _with_16bit(decoded, _from_cv2_16bit(arr))
    return decoded


def read_image(path: str | Path) -> torch.Tensor:
    """Read an image as a float32 (3, H, W) RGB tensor in [0, 1] (alpha dropped)."""
    return torch.from_numpy(decode_image(path).rgb).permute(2, 0, 1).contiguous()


def read_uint8(path: str | Path) -> np.ndarray:
    """Read an image as uint8 HWC RGB (the form the metrics and benchmark LR files use)."""
    rgb = decode_image(path).rgb
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """float [0, 1] CHW tensor/array (or NCHW with N=1) → uint8 HWC, rounded like MATLAB."""
    if isinstance(img, torch.Tensor):
        img = img.detach().float().cpu().numpy()
    if img.ndim == 4:
        if img.shape[0] != 1:
            raise ValueError("to_uint8 takes one image")
        img = img[0]
    hwc = np.transpose(img, (1, 2, 0))
    return np.clip(np.round(hwc * 255.0), 0, 255).astype(np.uint8)


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
