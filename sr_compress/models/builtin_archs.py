"""The built-in architecture list: importing this module registers every family we define.

Adding an architecture = one file ``models/archs/<name>.py`` that ends with
``register_arch(ArchSpec(...))`` + one line below. The registry (``models/registry.py``) never
imports this module statically, so an arch module importing the registry is no cycle.
"""

from .archs import (  # noqa: F401  (imported for their register_arch side effect)
    bsrn,
    carn,
    edsr,
    fmen,
    imdn,
    imdn_rt,
    pan,
    rfdn,
    rlfn,
    srvgg,
)
