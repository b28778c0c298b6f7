"""Option choices read from a registry when click needs them (help, validation), not at import:
the list in ``--help`` is the registry's, so a newly registered item shows up without a CLI edit,
and ``sr-compress --help`` does not import torch to build it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click


class RegistryChoice(click.Choice):
    """``click.Choice`` over ``names()``, evaluated lazily."""

    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        self._names = names
        super().__init__((), case_sensitive=True)

    @property
    def choices(self) -> tuple[Any, ...]:
        return tuple(self._names())

    @choices.setter
    def choices(self, value: tuple[Any, ...]) -> None:
        pass  # click.Choice.__init__ assigns the (empty) static list; ours is always the registry's


def methods() -> list[str]:
    from ..compress.base import list_methods

    return list_methods()


def distillers() -> list[str]:
    from ..compress.datadistill.base import list_distillers

    return list_distillers()


def degradations() -> list[str]:
    from ..data.degradation_registry import list_degradations

    return list_degradations()
