"""Dataset distillation for SR: turn an HR folder into a tiny training set.

Methods (registry in :mod:`.common`): ``gsdd`` (generative-space distribution matching),
``prototypes`` (D4M-style cluster prototypes), ``random`` and ``kcenter`` (selection baselines).
"""

from .common import (
    DataDistillConfig,
    DatasetDistiller,
    get_distiller,
    list_distillers,
    read_manifest,
    register_distiller,
    run_data_distillation,
)

__all__ = [
    "DataDistillConfig",
    "DatasetDistiller",
    "get_distiller",
    "list_distillers",
    "read_manifest",
    "register_distiller",
    "run_data_distillation",
]
