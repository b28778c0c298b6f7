"""NIQE (Mittal et al., 2013), a no-reference quality score — lower is better.

A port of BasicSR's ``calculate_niqe`` (itself a port of the MATLAB reference): 96×96 blocks, two
scales (the second by MATLAB bicubic ↓2), 36 AGGD/MSCN features per block, Mahalanobis-like
distance to the pristine-image model. The pristine model (``niqe_pris_params.npz``: mu, cov and
the 7×7 Gaussian window) is BasicSR's file and is NOT shipped in the package: point to it with
``--niqe-params PATH`` or ``$SR_COMPRESS_NIQE_PARAMS``.
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import convolve
from scipy.special import gamma

from ..data.imresize import imresize
from ..errors import UserInputError

ENV_VAR = "SR_COMPRESS_NIQE_PARAMS"

_GAM = np.arange(0.2, 10.001, 0.001)
_R_GAM = np.square(gamma(2.0 / _GAM)) / (gamma(1.0 / _GAM) * gamma(3.0 / _GAM))


def resolve_params_path(path: str | Path | None = None) -> Path:
    """``path``, else ``$SR_COMPRESS_NIQE_PARAMS``; a clear error when neither names a file."""
    cand = path or os.environ.get(ENV_VAR)
    if not cand:
        raise UserInputError(
            f"NIQE needs BasicSR's niqe_pris_params.npz: pass --niqe-params PATH or set ${ENV_VAR} "
            "(e.g. ../shared/data/metrics/niqe/niqe_pris_params.npz)"
        )
    p = Path(cand)
    if not p.is_file():
        raise UserInputError(f"NIQE params file {p} not found: pass --niqe-params PATH to niqe_pris_params.npz")
    return p


@lru_cache(maxsize=4)
def load_params(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        d = np.load(path)
        return d["mu_pris_param"], d["cov_pris_param"], d["gaussian_window"]
    except (KeyError, ValueError, OSError) as err:
        raise UserInputError(f"{path}: not a NIQE params file (need mu_pris_param, cov_pris_param, "
                             f"gaussian_window): {err}") from None


def _aggd(block: np.ndarray) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        # a flat block has no negative (or positive) coefficients: NaN features, dropped in niqe_y
        # (BasicSR's calculate_niqe script silences the same warnings)
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _aggd_raw(block)


def _aggd_raw(block: np.ndarray) -> tuple[float, float, float]:
    block = block.ravel()
    left = np.sqrt(np.mean(block[block < 0] ** 2))
    right = np.sqrt(np.mean(block[block > 0] ** 2))
    gammahat = left / right
    rhat = np.mean(np.abs(block)) ** 2 / np.mean(block**2)
    rhatnorm = (rhat * (gammahat**3 + 1) * (gammahat + 1)) / ((gammahat**2 + 1) ** 2)
    alpha = _GAM[np.argmin((_R_GAM - rhatnorm) ** 2)]
    k = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * k, right * k


def _features(block: np.ndarray) -> list[float]:
    alpha, bl, br = _aggd(block)
    feat = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, bl, br = _aggd(block * np.roll(block, shift, axis=(0, 1)))
        mean = (br - bl) * (gamma(2 / alpha) / gamma(1 / alpha))
        feat.extend([alpha, mean, bl, br])
    return feat


def niqe_y(img: np.ndarray, params: tuple[np.ndarray, np.ndarray, np.ndarray], block: int = 96) -> float:
    """NIQE of a 2D float64 luminance image in [0, 255] (at least 192×192 for a stable estimate)."""
    mu_p, cov_p, window = params
    h, w = img.shape
    nh, nw = h // block, w // block
    if nh < 1 or nw < 1:
        raise UserInputError(f"NIQE needs an image of at least {block}x{block} pixels, got {w}x{h}")
    img = img[: nh * block, : nw * block]
    dist = []
    for scale in (1, 2):
        mu = convolve(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(img**2, window, mode="nearest") - mu**2))
        norm = (img - mu) / (sigma + 1)
        bs = block // scale
        feats = [
            _features(norm[ih * bs : (ih + 1) * bs, iw * bs : (iw + 1) * bs])
            for iw in range(nw)
            for ih in range(nh)
        ]
        dist.append(np.array(feats))
        if scale == 1:
            img = imresize(torch.from_numpy(img / 255.0), scale=0.5).numpy() * 255.0
    d = np.concatenate(dist, axis=1)
    mu_d = np.nanmean(d, axis=0)
    d = d[~np.isnan(d).any(axis=1)]
    cov_d = np.cov(d, rowvar=False)
    inv = np.linalg.pinv((cov_p + cov_d) / 2)
    diff = mu_p - mu_d
    return float(np.sqrt(np.squeeze(diff @ inv @ diff.T)))


def calculate_niqe(img_u8: np.ndarray, crop_border: int = 0, params_path: str | Path | None = None) -> float:
    """NIQE of an RGB (H, W, 3) or gray (H, W) uint8 image on the BT.601 Y channel, like BasicSR."""
    params = load_params(str(resolve_params_path(params_path)))
    img = img_u8.astype(np.float64)
    if img.ndim == 3:
        img = img[..., :3]
        img = 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0
    if crop_border:
        img = img[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_y(np.round(img), params)


__all__ = ["calculate_niqe", "niqe_y", "resolve_params_path", "load_params", "ENV_VAR"]

