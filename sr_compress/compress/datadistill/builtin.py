"""The built-in dataset distillers: importing this module registers each of them.

Adding a distiller = one file ``compress/datadistill/<name>.py`` with a ``@register_distiller``
:class:`~sr_compress.compress.datadistill.common.DatasetDistiller` subclass + one line below.
The registry (``datadistill/common.py``) reads this module lazily, so no import cycle.
"""

from . import (  # noqa: F401  (imported for their @register_distiller side effect)
    coreset,  # random, kcenter
    gsdd,
    prototypes,
)
