"""One generic registry for every kind of pluggable thing.

Architectures, distillation methods, dataset distillers, degradations and backends each have
one :class:`Registry`. A registry never imports its implementations: the built-in list lives in
a separate module (``builtins=`` names it, spandrel's ``main_registry`` split) that is imported
lazily the first time the registry is read, so there are no import cycles.

An implementation whose optional dependency is absent is kept as a :class:`Missing` entry (the
way Polygraphy keeps a ``MissingTool``): it is listed, and using it raises
:class:`~sr_compress.errors.MissingDependency` with the install hint, instead of vanishing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import MissingDependency, UserInputError

T = TypeVar("T")


@dataclass(frozen=True)
class Missing:
    """A registered name whose implementation cannot be imported here."""

    name: str
    hint: str  # e.g. "TensorRT is not installed: pip install 'sr-compress[gpu]'"


class Registry(Generic[T]):
    """Named items of one kind, in registration order, with a duplicate-name check.

    ``kind`` is used in messages ("unknown architecture 'x' (known: ...)"). ``builtins`` is the
    dotted name of a module that registers the built-in items when imported.
    """

    def __init__(self, kind: str, builtins: str | None = None) -> None:
        self.kind = kind
        self._builtins = builtins
        self._loaded = builtins is None
        self._items: dict[str, T | Missing] = {}

    # -- writing ----------------------------------------------------------------------------
    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; a second item with the same name is an error."""
        if name in self._items and not isinstance(self._items[name], Missing):
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = item
        return item

    def add_missing(self, name: str, hint: str) -> None:
        """Keep ``name`` visible although its dependency is absent (``hint`` says what to install)."""
        self._items.setdefault(name, Missing(name, hint))

    def add_named(self, item: T, attr: str = "name") -> T:
        """Register ``item`` under its own ``item.name`` (usable as a class decorator)."""
        return self.add(str(getattr(item, attr)), item)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form: ``@REG.register("kd")``."""

        def deco(item: T) -> T:
            return self.add(name, item)

        return deco

    def remove(self, name: str) -> None:
        """Unregister ``name`` (tests that add toy items clean up with this)."""
        self._items.pop(name, None)

    # -- reading ----------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if not self._loaded:
            # set first: a built-ins module that reads the registry while importing must not recurse
            self._loaded = True
            assert self._builtins is not None
            importlib.import_module(self._builtins)

    def get(self, name: str) -> T:
        """The item called ``name``; unknown names and missing dependencies are one clear line."""
        self._ensure_loaded()
        try:
            item = self._items[name]
        except KeyError:
            raise UserInputError(f"unknown {self.kind} {name!r} (known: {', '.join(self.names())})") from None
        if isinstance(item, Missing):
            raise MissingDependency(f"{self.kind} {name!r} is not available: {item.hint}")
        return item

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._items

    def names(self, include_missing: bool = True) -> list[str]:
        """Registered names in registration order."""
        self._ensure_loaded()
        return [n for n, v in self._items.items() if include_missing or not isinstance(v, Missing)]

    def sorted_names(self) -> list[str]:
        """Registered names in alphabetical order (CLI lists that must not depend on import order)."""
        return sorted(self.names())

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, item) for every available item, in registration order."""
        self._ensure_loaded()
        for name, item in list(self._items.items()):
            if not isinstance(item, Missing):
                yield name, item

    def missing(self) -> list[Missing]:
        self._ensure_loaded()
        return [v for v in self._items.values() if isinstance(v, Missing)]

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._items)
