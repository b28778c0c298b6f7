"""The dataset-distiller interface and its registry (built-ins listed in ``builtin.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from ...errors import ConfigError
from ...registry import Registry
from .clustering import kmeans
from .config import DataDistillConfig
from .embed import embed_patches
from .pool import PatchPool


@dataclass
class Distilled:
    """One output image: HR float (3, S, S) in [0, 1], its pseudo-class, provenance."""

    hr: torch.Tensor
    cls: int
    origin: dict[str, Any] | None = None


@dataclass
class DistillContext:
    cfg: DataDistillConfig
    pool: PatchPool
    teacher: nn.Module | None
    embed: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device

    _emb_cache: dict[str, Any] = field(default_factory=dict)

    def pseudo_classes(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings, pseudo-class labels) of pool patches ``idx`` (cached per index set)."""
        key = idx.numpy().tobytes().hex()
        if key not in self._emb_cache:
            emb = embed_patches(self.embed, self.pool, idx)
            _, labels = kmeans(emb, self.cfg.classes, seed=self.cfg.seed)
            self._emb_cache[key] = (emb, labels)
        return self._emb_cache[key]

    def origin(self, pool_index: int) -> dict[str, Any]:
        name, top, left = self.pool.origins[pool_index]
        return {"file": name, "top": top, "left": left, "pool_index": pool_index}


@dataclass
class NoOptions:
    """The config of a distiller that has no keys of its own."""


OptT = TypeVar("OptT")


class DatasetDistiller(ABC):
    """One method. ``config_cls`` is the dataclass of its own YAML section (``cfg.options``)."""

    name: ClassVar[str]
    needs_teacher: ClassVar[bool] = False
    config_cls: ClassVar[type[Any]] = NoOptions

    def options(self, cfg: DataDistillConfig) -> Any:
        """``cfg.options`` as this distiller's config (its defaults when the config has none)."""
        return options_of(cfg, self.config_cls)

    @abstractmethod
    def distill(self, ctx: DistillContext) -> list[Distilled]:
        """Return ``cfg.ipc * cfg.classes`` images."""


def options_of(cfg: DataDistillConfig, cls: type[OptT]) -> OptT:
    if cfg.options is None:
        return cls()
    if not isinstance(cfg.options, cls):
        raise ConfigError(f"method {cfg.method}: options are a {type(cfg.options).__name__}, expected "
                          f"{cls.__name__} (build the config with load_datadistill_config)")
    return cfg.options


DISTILLERS: Registry[type[DatasetDistiller]] = Registry(
    "dataset-distillation method", builtins="sr_compress.compress.datadistill.builtin"
)
register_distiller = DISTILLERS.add_named  # class decorator: registers ``cls`` under ``cls.name``
get_distiller = DISTILLERS.get
list_distillers = DISTILLERS.sorted_names
