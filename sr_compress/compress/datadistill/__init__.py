"""Dataset distillation for SR: turn an HR folder into a tiny training set.

Methods (registry in :mod:`.base`, built-ins in :mod:`.builtin`), each with its own config section:
``gsdd`` (latent distribution matching in a patch VAE), ``d4m`` (decoded latent k-means prototypes),
``pixel_dm`` (teacher-relabelled pixel-space DM), ``feature_medoids`` (feature-medoid coreset),
``random`` and ``kcenter`` (selection baselines). ``prototypes`` is a deprecated alias of
``feature_medoids``.
"""

from .base import DatasetDistiller, get_distiller, list_distillers, register_distiller
from .config import DataDistillConfig
from .loading import load_datadistill_config
from .output import read_manifest
from .run import run_data_distillation

__all__ = [
    "DataDistillConfig",
    "DatasetDistiller",
    "get_distiller",
    "list_distillers",
    "load_datadistill_config",
    "read_manifest",
    "register_distiller",
    "run_data_distillation",
]
