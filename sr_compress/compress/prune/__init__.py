"""Structured channel pruning of registered architectures (torch-pruning / DepGraph).

``prune_model`` removes whole output channels of convolutions together with every tensor slice
coupled to them (residual adds, concatenations, attention products, splits), so the result is a
smaller dense network of the same architecture. ``record``: how a pruned network is stored
(original hyper-parameters + per-layer widths, safe to load) and rebuilt by ``load_model``.
"""

from ...models.pruned import PRUNED_KEY, apply_record, layer_widths, pruned_record
from .core import PRUNE_NOTES, PruneResult, prune_model

__all__ = ["PRUNED_KEY", "PRUNE_NOTES", "PruneResult", "apply_record", "layer_widths", "prune_model",
           "pruned_record"]
