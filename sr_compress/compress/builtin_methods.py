"""The built-in distillation methods: importing this module registers each of them.

Adding a method = one file ``compress/methods/<name>.py`` with a ``@register_method``
:class:`~sr_compress.compress.base.DistillMethod` subclass, one line below, and a recipe YAML
under ``configs/distill/``. The registry (``compress/base.py``) reads this module lazily, so the
methods importing ``base`` is no cycle.
"""

from .methods import (  # noqa: F401  (imported for their @register_method side effect)
    datafree,
    dukd,
    kd,
    pdd,
    scratch,
)
