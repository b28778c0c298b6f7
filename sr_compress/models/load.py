"""Safe checkpoint loading, architecture detection, and our own save format.

Safety: checkpoints are read with ``torch.load(weights_only=True)``, torch's restricted
unpickler (tensors, storages, plain containers and numbers only; it also reads the legacy
pre-1.6 non-zip format, e.g. the IMDN/PAN/CARN files), or with safetensors. A pickle that needs
any other global (a class, a function) is refused, never executed.

Detection: wrappers (``params_ema``, ``params``, ``state_dict``, ``model``, ``net_g`` …) and
``module.`` / ``_orig_mod.`` prefixes are removed, then every registered architecture's
``detect`` is tried (most specific first); spandrel (+ spandrel_extra_arches) is the fallback.

Our format (:func:`save_model`): ``{"params": state_dict, "sr_compress": {"arch", "scale",
"hyperparams", "format"}}``, rebuilt exactly from the stored hyper-parameters.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError, UnsupportedArchitecture, UserInputError
from ..hashing import sha256_file
from .registry import ArchSpec, ModelDescriptor, SizeRequirements, get_arch, iter_archs

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "net_g", "generator",
                 "network", "net")
_PREFIXES = ("module.", "_orig_mod.")
# spandrel families whose ONNX export (legacy exporter, dynamic H/W) works: plain conv nets.
# DCTLSA and CRAFT export only for the traced size (the tracer bakes their window reshape /
# window padding into constants: DCTLSA fails to run at another size, CRAFT runs but differs by
# 0.22), so they are not listed; others are unverified.
_SPANDREL_ONNX_OK = {"ESRGAN", "Compact", "RealCUGAN", "SPAN", "RCAN", "SwiftSRGAN"}
# spandrel families whose forward pads the input to its window itself (CRAFT: symmetric flip
# padding, as the official inference script). spandrel still declares multiple_of = window, and
# padding to it beforehand (our evaluator/tiler reflect-pad) changes the border context:
# CRAFT x4 Set5 32.388 instead of 32.420 (BasicSR test pipeline). They take any size >= minimum.
_SPANDREL_SELF_PADDING = {"CRAFT"}


# ----------------------------------------------------------------------------------------- reading
def read_checkpoint(path: str | Path) -> Any:
    """The deserialised object in ``path`` (safe: tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (give an existing .pth/.pt/.safetensors file)")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CheckpointError(f"cannot read {path}: pip install safetensors") from None
        try:
            return load_file(str(path), device="cpu")
        except Exception as err:  # noqa: BLE001 - any parse failure means a corrupt file
            raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(err)} (corrupt safetensors?)") \
                from None
    _check_torch_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        msg = str(err)
        if "Weights only load failed" in msg or "Unsupported global" in msg or "unsupported global" in msg:
            glob = _unsupported_global(msg)
            what = "a whole pickled model" if glob.startswith(("torch.nn.", "__main__.")) else "Python objects"
            raise CheckpointError(
                f"refusing to load {path}: it pickles {what}{f' ({glob})' if glob else ''} that could run "
                "arbitrary code; re-save it as a plain state_dict (torch.save(model.state_dict(), ...)) or "
                "as .safetensors"
            ) from None
        raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(err)} (file corrupt or not a "
                              "PyTorch checkpoint)") from None
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, ImportError, KeyError,
            IndexError, TypeError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {_first_line(err)} (file corrupt, truncated "
                              "or not a PyTorch checkpoint)") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def _unsupported_global(msg: str) -> str:
    """The dotted name of the global the restricted unpickler refused (whole, never cut)."""
    found = re.search(r"GLOBAL ([\w.]+)", msg) or re.search(r"global:? ([\w.]+)", msg)
    return found.group(1) if found else ""


ACCEPTED_FORMATS = ("PyTorch .pth/.pt (a state dict saved with torch.save), .safetensors, "
                    "ncnn .param (+ .bin)")


def _describe_bytes(head: bytes) -> str:
    for magic, kind in ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
                        (b"RIFF", "a RIFF (WebP/WAV) file"), (b"II*\x00", "a TIFF image"),
                        (b"MM\x00*", "a TIFF image"), (b"\x08", "ONNX/protobuf data")):
        if head.startswith(magic):
            return kind
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    return "a text file" if text.isprintable() or "\n" in text else "unrecognised data"


