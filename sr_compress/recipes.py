"""The recipes shipped inside the package (``sr_compress/configs/<kind>/<name>.yaml``).

Every verb that takes a config accepts either a path or a recipe name (``--config dukd_x4``), so
the recipes work from any folder and from an installed wheel, not only from a checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ConfigError

KINDS = ("distill", "datadistill", "gates", "pipeline", "train")


def recipes_root() -> Path:
    """The packaged ``configs`` folder (a real directory: the package is never zipped)."""
    return Path(str(resources.files("sr_compress") / "configs"))


def list_recipes(kind: str) -> list[str]:
    folder = recipes_root() / kind
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def resolve_recipe(value: str | Path, kind: str | tuple[str, ...], option: str = "--config") -> Path:
    """``value`` as a path when it exists, else a shipped recipe of ``kind`` by name (``dukd_x4``,
    ``dukd_x4.yaml`` or ``distill/dukd_x4``); otherwise one line listing the names."""
    p = Path(value).expanduser()
    if p.is_file():
        return p
    kinds = (kind,) if isinstance(kind, str) else kind
    name = p.name[:-5] if p.name.endswith(".yaml") else p.name
    for k in kinds:
        # a name, or a path written relative to the checkout (configs/distill/x.yaml) used elsewhere
        if p.parent.name in ("", ".", k) and name in list_recipes(k):
            return recipes_root() / k / f"{name}.yaml"
    names = ", ".join(n for k in kinds for n in list_recipes(k))
    raise ConfigError(f"{option} {value}: no such file and no shipped recipe of that name (recipes: {names})")
