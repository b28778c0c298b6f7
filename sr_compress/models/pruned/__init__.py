"""Pruned networks as loadable models: the per-layer width record a pruned checkpoint carries and
the re-shaping that rebuilds the network from it (``models.load`` calls :func:`apply_record`).

It lives with the models, not with the pruner (``compress/prune``), because loading is a lower
layer than compressing: any command that loads a checkpoint can rebuild a pruned one.
"""

from .record import PRUNED_KEY, apply_record, attach_record, layer_widths, pruned_record

__all__ = ["PRUNED_KEY", "apply_record", "attach_record", "layer_widths", "pruned_record"]
