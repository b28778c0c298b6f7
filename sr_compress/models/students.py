"""Student networks we distill into, named by a compact spec string.

=================  ==========================================================================
spec               network
=================  ==========================================================================
``edsr:c{C}b{B}``  EDSR-style: conv, B residual blocks without BN (res-scale 1), conv + global
                   skip, conv+PixelShuffle upsampler, conv (arch ``edsr``, BasicSR layout).
                   ``desc.model.append_blocks(n)`` grows the body function-preservingly.
``rlfn:c{C}b{B}``  RLFN-style: B residual local feature blocks (C channels, ESA with 16
                   channels), conv + global skip, conv+PixelShuffle (arch ``rlfn``).
``srvgg:c{C}b{B}`` SRVGGNetCompact: conv+PReLU, B x (conv+PReLU), conv to 3*s^2,
                   PixelShuffle + nearest-upsampled input (arch ``srvgg``).
=================  ==========================================================================

Students are ordinary registered architectures, so a saved student reloads through
:func:`sr_compress.models.load.load_model` (from its stored hyper-parameters, or by detection).
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UserInputError
from .registry import ModelDescriptor, get_arch

_SPEC = re.compile(r"^(?P<family>[a-z]+):c(?P<c>\d+)b(?P<b>\d+)$")

STUDENT_FAMILIES = ("edsr", "rlfn", "srvgg")


def parse_student_spec(spec: str) -> tuple[str, int, int]:
    """``"edsr:c32b4"`` -> ``("edsr", 32, 4)``; raises :class:`UserInputError` on anything else."""
    m = _SPEC.match(spec.strip().lower())
    if m is None or m.group("family") not in STUDENT_FAMILIES:
        raise UserInputError(
            f"invalid student spec {spec!r}: use FAMILY:cCHANNELSbBLOCKS with FAMILY one of "
            f"{', '.join(STUDENT_FAMILIES)} (e.g. edsr:c32b4, rlfn:c32b4, srvgg:c32b8)"
        )
    c, b = int(m.group("c")), int(m.group("b"))
    if c < 4 or b < 1:
        raise UserInputError(f"invalid student spec {spec!r}: need at least 4 channels and 1 block")
    return m.group("family"), c, b


def student_hparams(family: str, channels: int, blocks: int, scale: int) -> dict[str, Any]:
    if family == "edsr":
        return {"num_feat": channels, "num_block": blocks, "scale": scale, "res_scale": 1.0,
                "img_range": 255.0, "in_ch": 3, "out_ch": 3}
    if family == "rlfn":
        return {"num_feat": channels, "mid_feat": channels, "num_blocks": blocks, "scale": scale,
                "esa_channels": 16, "in_ch": 3, "out_ch": 3, "img_range": 255.0}
    if family == "srvgg":
        return {"num_feat": channels, "num_conv": blocks, "scale": scale, "in_ch": 3, "out_ch": 3}
    raise UserInputError(f"unknown student family {family!r} (known: {', '.join(STUDENT_FAMILIES)})")


def student_spec_for(desc: ModelDescriptor) -> str | None:
    """The student spec that builds ``desc``'s architecture (``rlfn:c48b6`` for RLFN-S), or None."""
    hp = desc.hyperparams or {}
    blocks = {"edsr": "num_block", "rlfn": "num_blocks", "srvgg": "num_conv"}.get(desc.arch)
    if blocks is None or "num_feat" not in hp or blocks not in hp:
        return None
    spec = f"{desc.arch}:c{hp['num_feat']}b{hp[blocks]}"
    expected = student_hparams(desc.arch, int(hp["num_feat"]), int(hp[blocks]), desc.scale)
    return spec if all(hp.get(k) == v for k, v in expected.items()) else None


def build_student(spec: str, scale: int) -> ModelDescriptor:
    """A freshly initialised student described by ``spec`` (see the module docstring) at ``scale``."""
    if scale not in (2, 3, 4, 8) and not (spec.startswith("rlfn") or spec.startswith("srvgg")):
        raise UserInputError(f"scale x{scale} is not supported by {spec!r}: use 2, 3, 4 or 8")
    if scale < 1:
        raise UserInputError(f"scale must be a positive integer, got {scale}")
    family, c, b = parse_student_spec(spec)
    hp = student_hparams(family, c, b, scale)
    arch = get_arch(family)
    assert arch.from_hparams is not None
    model = arch.from_hparams(hp)
    desc = ModelDescriptor(
        model=model,
        arch=arch.name,
        scale=scale,
        size_requirements=arch.size_requirements,
        tile_hint=arch.tile_hint,
        onnx_exportable=arch.onnx_exportable,
        hyperparams=hp,
        source=f"student:{family}:c{c}b{b}",
    )
    return desc
