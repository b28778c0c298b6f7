"""Dataset distillation for SR: turn an HR folder into a tiny training set.

Methods (registry in :mod:`.base`, built-ins in :mod:`.builtin`): ``gsdd`` (generative-space distribution matching),
``prototypes`` (D4M-style cluster prototypes), ``random`` and ``kcenter`` (selection baselines).
"""

from .base import DatasetDistiller, get_distiller, list_distillers, register_distiller
from .config import DataDistillConfig
from .output import read_manifest
from .run import run_data_distillation

__all__ = [
    "DataDistillConfig",
    "DatasetDistiller",
    "get_distiller",
    "list_distillers",
    "read_manifest",
    "register_distiller",
    "run_data_distillation",
]
