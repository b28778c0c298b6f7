"""PSNR and SSIM under the standard SR protocol.

Protocol (matches MATLAB evaluation scripts and BasicSR's ``calculate_psnr/ssim`` with
``test_y_channel=True``):

* both images are uint8 (the SR output is rounded to uint8 first, as if saved to PNG);
* Y channel of ITU-R BT.601 limited range ("studio swing", 16–235), as MATLAB ``rgb2ycbcr``:
  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in [0, 255]; Y is kept as a
  float (not re-rounded), as BasicSR does;
* ``crop_border = scale`` pixels removed on every side before the metric;
* PSNR with peak 255; SSIM as Wang et al. / MATLAB ``ssim_index``: Gaussian 11×11 window,
  σ = 1.5, K1 = 0.01, K2 = 0.03, 'valid' filtering, mean of the SSIM map.

RGB variants are available (``y_channel=False``). ``y_round=True`` rounds Y to integers first, as
MATLAB's ``rgb2ycbcr`` does for uint8 input (the convention of the EDSR/RCAN MATLAB evaluation
scripts); the default keeps float Y like BasicSR. On Set5 the two differ by <= 0.04 dB (see
docs/evaluation.md). :data:`PROTOCOL` is recorded in every report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import correlate

PROTOCOL_DESCRIPTION = (
    "PSNR/SSIM on Y (ITU-R BT.601, 16-235), crop_border=scale, uint8 rounding before the metric, "
    "SSIM Gaussian 11x11 sigma 1.5"
)


@dataclass(frozen=True)
class Protocol:
    y_channel: bool = True
    crop_border: int | None = None  # None → the scale
    round_uint8: bool = True
    ssim_window: int = 11
    ssim_sigma: float = 1.5
    y_round: bool = False  # True: Y rounded to integers like MATLAB rgb2ycbcr on uint8

    def as_dict(self, scale: int | None = None) -> dict:
        d = asdict(self)
        if d["crop_border"] is None and scale is not None:
            d["crop_border"] = scale
        d["description"] = self.describe(scale)
        return d

    def describe(self, scale: int | None = None) -> str:
        """One line for reports; names the crop in pixels when ``scale`` is given."""
        colour = "Y (ITU-R BT.601, 16-235" + (", rounded" if self.y_round else "") + ")" if self.y_channel else "RGB"
        if self.crop_border is not None:
            crop = str(self.crop_border)
        else:
            crop = "scale" if scale is None else str(scale)
        rnd = "uint8 rounding before the metric" if self.round_uint8 else "no rounding"
        return (
            f"PSNR/SSIM on {colour}, crop_border={crop}, {rnd}, "
            f"SSIM Gaussian {self.ssim_window}x{self.ssim_window} sigma {self.ssim_sigma}"
        )


PROTOCOL = Protocol()


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """uint8/float HWC RGB with values in [0, 255] → float64 Y in [16, 235]."""
    x = img.astype(np.float64)
    return 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0


def _prepare(img: np.ndarray, crop_border: int, y_channel: bool, y_round: bool = False) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if y_channel:
        x = rgb_to_y(img)
        if y_round:
            x = np.round(x)
    else:
        x = img.astype(np.float64)
    if crop_border:
        x = x[crop_border:-crop_border, crop_border:-crop_border, ...]
    return x


def _check(sr: np.ndarray, hr: np.ndarray) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"image shapes differ: {sr.shape} vs {hr.shape}")
    if sr.dtype != np.uint8 or hr.dtype != np.uint8:
        raise TypeError("metrics take uint8 HWC images (round SR outputs with data.io.to_uint8)")


def psnr(
    sr: np.ndarray, hr: np.ndarray, crop_border: int = 0, y_channel: bool = True, y_round: bool = False
) -> float:
    """PSNR in dB between two uint8 HWC RGB images. ``inf`` for identical images."""
    _check(sr, hr)
    a = _prepare(sr, crop_border, y_channel, y_round)
    b = _prepare(hr, crop_border, y_channel, y_round)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(ax**2) / (2 * sigma**2))
    w = np.outer(g, g)
    return w / w.sum()


def _ssim_plane(a: np.ndarray, b: np.ndarray, window: np.ndarray) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    half = window.shape[0] // 2
    if min(a.shape[:2]) < window.shape[0]:
        raise ValueError(
            f"SSIM needs images of at least {window.shape[0]}x{window.shape[0]} pixels after the border "
            f"crop, got {a.shape[1]}x{a.shape[0]}"
        )

    def filt(x: np.ndarray) -> np.ndarray:
        out = correlate(x, window, mode="constant")
        return out[half : out.shape[0] - half, half : out.shape[1] - half]  # 'valid' region

    mu_a, mu_b = filt(a), filt(b)
    mu_a2, mu_b2, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    s_a = filt(a * a) - mu_a2
    s_b = filt(b * b) - mu_b2
    s_ab = filt(a * b) - mu_ab
    ssim_map = ((2 * mu_ab + c1) * (2 * s_ab + c2)) / ((mu_a2 + mu_b2 + c1) * (s_a + s_b + c2))
    return float(ssim_map.mean())


def ssim(
    sr: np.ndarray,
    hr: np.ndarray,
    crop_border: int = 0,
    y_channel: bool = True,
    window_size: int = 11,
    sigma: float = 1.5,
    y_round: bool = False,
) -> float:
    """MATLAB-style SSIM between two uint8 HWC RGB images (mean over channels for RGB)."""
    _check(sr, hr)
    a = _prepare(sr, crop_border, y_channel, y_round)
    b = _prepare(hr, crop_border, y_channel, y_round)
    window = _gaussian_window(window_size, sigma)
    if a.ndim == 2:
        return _ssim_plane(a, b, window)
    return float(np.mean([_ssim_plane(a[..., c], b[..., c], window) for c in range(a.shape[2])]))


def evaluate_pair(sr: np.ndarray, hr: np.ndarray, scale: int, protocol: Protocol = PROTOCOL) -> dict[str, float]:
    """PSNR and SSIM of one SR/HR uint8 pair under ``protocol``."""
    crop = scale if protocol.crop_border is None else protocol.crop_border
    return {
        "psnr": psnr(sr, hr, crop, protocol.y_channel, protocol.y_round),
        "ssim": ssim(sr, hr, crop, protocol.y_channel, protocol.ssim_window, protocol.ssim_sigma,
                     protocol.y_round),
    }
