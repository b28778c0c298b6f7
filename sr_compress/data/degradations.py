"""Synthetic degradations: a Real-ESRGAN-style second-order pipeline and a fixed target degradation.

Written from the Real-ESRGAN paper (Wang et al., ICCVW 2021) and its published option file
(``train_realesrnet_x4plus.yml``); no basicsr dependency. One call degrades one HR image
(float CHW in [0, 1]) with parameters drawn from a ``numpy.random.Generator``, so a dataset that
seeds the generator from ``(seed, index)`` is exactly reproducible whatever the worker layout.

Pipeline (each stage's probabilities/ranges are fields of :class:`RealESRGANConfig`)::

    blur(k1) → random resize → Gaussian/Poisson noise → JPEG
    [with prob second_blur_prob] blur(k2) → random resize → noise → JPEG-or-not, in one of two orders:
        (a) resize to HR/scale + sinc → JPEG      (b) JPEG → resize to HR/scale + sinc
    → clamp, round to uint8 levels

JPEG goes through OpenCV with an INTEGER quality. BasicSR's ``random_add_jpg_compression``
passes a float quality to ``cv2.imencode``; current OpenCV rejects that
(``cv2.error: ... Can't parse 'params'``), which is why we never call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import special

from .imresize import imresize
from .io import to_uint8

__all__ = [
    "RealESRGANConfig",
    "RealESRGANDegradation",
    "FixedDegradation",
    "BicubicDegradation",
    "RandomResizeDegradation",
    "DegradedPairDataset",
    "make_pipeline",
    "random_kernel",
    "sinc_kernel",
    "anisotropic_gaussian_kernel",
    "jpeg",
]


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# primitive ops on one image, float (C, H, W) torch in [0, 1]
# ---------------------------------------------------------------------------------------------
def filter2d(img: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Depth-wise convolution with reflect padding (same size output)."""
    k = torch.as_tensor(kernel, dtype=img.dtype, device=img.device)
    pad = k.shape[-1] // 2
    c = img.shape[0]
    x = F.pad(img[None], (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(x, k.expand(c, 1, *k.shape), groups=c)[0]


def resize(img: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    size = (max(1, size[0]), max(1, size[1]))
    if mode == "area":
        return F.interpolate(img[None], size=size, mode="area")[0]
    return F.interpolate(img[None], size=size, mode=mode, align_corners=False)[0]


def gaussian_noise(img: torch.Tensor, sigma: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    shape = (1, *img.shape[1:]) if gray else img.shape
    noise = torch.randn(shape, generator=gen, dtype=img.dtype) * sigma
    return img + noise.expand_as(img)


def poisson_noise(img: torch.Tensor, scale: float, gray: bool, gen: torch.Generator) -> torch.Tensor:
    if gray:
        ref = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
    else:
        ref = img
    ref = ref.clamp(0, 1)
    q = torch.round(ref * 255)
    vals = len(torch.unique(q))
    vals = 2 ** math.ceil(math.log2(max(vals, 2)))
    out = torch.poisson(ref * vals, generator=gen) / vals
    noise = (out - ref) * scale
    return img + noise.expand_as(img)


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """OpenCV JPEG round trip; ``quality`` must be an int (OpenCV rejects floats)."""
    arr = to_uint8(img)
    ok, buf = cv2.imencode(".jpg", arr[..., ::-1], [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("cv2.imencode failed to write a JPEG")
    raw = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if raw is None:
        raise RuntimeError("cv2.imdecode failed to read back the JPEG it wrote")
    dec = raw[..., ::-1].copy()
    return torch.from_numpy(dec).permute(2, 0, 1).to(img.dtype) / 255.0


def _quantize(img: torch.Tensor) -> torch.Tensor:
    return torch.round(img.clamp(0, 1) * 255.0) / 255.0


# ---------------------------------------------------------------------------------------------
# pipelines
# ---------------------------------------------------------------------------------------------
@dataclass
class RealESRGANConfig:
    """Real-ESRGAN's published x4 defaults."""

    kernel_range: tuple[int, int] = (7, 21)  # odd sizes drawn from this range
    kernel_prob: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # KERNEL_TYPES order
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)  # sigma in 0..255 units
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)
    # second order
    second_blur_prob: float = 0.8
    kernel_prob2: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range2: tuple[float, float] = (0.5, 4.0)
    betap_range2: tuple[float, float] = (1.0, 2.0)
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[int, int] = (30, 95)
    final_sinc_prob: float = 0.8
    modes: tuple[str, ...] = field(default=("area", "bilinear", "bicubic"))


class RealESRGANDegradation:
    """Second-order random degradation; ``__call__(hr, rng) -> lr`` of size ``hr / scale``."""

    def __init__(self, scale: int = 4, cfg: RealESRGANConfig | None = None) -> None:
        self.scale = scale
        self.cfg = cfg or RealESRGANConfig()

    # one "order": blur → resize → noise; JPEG handled by the caller for the second order
    def _kernel(self, rng: np.random.Generator, second: bool) -> np.ndarray:
        c = self.cfg
        size = int(rng.choice(np.arange(c.kernel_range[0], c.kernel_range[1] + 1, 2)))
        if rng.uniform() < (c.sinc_prob2 if second else c.sinc_prob):
            omega = rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi)
            return sinc_kernel(size, omega)
        if second:
            return random_kernel(rng, size, c.kernel_prob2, c.blur_sigma2, c.betag_range2, c.betap_range2)
        return random_kernel(rng, size, c.kernel_prob, c.blur_sigma, c.betag_range, c.betap_range)

    def _resize_noise(
        self, img: torch.Tensor, rng: np.random.Generator, gen: torch.Generator, second: bool, base: tuple[int, int]
    ) -> torch.Tensor:
        c = self.cfg
        probs = c.resize_prob2 if second else c.resize_prob
        rrange = c.resize_range2 if second else c.resize_range
        kind = int(rng.choice(3, p=np.asarray(probs) / np.sum(probs)))
        if kind == 0:
            s = rng.uniform(1.0, rrange[1])
        elif kind == 1:
            s = rng.uniform(rrange[0], 1.0)
        else:
            s = 1.0
        mode = str(rng.choice(c.modes))
        h, w = (base[0], base[1]) if second else img.shape[-2:]
        img = resize(img, (int(h * s), int(w * s)), mode)
        gray = rng.uniform() < (c.gray_noise_prob2 if second else c.gray_noise_prob)
        if rng.uniform() < (c.gaussian_noise_prob2 if second else c.gaussian_noise_prob):
            nr = c.noise_range2 if second else c.noise_range
            img = gaussian_noise(img, rng.uniform(*nr) / 255.0, gray, gen)
        else:
            pr = c.poisson_scale_range2 if second else c.poisson_scale_range
            img = poisson_noise(img, rng.uniform(*pr), gray, gen)
        return img

    def _jpeg(self, img: torch.Tensor, rng: np.random.Generator, second: bool) -> torch.Tensor:
        lo, hi = self.cfg.jpeg_range2 if second else self.cfg.jpeg_range
        return jpeg(img, int(rng.integers(lo, hi + 1)))

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        c = self.cfg
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        h, w = hr.shape[-2:]
        out_hw = (h // self.scale, w // self.scale)
        img = filter2d(hr, self._kernel(rng, second=False))
        img = self._resize_noise(img, rng, gen, second=False, base=out_hw)
        img = self._jpeg(img, rng, second=False)
        if rng.uniform() < c.second_blur_prob:
            img = filter2d(img, self._kernel(rng, second=True))
        # the second resize is relative to the final LR size (official: ori_h / scale * s)
        img = self._resize_noise(img, rng, gen, second=True, base=out_hw)
        sinc = None
        if rng.uniform() < c.final_sinc_prob:
            size = int(rng.choice(np.arange(c.kernel_range[0], c.kernel_range[1] + 1, 2)))
            sinc = sinc_kernel(size, rng.uniform(math.pi / 3, math.pi))
        mode = str(rng.choice(c.modes))
        if rng.uniform() < 0.5:
            img = resize(img, out_hw, mode)
            if sinc is not None:
                img = filter2d(img, sinc)
            img = self._jpeg(img, rng, second=True)
        else:
            img = self._jpeg(img, rng, second=True)
            img = resize(img, out_hw, mode)
            if sinc is not None:
                img = filter2d(img, sinc)
        return _quantize(img)


class FixedDegradation:
    """A deterministic target domain: anisotropic Gaussian blur → bicubic ↓s → noise → JPEG.

    The noise is the only random part; it is drawn from the generator passed in, so a seeded
    generator reproduces the same LR image exactly.
    """

    def __init__(
        self,
        scale: int = 4,
        sigma_x: float = 2.0,
        sigma_y: float = 0.8,
        theta: float = math.pi / 4,
        kernel_size: int = 21,
        noise_sigma: float = 5.0,
        jpeg_quality: int = 70,
    ) -> None:
        self.scale = scale
        self.kernel = anisotropic_gaussian_kernel(kernel_size, sigma_x, sigma_y, theta)
        self.noise_sigma = noise_sigma
        self.jpeg_quality = int(jpeg_quality)

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        h, w = hr.shape[-2:]
        img = filter2d(hr, self.kernel)
        img = imresize(img[None], size=(h // self.scale, w // self.scale))[0]
        if self.noise_sigma > 0:
            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
            img = gaussian_noise(img, self.noise_sigma / 255.0, gray=False, gen=gen)
        if self.jpeg_quality < 100:
            img = jpeg(img, self.jpeg_quality)
        return _quantize(img)


class RandomResizeDegradation:
    """HR → LR by one randomly chosen resize (bicubic / bilinear / area), then quantise.

    This is the synthetic degradation of PDD's official recipes (``RandomResize`` to 48×48 with
    ``resize_opt: [bicubic, bilinear, area]``): the Specialist's supervised branch. As there, the
    resize is ``cv2.resize`` (INTER_CUBIC / INTER_LINEAR / INTER_AREA): bicubic and bilinear are
    not antialiased when downscaling. ``antialias=True`` uses MATLAB bicubic / antialiased
    bilinear instead (what this class did before).
    """

    def __init__(self, scale: int = 4, modes: tuple[str, ...] = ("bicubic", "bilinear", "area"),
                 antialias: bool = False) -> None:
        self.scale = scale
        self.modes = modes
        self.antialias = antialias

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        h, w = hr.shape[-2:]
        mode = str(rng.choice(self.modes))
        size = (h // self.scale, w // self.scale)
        if not self.antialias:
            flags = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}
            img = np.ascontiguousarray(hr.permute(1, 2, 0).numpy(), dtype=np.float32)
            out = torch.from_numpy(cv2.resize(img, size[::-1], interpolation=flags[mode])).permute(2, 0, 1)
        elif mode == "bicubic":  # MATLAB-style (antialiased) bicubic, as BasicSR's imresize does
            out = imresize(hr[None], size=size)[0]
        else:
            out = F.interpolate(hr[None], size=size, mode=mode,
                                **({} if mode == "area" else {"align_corners": False, "antialias": True}))[0]
        return _quantize(out)


class BicubicDegradation:
    """MATLAB bicubic ↓s (the classic SR setting), for ``train --degradation bicubic``."""

    def __init__(self, scale: int = 4) -> None:
        self.scale = scale

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        h, w = hr.shape[-2:]
        return _quantize(imresize(hr[None], size=(h // self.scale, w // self.scale))[0])


def make_pipeline(name: str, scale: int):
    """``realesrgan`` | ``bicubic`` | ``resize`` (random bicubic/bilinear/area) | ``fixed`` (default FixedDegradation)."""
    from ..errors import UserInputError

    if name == "realesrgan":
        return RealESRGANDegradation(scale)
    if name == "bicubic":
        return BicubicDegradation(scale)
    if name == "fixed":
        return FixedDegradation(scale)
    if name == "resize":
        return RandomResizeDegradation(scale)
    raise UserInputError(f"unknown degradation {name!r}: use realesrgan, bicubic, resize or fixed")


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------
def _load_hr(paths: Sequence[str | Path], min_side: int) -> list[np.ndarray]:
    from ..data.io import list_images, read_uint8
    from ..errors import UserInputError

    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(list_images(p))
        elif p.is_file():
            files.append(p)
        else:
            raise UserInputError(f"training data path {p} does not exist: pass an HR image folder")
    imgs = []
    for f in files:
        arr = read_uint8(f)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        arr = arr[..., :3]
        if min(arr.shape[:2]) >= min_side:
            imgs.append(arr)
    if not imgs:
        raise UserInputError(
            f"no usable images (need >= {min_side}px per side) under {', '.join(map(str, paths))}"
        )
    return imgs


def _augment(arr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.uniform() < 0.5:
        arr = arr[:, ::-1]
    if rng.uniform() < 0.5:
        arr = arr[::-1]
    if rng.uniform() < 0.5:
        arr = arr.transpose(1, 0, 2)
    return np.ascontiguousarray(arr)


def _crop(arr: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = arr.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return arr[y : y + size, x : x + size]


class DegradedPairDataset(torch.utils.data.Dataset):
    """HR crops degraded on the fly: ``{"lr": (3,p,p), "hr": (3,p*s,p*s)}`` float [0, 1].

    Item ``i`` is a pure function of ``(seed, i)``; ``length`` sets how many distinct items an
    epoch has (default: 1000 per image), so the sampler rarely sees the same degradation twice.
    """

    def __init__(
        self,
        hr_paths: Sequence[str | Path],
        scale: int,
        patch_size: int,
        pipeline,
        augment: bool = True,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        self.scale = scale
        self.patch = patch_size
        self.pipeline = pipeline
        self.augment = augment
        self.seed = seed
        self.images = _load_hr(hr_paths, patch_size * scale)
        self.length = length or 1000 * len(self.images)

    def __len__(self) -> int:
        return self.length

    def _pair(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        arr = self.images[int(rng.integers(len(self.images)))]
        crop = _crop(arr, self.patch * self.scale, rng)
        if self.augment:
            crop = _augment(crop, rng)
        hr = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0
        lr = self.pipeline(hr, rng)
        return {"lr": lr.float(), "hr": hr}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._pair(np.random.default_rng([self.seed, int(index)]))


class PDDDataset(DegradedPairDataset):
    """Adds ``real_lr`` (3,p,p): an unpaired crop of a real LR image, paired by batch index."""

    def __init__(
        self,
        hr_paths: Sequence[str | Path],
        real_lr_paths: Sequence[str | Path],
        scale: int,
        patch_size: int,
        pipeline,
        augment: bool = True,
        length: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(hr_paths, scale, patch_size, pipeline, augment, length, seed)
        if not real_lr_paths:
            from ..errors import UserInputError

            raise UserInputError("PDD needs unpaired real LR images: pass --real-lr DIR (data.real_lr)")
        self.real = _load_hr(real_lr_paths, patch_size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        item = self._pair(rng)
        real = self.real[int(index) % len(self.real)]
        crop = _crop(real, self.patch, rng)
        if self.augment:
            crop = _augment(crop, rng)
        item["real_lr"] = torch.from_numpy(crop.copy()).permute(2, 0, 1).float() / 255.0
        return item