def _check_torch_file(path: Path) -> None:
    """Only a zip (torch >= 1.6) or a protocol-2+ pickle (legacy torch.save) can be a torch
    checkpoint; anything else is named for what it is instead of sent to the unpickler."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK\x03\x04") or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return
    size = path.stat().st_size
    raise CheckpointError(f"{path} is not a checkpoint ({_describe_bytes(head)}, {size} bytes); "
                          f"accepted: {ACCEPTED_FORMATS}")


def _tensor_items(obj: Mapping[Any, Any]) -> dict[str, torch.Tensor]:
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _looks_like_state_dict(obj: Any) -> bool:
    if not isinstance(obj, Mapping) or not obj:
        return False
    n_tensor = sum(isinstance(v, torch.Tensor) for v in obj.values())
    return n_tensor > 0 and n_tensor >= len(obj) / 2


def strip_prefixes(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove DataParallel (``module.``) / torch.compile (``_orig_mod.``) prefixes shared by every key."""
    out = dict(sd)
    changed = True
    while changed and out:
        changed = False
        for p in _PREFIXES:
            if all(k.startswith(p) for k in out):
                out = {k[len(p):]: v for k, v in out.items()}
                changed = True
    return out


def unwrap_state_dict(obj: Any, source: str = "checkpoint") -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """(state dict, our metadata or None) from whatever a checkpoint file holds."""
    meta = obj.get("sr_compress") if isinstance(obj, Mapping) else None
    for _ in range(4):
        if _looks_like_state_dict(obj):
            break
        if not isinstance(obj, Mapping):
            break
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner:
                obj = inner
                break
        else:
            break
    if isinstance(obj, nn.Module):  # pragma: no cover - weights_only never yields modules
        obj = obj.state_dict()
    if not _looks_like_state_dict(obj):
        keys = list(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"{source} holds no state dict (top-level: {keys}); save the network's state_dict() "
            f"or wrap it as {{'params': state_dict}}"
        )
    return strip_prefixes(_tensor_items(obj)), dict(meta) if isinstance(meta, Mapping) else None


# ---------------------------------------------------------------------------------------- building
def make_descriptor(spec: ArchSpec, model: nn.Module, hparams: dict[str, Any], scale: int,
                    source: str | None = None, sha256: str | None = None) -> ModelDescriptor:
    return ModelDescriptor(
        model=model, arch=spec.name, scale=scale,
        in_channels=int(hparams.get("in_ch", 3)), out_channels=int(hparams.get("out_ch", 3)),
        size_requirements=spec.size_requirements, tile_hint=spec.tile_hint,
        onnx_exportable=spec.onnx_exportable, hyperparams=dict(hparams),
        source=source, source_sha256=sha256,
    )


def _load_weights(model: nn.Module, sd: Mapping[str, torch.Tensor], arch: str, source: str) -> None:
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as err:
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise CheckpointError(f"{source} looks like {arch} but its weights do not fit: {detail[:300]}") from None


def scale_hint_from_name(name: str) -> int | None:
    """``PANx3_DF2K.pth`` -> 3, ``DCTLSA_X4.pt`` -> 4; None without an ``x<digit>`` tag."""
    found = re.findall(r"[xX]([1-8])(?!\d)", Path(name).stem)
    return int(found[-1]) if found else None


def _apply_scale(model: nn.Module, hp: dict[str, Any], found: int, wanted: int | None, arch: str,
                 source: str, hint: int | None = None, known: bool = False) -> int:
    """The scale to run at: ``wanted`` (--scale), else the metadata's (``known``), else the one
    the weights imply; weights whose shapes fit several trained-for-one scales (PAN x2/x3) take
    the file name's ``x<N>`` tag, said aloud, or need --scale."""
    supported = tuple(getattr(model, "supported_scales", ()) or ())
    if wanted is None and not known and len(supported) > 1:
        if hint in supported:
            wanted = hint
            if getattr(model, "scale_ambiguous_from_shapes", False):
                log.warning("%s: the weights fit %s; using x%d from the file name (pass --scale to override)",
                            source, " and ".join(f"x{s}" for s in supported), hint)
        elif getattr(model, "scale_ambiguous_from_shapes", False):
            opts = " or ".join(f"--scale {s}" for s in supported)
            raise CheckpointError(f"{source}: the scale is ambiguous, {arch} weights for "
                                  f"{' and '.join(f'x{s}' for s in supported)} have the same shapes and the "
                                  f"file name has no x<N> tag; pass {opts}")
    if wanted is None or wanted == found:
        return found
    set_scale = getattr(model, "set_scale", None)
    if callable(set_scale) and (not supported or wanted in supported):
        set_scale(wanted)  # multi-scale networks pick their upsampling path
        hp["scale"] = wanted
        return wanted
    raise CheckpointError(f"{source} is a x{found} {arch} model but x{wanted} was requested: "
                          f"use --scale {found} or a x{wanted} checkpoint")


