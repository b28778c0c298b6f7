"""The built-in degradations, registered in the order the CLI lists them."""

from .degradation_registry import DEGRADATIONS
from .degrade_pipelines import (
    BicubicDegradation,
    FixedDegradation,
    RandomResizeDegradation,
    RealESRGANDegradation,
)

DEGRADATIONS.add("realesrgan", RealESRGANDegradation)  # Real-ESRGAN second-order random pipeline
DEGRADATIONS.add("bicubic", BicubicDegradation)  # MATLAB bicubic ↓s
DEGRADATIONS.add("resize", RandomResizeDegradation)  # random bicubic / bilinear / area (PDD's recipes)
DEGRADATIONS.add("fixed", FixedDegradation)  # one deterministic blur → ↓ → noise → JPEG domain
