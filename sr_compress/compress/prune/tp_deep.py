"""Make torch-pruning's channel inference usable on deep residual networks (Real-ESRGAN x4plus).

torch-pruning 1.6 finds a tensor's channel count by walking the traced graph back (or forward) to
the nearest layer that states it, with no memoisation and a shared 500-visit budget. Through
RRDBNet's nested residuals (``x5 * 0.2 + x`` inside ``RDB``, again inside ``RRDB``) every block
doubles the number of paths, so with x4plus's 23 blocks the walk for the input of an ``RDB``'s
``torch.cat`` runs out of budget and returns None, and graph construction fails with
``TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'`` (raising the budget alone
makes it exponential). Remembering each node's answer for the duration of one index-mapping
update (channel counts do not change within it) makes the walk linear in the graph size.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def memoised_channel_inference(budget: int = 1_000_000, stack: int = 20_000) -> Iterator[None]:
    """Within the block, torch-pruning's recursive channel inference is memoised per index-mapping
    update, its visit budget is ``budget`` and Python's recursion limit at least ``stack``."""
    from torch_pruning.dependency import constants, index_mapping, shape_infer  # type: ignore[import-untyped]

    memo: dict[tuple[str, int, int], Any] = {}
    saved = {name: getattr(shape_infer, name) for name in ("infer_out_channels_recursively",
                                                           "infer_in_channels_recursively")}
    saved_update, saved_init = index_mapping.update_index_mapping, shape_infer.init_shape_information
    saved_budget, saved_stack = constants.MAX_RECURSION_DEPTH, sys.getrecursionlimit()

    def remembered(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(graph: Any, node: Any, recursive_depth: list[int]) -> Any:
            key = (name, id(graph), id(node))
            if key not in memo:
                memo[key] = fn(graph, node, recursive_depth)
            return memo[key]
        return inner

    def fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(graph: Any) -> Any:
            memo.clear()  # widths may have changed since the last update (pruning in between)
            try:
                return fn(graph)
            finally:
                memo.clear()
        return inner

    try:
        for name, fn in saved.items():
            setattr(shape_infer, name, remembered(name, fn))
        index_mapping.update_index_mapping = fresh(saved_update)
        shape_infer.init_shape_information = fresh(saved_init)
        constants.MAX_RECURSION_DEPTH = budget
        sys.setrecursionlimit(max(stack, saved_stack))
        yield
    finally:
        for name, fn in saved.items():
            setattr(shape_infer, name, fn)
        index_mapping.update_index_mapping, shape_infer.init_shape_information = saved_update, saved_init
        constants.MAX_RECURSION_DEPTH = saved_budget
        sys.setrecursionlimit(saved_stack)
