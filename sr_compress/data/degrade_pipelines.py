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
(``cv2.error: ... Can't parse 'params'``), which is why we never call it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .blur_kernels import anisotropic_gaussian_kernel, random_kernel, sinc_kernel
from .degradation_registry import Degradation
from .degrade_ops import filter2d, gaussian_noise, jpeg, poisson_noise, quantize_uint8, resize
from .imresize import imresize


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
        return quantize_uint8(img)


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
        return quantize_uint8(img)


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
        return quantize_uint8(out)


class BicubicDegradation:
    """MATLAB bicubic ↓s (the classic SR setting), for ``train --degradation bicubic``."""

    def __init__(self, scale: int = 4) -> None:
        self.scale = scale

    def __call__(self, hr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        h, w = hr.shape[-2:]
        return quantize_uint8(imresize(hr[None], size=(h // self.scale, w // self.scale))[0])


def make_pipeline(name: str, scale: int) -> Degradation:
    """A registered degradation by name (``realesrgan`` | ``bicubic`` | ``resize`` | ``fixed``, see
    ``data/builtin_degradations.py``), built for ``scale``."""
    from .degradation_registry import build_degradation

    return build_degradation(name, scale)
