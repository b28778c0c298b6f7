"""Synthetic degradations (Real-ESRGAN second-order pipeline, fixed target, resize, bicubic): the names
everything imports from here. The implementation is one module per job: ``blur_kernels``,
``degrade_ops``, ``degrade_pipelines`` (the pipeline and its description), ``degraded_datasets``.
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
