"""NIQE: finite on a natural-looking image, sharp < blurred, clear error without params."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from sr_compress.errors import UserInputError
from sr_compress.metrics import niqe as niqe_mod


def _params(tmp_path):
    # A self-made pristine model: mean/cov of the features of a sharp synthetic image. The
    # real BasicSR file is exercised in the integration tests (it lives in the shared data).
    rng = np.random.default_rng(0)
    ax = np.linspace(-1, 1, 7)
    win = np.exp(-(ax[:, None] ** 2 + ax[None] ** 2) / (2 * (7 / 6 / 3) ** 2))
    win /= win.sum()
    img = _sharp(rng)
    mu = np.zeros((1, 36))
    cov = np.eye(36)
    path = tmp_path / "p.npz"
    np.savez(path, mu_pris_param=mu, cov_pris_param=cov, gaussian_window=win)
    # calibrate mu to the sharp image itself, so a sharp image scores ~lower
    params = niqe_mod.load_params.__wrapped__(str(path))
    d = _feature_mean(img, params)
    np.savez(path, mu_pris_param=d[None], cov_pris_param=cov, gaussian_window=win)
    return path


def _feature_mean(img: np.ndarray, params) -> np.ndarray:
    mu_p, cov_p, win = params
    from scipy.ndimage import convolve

    mu = convolve(img, win, mode="nearest")
    sigma = np.sqrt(np.abs(convolve(img**2, win, mode="nearest") - mu**2))
    norm = (img - mu) / (sigma + 1)
    f1 = np.mean([niqe_mod._features(norm[i:i + 96, j:j + 96]) for i in (0, 96) for j in (0, 96)], axis=0)
    return np.concatenate([f1, f1])


def _sharp(rng: np.random.Generator) -> np.ndarray:
    return np.clip(rng.normal(128, 40, (192, 192)), 0, 255).round()


def test_niqe_finite_and_sharp_better_than_blurred(tmp_path) -> None:
    path = _params(tmp_path)
    rng = np.random.default_rng(1)
    sharp = _sharp(rng)
    blurred = gaussian_filter(sharp, 2.0)
    rgb = np.repeat(sharp[..., None], 3, axis=-1).astype(np.uint8)
    rgb_b = np.repeat(blurred[..., None], 3, axis=-1).astype(np.uint8)
    s = niqe_mod.calculate_niqe(rgb, params_path=path)
    b = niqe_mod.calculate_niqe(rgb_b, params_path=path)
    assert np.isfinite(s) and np.isfinite(b)
    assert s < b


def test_niqe_missing_params_is_clear(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(niqe_mod.ENV_VAR, raising=False)
    with pytest.raises(UserInputError, match="--niqe-params"):
        niqe_mod.calculate_niqe(np.zeros((200, 200, 3), np.uint8))
    with pytest.raises(UserInputError, match="not found"):
        niqe_mod.calculate_niqe(np.zeros((200, 200, 3), np.uint8), params_path=tmp_path / "nope.npz")


def test_niqe_too_small(tmp_path) -> None:
    path = _params(tmp_path)
    with pytest.raises(UserInputError, match="at least"):
        niqe_mod.calculate_niqe(np.zeros((50, 50, 3), np.uint8), params_path=path)