def _detect_ours(sd: Mapping[str, torch.Tensor]) -> ArchSpec | None:
    for spec in iter_archs():
        try:
            if spec.detect(sd):
                return spec
        except (KeyError, IndexError, ValueError, AttributeError):
            continue
    return None


_SPANDREL_READY = False


def _spandrel() -> Any:
    global _SPANDREL_READY
    from ..compat import ensure_torchvision, require

    ensure_torchvision()
    spandrel = require("spandrel", "core", "spandrel")
    if not _SPANDREL_READY:
        try:
            import spandrel_extra_arches

            spandrel_extra_arches.install(ignore_duplicates=True)
        except ImportError:
            pass
        _SPANDREL_READY = True
    return spandrel


def _load_spandrel(sd: dict[str, torch.Tensor], source: str, sha: str | None) -> ModelDescriptor | None:
    spandrel = _spandrel()
    try:
        d = spandrel.ModelLoader().load_from_state_dict(sd)
    except spandrel.UnsupportedModelError:
        return None
    except Exception as err:  # noqa: BLE001 - a detector matched but building failed
        raise CheckpointError(f"{source}: spandrel recognised the keys but could not build the model: "
                              f"{_first_line(err)}") from None
    arch_id = str(d.architecture.id)
    if not isinstance(d, spandrel.ImageModelDescriptor) or d.purpose not in ("SR", "Restoration") \
            or d.input_channels != d.output_channels:
        raise UnsupportedArchitecture(f"{source} is a spandrel {arch_id} model with purpose {d.purpose!r}; "
                                      "sr-compress handles super-resolution models only")
    sr = d.size_requirements
    return ModelDescriptor(
        model=d.model, arch=f"spandrel:{arch_id}", scale=int(d.scale),
        in_channels=int(d.input_channels), out_channels=int(d.output_channels),
        size_requirements=SizeRequirements(
            minimum=int(sr.minimum), multiple_of=1 if arch_id in _SPANDREL_SELF_PADDING else int(sr.multiple_of),
            square=bool(sr.square)),
        tile_hint=256, onnx_exportable=arch_id in _SPANDREL_ONNX_OK,
        hyperparams={"spandrel_arch": arch_id, "spandrel_tags": list(d.tags)},
        source=source, source_sha256=sha,
    )


def _known_archs() -> str:
    ours = ", ".join(s.name for s in iter_archs())
    try:
        spandrel = _spandrel()
        theirs = ", ".join(sorted(a.architecture.id for a in spandrel.MAIN_REGISTRY.architectures()))
    except Exception:  # noqa: BLE001 - only for the message
        theirs = "(spandrel not importable)"
    return f"ours: {ours}; spandrel: {theirs}"


