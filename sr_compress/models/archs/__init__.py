"""One module per architecture family; importing this package registers them all."""

from . import bsrn, carn, edsr, fmen, imdn, imdn_rt, pan, rfdn, rlfn, rrdbnet, srvgg  # noqa: F401
