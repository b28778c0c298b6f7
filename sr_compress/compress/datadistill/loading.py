"""Build a :class:`~.config.DataDistillConfig` from YAML / options: the common keys, then the chosen
method's section validated by the dataclass its distiller declares (see :mod:`.config`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ...config import from_dict
from ...errors import ConfigError
from .base import DISTILLERS, get_distiller
from .config import ALIASES, DataDistillConfig

COMMON_KEYS = frozenset(f.name for f in fields(DataDistillConfig)) - {"options"}


def load_datadistill_config(raw: dict[str, Any], src: str = "config") -> DataDistillConfig:
    """Common keys + the chosen method's section, each validated by its own dataclass."""
    raw = dict(raw)
    if "options" in raw:
        raise ConfigError(f"{src}: unknown key 'options' (put the method's keys under a section named after it)")
    method = str(raw.get("method", DataDistillConfig.method))
    method = ALIASES.get(method, method)
    cls = get_distiller(method).config_cls
    own = {f.name for f in fields(cls)}
    sections = set(DISTILLERS.names()) | set(ALIASES)
    section: dict[str, Any] = {}
    for key in [k for k in raw if k in sections]:
        value = raw.pop(key)
        if ALIASES.get(key, key) != method:
            raise ConfigError(f"{src}: section '{key}' is for --method {ALIASES.get(key, key)}, "
                              f"but method is {method}: remove it or change method")
        if not isinstance(value, dict):
            raise ConfigError(f"{src}: '{key}' must be a mapping of {method}'s keys ({', '.join(sorted(own))})")
        section.update(value)
    for key in [k for k in raw if k not in COMMON_KEYS and k in own]:
        if key in section:
            raise ConfigError(f"{src}: '{key}' is given twice (top level and in section '{method}'): keep one")
        section[key] = raw.pop(key)
    unknown = sorted(set(raw) - COMMON_KEYS)
    if unknown:
        raise ConfigError(f"{src}: unknown key '{unknown[0]}' for method {method} (common keys: "
                          f"{', '.join(sorted(COMMON_KEYS))}; {method} keys: {', '.join(sorted(own)) or 'none'})")
    cfg = from_dict(DataDistillConfig, raw, src=src)
    cfg.options = from_dict(cls, section, src=src, prefix=f"{method}.")
    return cfg
