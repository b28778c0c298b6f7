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

from .blur_kernels import (  # noqa: F401
    KERNEL_TYPES,
    anisotropic_gaussian_kernel,
    generalized_gaussian_kernel,
    plateau_kernel,
    random_kernel,
    sinc_kernel,
)
from .degrade_ops import (  # noqa: F401
    filter2d,
    gaussian_noise,
    jpeg,
    poisson_noise,
    resize,
)
from .degrade_pipelines import (  # noqa: F401
    BicubicDegradation,
    FixedDegradation,
    RandomResizeDegradation,
    RealESRGANConfig,
    RealESRGANDegradation,
    make_pipeline,
)
from .degraded_datasets import (  # noqa: F401
    DegradedPairDataset,
    PDDDataset,
)

# the implementation is one module per job (kernels, ops, pipelines, datasets); this module keeps
# the names everything imported from it

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