def descriptor_from_state_dict(sd: dict[str, torch.Tensor], scale: int | None = None,
                               source: str = "state dict", sha256: str | None = None,
                               meta: dict[str, Any] | None = None, scale_hint: int | None = None) -> ModelDescriptor:
    """Build and load the network a state dict belongs to (our metadata > our detectors > spandrel)."""
    if meta and meta.get("arch") and not str(meta["arch"]).startswith("spandrel:"):
        try:
            spec = get_arch(str(meta["arch"]))
        except UserInputError:
            raise UnsupportedArchitecture(f"{source} was saved for architecture {meta['arch']!r}, which this "
                                          f"version does not know ({_known_archs()})") from None
        hp = dict(meta.get("hyperparams") or {})
        try:
            if spec.from_hparams is not None:
                model = spec.from_hparams(hp)
                found = int(meta.get("scale") or hp.get("scale") or 0)
            else:
                model, hp, found = spec.build(sd)
        except (TypeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{source}: cannot rebuild {spec.name} from its stored hyper-parameters "
                                  f"{hp}: {_first_line(err)}") from None
        if isinstance(meta.get("pruned"), Mapping):  # a pruned network: re-shape to its stored widths
            from .pruned import apply_record

            apply_record(model, dict(meta["pruned"]), source)
        _load_weights(model, sd, spec.name, source)
        found = _apply_scale(model, hp, found, scale, spec.name, source, scale_hint, known=bool(found))
        return make_descriptor(spec, model.eval(), hp, found, source, sha256)

    detected = _detect_ours(sd)
    if detected is not None:
        try:
            model, hp, found = detected.build(sd)
        except (TypeError, ValueError, KeyError, IndexError) as err:
            raise CheckpointError(f"{source} looks like {detected.name} but its shapes do not fit that "
                                  f"architecture: {_first_line(err)}") from None
        _load_weights(model, sd, detected.name, source)
        found = _apply_scale(model, hp, found, scale, detected.name, source, scale_hint)
        return make_descriptor(detected, model.eval(), hp, found, source, sha256)

    desc = _load_spandrel(sd, source, sha256)
    if desc is None:
        first = ", ".join(list(sd)[:6])
        raise UnsupportedArchitecture(
            f"{source}: no known architecture matches its {len(sd)} keys (first: {first}); known: {_known_archs()}"
        )
    if scale is not None and scale != desc.scale:
        raise CheckpointError(f"{source} is a x{desc.scale} {desc.arch} model but x{scale} was requested: "
                              f"use --scale {desc.scale} or a x{scale} checkpoint")
    desc.model.eval()
    return desc


def _resolve(path_or_zoo_name: str | Path) -> tuple[Path, str]:
    p = Path(path_or_zoo_name).expanduser()
    if p.exists():
        if p.is_dir():
            raise CheckpointError(f"{p} is a directory: give the checkpoint file inside it (e.g. {p}/student.pth)")
        return p, str(p.resolve())
    from . import zoo

    name = str(path_or_zoo_name)
    if zoo.is_zoo_name(name):
        return zoo.fetch(name), f"zoo:{name}"
    raise CheckpointError(f"checkpoint not found: {p} (give an existing file or a zoo name; "
                          "list them with `sr-compress zoo list`)")


def load_model(path_or_zoo_name: str | Path, scale: int | None = None) -> ModelDescriptor:
    """Load a checkpoint file (or a zoo entry, fetched on first use) as a :class:`ModelDescriptor` in eval mode.

    ``scale`` checks the model's scale (or picks the head of a multi-scale network).
    """
    path, source = _resolve(path_or_zoo_name)
    if path.suffix == ".param":  # an ncnn graph (its .bin beside it): parsed, never executed
        from .ncnn import load_ncnn_model

        return load_ncnn_model(path, scale=scale, describe=descriptor_from_state_dict)
    raw = read_checkpoint(path)
    sd, meta = unwrap_state_dict(raw, str(path))
    return descriptor_from_state_dict(sd, scale=scale, source=source, sha256=sha256_file(path), meta=meta,
                                      scale_hint=scale_hint_from_name(path.name))


# ------------------------------------------------------------------------------------------ saving
def _json_safe(hp: Mapping[str, Any], what: str) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(dict(hp)))
    except TypeError as err:
        raise ValueError(f"{what} hyper-parameters must be plain JSON values: {err}") from None


def save_model(desc: ModelDescriptor, path: str | Path) -> Path:
    """Write ``desc`` in our format (atomically); :func:`load_model` rebuilds it exactly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hp = dict(desc.hyperparams)
    live = getattr(desc.model, "live_hparams", None)
    if callable(live):  # e.g. EDSR after append_blocks
        hp.update(live())
    payload = {
        "params": {k: v.detach().cpu().clone() for k, v in desc.model.state_dict().items()},
        "sr_compress": {"arch": desc.arch, "scale": int(desc.scale), "format": FORMAT_VERSION,
                        "hyperparams": _json_safe(hp, desc.arch)},
    }
    pruned = getattr(desc.model, "sr_compress_pruned", None)  # widths of a pruned network (compress/prune)
    if isinstance(pruned, dict):
        payload["sr_compress"]["pruned"] = _json_safe(pruned, desc.arch)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    desc.hyperparams = hp
    return path
