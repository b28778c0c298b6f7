"""Blur kernels of the Real-ESRGAN degradation model (Gaussian, generalized, plateau, sinc), drawn at random."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import special


def _grid(size: int) -> np.ndarray:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)  # (k, k, 2)


def _inv_cov(sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cov = rot @ np.diag([sig_x**2, sig_y**2]) @ rot.T
    return np.linalg.inv(cov)


def _quad(size: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    g = _grid(size)
    return np.einsum("ijk,kl,ijl->ij", g, _inv_cov(sig_x, sig_y, theta), g)


def anisotropic_gaussian_kernel(size: int, sig_x: float, sig_y: float, theta: float) -> np.ndarray:
    k = np.exp(-0.5 * _quad(size, sig_x, sig_y, theta))
    return k / k.sum()


def generalized_gaussian_kernel(size: int, sig_x: float, sig_y: float, theta: float, beta: float) -> np.ndarray:
    k = np.exp(-0.5 * np.power(_quad(size, sig_x, sig_y, theta), beta))
    return k / k.sum()


def plateau_kernel(size: int, sig_x: float, sig_y: float, theta: float, beta: float) -> np.ndarray:
    k = 1.0 / (np.power(_quad(size, sig_x, sig_y, theta), beta) + 1.0)
    return k / k.sum()


def sinc_kernel(size: int, omega_c: float) -> np.ndarray:
    """2D circular low-pass (ideal filter) kernel with cutoff ``omega_c`` (radians), normalised."""
    g = _grid(size)
    r = np.sqrt((g**2).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * special.j1(omega_c * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = omega_c**2 / (4 * np.pi)
    return k / k.sum()


KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def random_kernel(
    rng: np.random.Generator,
    size: int,
    kernel_prob: Sequence[float],
    sigma_range: tuple[float, float],
    betag_range: tuple[float, float],
    betap_range: tuple[float, float],
) -> np.ndarray:
    """One kernel of a randomly chosen family (Real-ESRGAN's ``random_mixed_kernels``)."""
    kind = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=np.asarray(kernel_prob) / np.sum(kernel_prob)))]
    sx = rng.uniform(*sigma_range)
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, theta = sx, 0.0
    else:
        sy = rng.uniform(*sigma_range)
        theta = rng.uniform(-math.pi, math.pi)
    if kind.startswith("generalized"):
        # half the time a sharper-than-Gaussian shape (beta < 1), as the official sampler does
        beta = rng.uniform(betag_range[0], 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, betag_range[1])
        return generalized_gaussian_kernel(size, sx, sy, theta, beta)
    if kind.startswith("plateau"):
        beta = rng.uniform(betap_range[0], 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, betap_range[1])
        return plateau_kernel(size, sx, sy, theta, beta)
    return anisotropic_gaussian_kernel(size, sx, sy, theta)
