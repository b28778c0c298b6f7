"""Compatibility facade: dataset distillation's shared machinery now lives in one module per job
(``config``, ``pool``, ``embed``, ``clustering``, ``base``, ``teacher``, ``output``, ``run``,
``training_set``). Existing imports from ``datadistill.common`` keep working.
"""

from __future__ import annotations

from .base import (  # noqa: F401
    DISTILLERS,
    DatasetDistiller,
    DistillContext,
    Distilled,
    get_distiller,
    list_distillers,
    register_distiller,
)
from .clustering import (  # noqa: F401
    allocate,
    kcenter_greedy,
    kmeans,
)
from .config import (  # noqa: F401
    ALIASES,
    IMAGES_DIR,
    MANIFEST,
    RELABEL_DIR,
    DataDistillConfig,
)
from .embed import (  # noqa: F401
    RandomConvEmbed,
    TeacherFeatureEmbed,
    embed_patches,
)
from .loading import (  # noqa: F401
    COMMON_KEYS,
    load_datadistill_config,
)
from .output import (  # noqa: F401
    folder_bytes,
    read_manifest,
    write_output,
    write_relabel,
)
from .pool import (  # noqa: F401
    PatchPool,
    bicubic_psnr,
    build_pool,
    informative_subset,
    source_files,
)
from .run import (  # noqa: F401
    run_data_distillation,
)
from .teacher import (  # noqa: F401
    load_teacher,
    make_embed,
)
from .training_set import (  # noqa: F401
    TeacherLabelDataset,
    distilled_training_set,
    is_distilled_root,
    open_training_set,
)
