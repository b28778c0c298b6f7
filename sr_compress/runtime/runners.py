""":func:`make_runner`: the right :class:`~.base.Runner` for a descriptor, artifact file or manifest entry.

The runner classes live with their backend (``sr_compress/backends/<name>.py``); the backend is
taken from the manifest entry, else inferred from the artifact suffix through the backend
registry. Scale and size requirements come from the manifest next to the artifact, else from the
metadata we embed in the artifact, else from probing the model once with a small input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserInputError
from ..models.registry import ModelDescriptor
from .base import Runner, default_threads, probe_scale
from .manifest import ArtifactEntry, Manifest, find_manifest_for

__all__ = ["Runner", "default_threads", "infer_backend", "make_runner", "probe_scale"]

# where the runner classes moved (kept importable from here)
_MOVED = {"TorchRunner": "torch", "OnnxRuntimeRunner": "onnxruntime", "OpenVINORunner": "openvino",
          "TensorRTRunner": "tensorrt"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"sr_compress.backends.{_MOVED[name]}"), name)
    if name == "BACKENDS":
        from ..backends import runner_choices

        return tuple(runner_choices())
    raise AttributeError(name)


def infer_backend(path: str | Path) -> str:
    from ..backends import backend_for_suffix, declared

    name = backend_for_suffix(path)
    if name is None:
        known = ", ".join(s for b in declared() for s in b.suffixes)
        raise UserInputError(
            f"{path}: cannot tell the backend from the suffix {Path(path).suffix or '(none)'!r}; expected one of {known}"
        )
    return name


def make_runner(
    artifact_or_descriptor: ModelDescriptor | str | Path | ArtifactEntry,
    backend: str | None = None,
    precision: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    manifest: Manifest | None = None,
    scale: int | None = None,
    **kwargs: Any,
) -> Runner:
    """A runner for a descriptor (torch), an artifact path, or a manifest entry (with ``manifest``)."""
    from ..backends import get

    if isinstance(artifact_or_descriptor, ModelDescriptor):
        if backend not in (None, "torch"):
            raise UserInputError(f"a loaded PyTorch model runs on backend 'torch', not {backend!r}")
        from ..backends.torch import TorchRunner

        return TorchRunner(artifact_or_descriptor, precision or "fp32", device, threads, **kwargs)
    entry: ArtifactEntry | None = None
    if isinstance(artifact_or_descriptor, ArtifactEntry):
        entry = artifact_or_descriptor
        if manifest is None:
            raise UserInputError(f"artifact {entry.name!r}: pass the manifest it belongs to")
        path = manifest.path_of(entry)
    else:
        path = Path(artifact_or_descriptor)
        if path.is_dir():
            raise UserInputError(f"{path} is a directory; pass one artifact file (see its manifest.json)")
        if not path.exists():
            raise UserInputError(f"artifact not found: {path}")
        found = find_manifest_for(path) if manifest is None else None
        if found is not None:
            manifest, entry = found
    reqs = manifest.requirements if manifest is not None else None
    scale = scale or (manifest.scale if manifest is not None else None)
    backend = backend or (entry.backend if entry is not None else infer_backend(path))
    precision = precision or (entry.precision if entry is not None else "fp32")
    from ..backends.adapt import open_runner  # pads for what the backend does not honour, or refuses

    return open_runner(get(backend), path, device=device, threads=threads, precision=precision, scale=scale,
                       size_requirements=reqs, **kwargs)
