"""ncnn model import: parse ``.param``/``.bin`` and run the graph in PyTorch (or as a native architecture).

Entry point: :func:`load_ncnn_model` (``models.load.load_model`` calls it for ``.param`` paths).
Nothing in the files is executed: the ``.param`` is parsed as text, the ``.bin`` as numbers.
"""

from .graph import NcnnGraphModule, load_ncnn_graph
from .load import infer_scale, load_ncnn_model
from .param import NcnnGraph, read_param

__all__ = ["NcnnGraph", "NcnnGraphModule", "infer_scale", "load_ncnn_graph", "load_ncnn_model", "read_param"]
