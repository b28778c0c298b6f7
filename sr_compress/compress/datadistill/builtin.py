"""The built-in dataset distillers: importing this module registers each of them.

Adding a distiller = one file ``compress/datadistill/<name>.py`` with a ``@register_distiller``
:class:`~sr_compress.compress.datadistill.base.DatasetDistiller` subclass (and, if it has keys of
its own, a ``config_cls`` dataclass) + one line below. The registry (``datadistill/base.py``)
reads this module lazily, so no import cycle.
"""

from . import (  # noqa: F401  (imported for their @register_distiller side effect)
    coreset,  # random, kcenter
    d4m,
    feature_medoids,
    gsdd,
    pixel_dm,
)
