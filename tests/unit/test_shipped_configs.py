"""Every YAML recipe we ship parses with the typed config it is meant for (no drift, no typos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_compress.compress.datadistill.common import get_distiller, load_datadistill_config
from sr_compress.compress.engine import load_distill_config
from sr_compress.config import read_yaml
from sr_compress.evaluate.gate import load_spec
from sr_compress.pipeline.runner import load_pipeline_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# what a command line or a pipeline adds to a recipe (recipes name no machine-specific paths)
FILLED = {"teacher": "teacher.pth", "data.path": ["images"]}


def _names(folder: str) -> list[str]:
    return sorted(p.name for p in (CONFIGS / folder).glob("*.yaml"))


@pytest.mark.parametrize("name", _names("distill"))
def test_distill_recipes_load(name: str) -> None:
    cfg = load_distill_config(CONFIGS / "distill" / name, FILLED)
    assert cfg.scale in (2, 3, 4)


@pytest.mark.parametrize("name", _names("pipeline"))
def test_pipeline_configs_load_with_their_recipes(name: str) -> None:
    cfg = load_pipeline_config(CONFIGS / "pipeline" / name)
    if cfg.distill.config:
        assert Path(cfg.distill.config).is_file(), cfg.distill.config
        overrides = {**FILLED, **cfg.distill.overrides}
        if cfg.distill.method:
            overrides["method"] = cfg.distill.method
        load_distill_config(cfg.distill.config, overrides)
    if cfg.gate:
        load_spec(cfg.gate)
    if cfg.datadistill.method:
        load_datadistill_config({**cfg.datadistill.options, "method": cfg.datadistill.method,
                                 "data": ["x"], "scale": cfg.scale}, src=name)
        get_distiller(cfg.datadistill.method)


@pytest.mark.parametrize("name", _names("gates"))
def test_gate_specs_load(name: str) -> None:
    load_spec(CONFIGS / "gates" / name)


@pytest.mark.parametrize("name", _names("datadistill"))
def test_datadistill_configs_load(name: str) -> None:
    raw = read_yaml(CONFIGS / "datadistill" / name)
    raw.setdefault("data", ["x"])
    cfg = load_datadistill_config(raw, src=name)  # a typo (method: gssd) is an unknown distiller
    assert isinstance(cfg.options, get_distiller(cfg.method).config_cls)
