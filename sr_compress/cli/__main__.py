"""``python -m sr_compress.cli``: the same as the ``sr-compress`` console script (what
``accelerate launch -m sr_compress.cli`` and ``torchrun -m sr_compress.cli`` run)."""

from . import main

main()
