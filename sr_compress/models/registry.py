"""Architecture registry and the ``ModelDescriptor`` every stage passes around.

An :class:`ArchSpec` knows how to recognise its own state dicts (``detect``) and how to build
the module with hyper-parameters read from the key names/shapes (``build``). Loading a
checkpoint (``models/load.py``) walks the registry in priority order; spandrel is the fallback
for architectures we do not define ourselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..registry import Registry

StateDict = Mapping[str, torch.Tensor]


# Detection order. A state dict goes to the first detector (highest ``priority``) that accepts
# it, so the tier says how much a detector's acceptance proves:
SPECIFIC = 100  # requires a key set unique to the family; never matches another family of ours
GENERIC = 0  # accepts a structural pattern (e.g. "only body.N convs"); tried after every SPECIFIC one
# Detectors of the same tier must be disjoint (tests/unit/test_models.py checks it on every
# family's small instance), so within a tier the order is by name and never changes a result.
# The few negative key checks left in detectors (``... not in sd``) hand a near-identical layout
# of a family we do not define to spandrel; they are not about ordering.


@dataclass(frozen=True)
class SizeRequirements:
    """Input size constraints of a network (LR pixels)."""

    minimum: int = 1
    multiple_of: int = 1
    square: bool = False

    def padding_for(self, height: int, width: int) -> tuple[int, int]:
        """(pad_bottom, pad_right) that make an ``height x width`` input acceptable."""
        h = max(height, self.minimum)
        w = max(width, self.minimum)
        m = self.multiple_of
        h = -(-h // m) * m
        w = -(-w // m) * m
        if self.square:
            h = w = max(h, w)
        return h - height, w - width

    def check(self, height: int, width: int) -> bool:
        return self.padding_for(height, width) == (0, 0)


@dataclass(frozen=True)
class ArchSpec:
    """How to recognise and build one architecture family."""

    name: str
    detect: Callable[[StateDict], bool]
    # returns (module with weights NOT yet loaded, hyper-parameters, scale)
    build: Callable[[StateDict], tuple[nn.Module, dict[str, Any], int]]
    size_requirements: SizeRequirements = SizeRequirements()
    tile_hint: int = 256
    onnx_exportable: bool = True
    description: str = ""
    priority: int = SPECIFIC  # detection tier: SPECIFIC or GENERIC (see below)
    # builds the module from stored hyper-parameters (our own checkpoints, students)
    from_hparams: Callable[[dict[str, Any]], nn.Module] | None = None
    # NNCF node-name patterns INT8 QAT leaves in float: statistics whose quantized internals break
    # training (a rounded-to-zero variance under sqrt) and cost no speed (they run on 1x1 maps)
    quant_float_scopes: tuple[str, ...] = ()
    # QAT ``--placement ptq``: the float scopes and shared quantizers that reproduce the placement
    # NNCF's OpenVINO backend gives PTQ, so the QAT IR runs as fast as PTQ's (None: as the default).
    # ``quant_shared``: hook-name patterns with a group ``(?P<g>...)``; matches with equal ``g`` share
    # one quantizer (the inputs of a concat OpenVINO runs in INT8 on one interval).
    quant_ptq_float_scopes: tuple[str, ...] | None = None
    quant_shared: tuple[str, ...] = ()
    # QAT ``--equalize ALPHA``: rescale, in place and function-preserving, the channels that will
    # share one activation interval (``quant_shared``) towards a common range, from calibration
    # inputs; returns how many channels it rescaled (cross-layer equalization, Nagel et al. 2019)
    quant_equalize: Callable[[nn.Module, list[torch.Tensor], float], int] | None = None


ARCHS: Registry[ArchSpec] = Registry("architecture", builtins="sr_compress.models.builtin_archs")


register_arch = ARCHS.add_named  # an arch module calls register_arch(ArchSpec(name=...)) at import
get_arch = ARCHS.get


def iter_archs() -> Iterator[ArchSpec]:
    """Registered architectures in detection order: most specific tier first, then by name."""
    yield from sorted((spec for _, spec in ARCHS.items()), key=lambda s: (-s.priority, s.name))


@dataclass
class ModelDescriptor:
    """A loaded network plus everything export, tiling and serving need to know about it.

    Input/output convention: float32 NCHW RGB in [0, 1]; output is ``scale`` times larger.
    """

    model: nn.Module
    arch: str
    scale: int
    in_channels: int = 3
    out_channels: int = 3
    size_requirements: SizeRequirements = field(default_factory=SizeRequirements)
    tile_hint: int = 256
    onnx_exportable: bool = True
    hyperparams: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    source_sha256: str | None = None

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def macs(self, height: int = 64, width: int = 64) -> int:
        """Multiply-accumulates for one ``height x width`` LR input (see ``models/flops.py``)."""
        from .flops import count_macs

        return count_macs(self.model, (1, self.in_channels, height, width))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def eval(self) -> ModelDescriptor:
        self.model.eval()
        return self

    def to(self, device: torch.device | str) -> ModelDescriptor:
        self.model.to(device)
        return self

    def summary(self) -> dict[str, Any]:
        """JSON-able facts about the model (used by reports and manifests)."""
        return {
            "arch": self.arch,
            "scale": self.scale,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "params": self.params,
            "size_requirements": {
                "minimum": self.size_requirements.minimum,
                "multiple_of": self.size_requirements.multiple_of,
                "square": self.size_requirements.square,
            },
            "tile_hint": self.tile_hint,
            "onnx_exportable": self.onnx_exportable,
            "hyperparams": self.hyperparams,
            "source": self.source,
            "source_sha256": self.source_sha256,
        }
