"""Backends as one plugin kind: one :class:`~.base.Backend` per file here, one registry.

``BACKENDS`` is a :class:`~sr_compress.registry.Registry`; the built-ins are registered by
``sr_compress/backends/builtin.py`` on first read. Everything that used to repeat backend names
(export flags, manifest check, ``--backend`` choices of validate/bench/serve, serve's preference
order, eval's artifact suffixes, the exportability matrix) reads the helpers below.

Adding a backend = one file in this folder + one line in ``builtin.py``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from ..errors import UserInputError
from ..registry import Registry
from ..runtime import manifest as _manifest
from .base import Backend, ExportContext

__all__ = ["BACKENDS", "Backend", "ExportContext", "LazyNames", "backend_for_suffix", "backend_tools", "declare",
           "declared", "export_backends", "find_manifest_for", "read_manifest", "runner_choices", "serve_preference",
           "eval_suffixes", "tool_versions"]

BACKENDS: Registry[Backend] = Registry("backend", builtins="sr_compress.backends.builtin")
# every declared backend, available or not: its CLI flags and suffixes stay known when its
# dependency is missing (using it then raises MissingDependency with the install hint)
_DECLARED: dict[str, Backend] = {}


def declare(backend: Backend) -> None:
    """Register ``backend``, or a Missing entry when one of its ``requires`` modules is absent."""
    _DECLARED[backend.name] = backend
    absent = [m for m in backend.requires if importlib.util.find_spec(m) is None]
    if absent:
        BACKENDS.add_missing(backend.name, backend.install_hint or f"pip install {' '.join(absent)}")
    else:
        BACKENDS.add(backend.name, backend)


def declared() -> list[Backend]:
    """All declared backends in registration order, including those whose dependency is missing."""
    BACKENDS.names()  # loads the built-ins
    return [_DECLARED[n] for n in BACKENDS.names() if n in _DECLARED]


def available(name: str) -> bool:
    return name in dict(BACKENDS.items())


def export_backends() -> list[Backend]:
    """Declared backends that write artifacts (their flags are on ``sr-compress export``)."""
    return [b for b in declared() if type(b).export is not Backend.export or type(b).after_publish
            is not Backend.after_publish]


def backend_for_suffix(path: str | Path) -> str | None:
    suffix = Path(path).suffix.lower()
    for b in declared():
        if suffix in b.suffixes:
            return b.name
    return None


def backend_tools() -> list[str]:
    return [t for b in declared() for t in b.tools]


def tool_versions() -> dict[str, str]:
    """What a manifest records: versions of the base tools and of every declared backend's ``tools``."""
    return _manifest.tool_versions([*_manifest.BASE_TOOLS, *backend_tools()])


def read_manifest(directory_or_file: str | Path) -> _manifest.Manifest:
    """:func:`sr_compress.runtime.manifest.read_manifest`, every artifact checked against the registry
    (a declared backend whose dependency is absent counts: using it then names the install)."""
    return _manifest.read_manifest(directory_or_file, known_backends=BACKENDS.names())


def find_manifest_for(artifact: str | Path) -> tuple[_manifest.Manifest, _manifest.ArtifactEntry] | None:
    """:func:`sr_compress.runtime.manifest.find_manifest_for` with the registry's backend names."""
    return _manifest.find_manifest_for(artifact, known_backends=BACKENDS.names())


class LazyNames(Sequence[str]):
    """A tuple of names computed from the registry on first use (safe at module import time)."""

    def __init__(self, fn: Callable[[], list[str]]) -> None:
        self._fn = fn
        self._items: tuple[str, ...] | None = None

    def _get(self) -> tuple[str, ...]:
        if self._items is None:
            self._items = tuple(self._fn())
        return self._items

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __contains__(self, x: object) -> bool:
        return x in self._get()

    def __repr__(self) -> str:
        return repr(self._get())


def runner_choices() -> LazyNames:
    """``--backend`` choices of validate/bench/serve: every declared backend that runs artifacts."""
    return LazyNames(lambda: [b.name for b in declared() if b.runs_artifacts])


def serve_preference() -> LazyNames:
    """Backends sr-serve picks from an export dir, best first (see :attr:`Backend.serve_rank`)."""
    return LazyNames(lambda: [b.name for b in sorted((b for b in declared() if b.serve_rank is not None),
                                                     key=lambda b: b.serve_rank or 0)])


def eval_suffixes() -> LazyNames:
    """Suffixes ``sr-compress eval --model`` runs through a runner instead of loading as PyTorch."""
    return LazyNames(lambda: [s for b in declared() if b.eval_by_runner and b.name != "torch" for s in b.suffixes])


def get(name: str) -> Backend:
    """The backend called ``name`` (unknown: one line listing the known ones)."""
    if name not in BACKENDS:
        raise UserInputError(f"unknown backend {name!r} (known: {', '.join(BACKENDS.names())})")
    return BACKENDS.get(name)


def describe() -> list[dict[str, Any]]:
    """One row per declared backend (``sr-compress info --backends``-style listings, docs, tests)."""
    missing = {m.name: m.hint for m in BACKENDS.missing()}
    return [{"name": b.name, "suffixes": list(b.suffixes), "precisions": list(b.precisions),
             "export_flags": b.flags(), "honours": list(b.honours), "available": b.name not in missing,
             "hint": missing.get(b.name)} for b in declared()]
