"""ncnn model import: parse ``.param``/``.bin`` and run the graph in PyTorch (or as a native architecture)."""

from .graph import NcnnGraphModule, load_ncnn_graph
from .param import NcnnGraph, read_param

__all__ = ["NcnnGraph", "NcnnGraphModule", "load_ncnn_graph", "read_param"]
