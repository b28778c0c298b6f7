"""Typed YAML configs: unknown keys named, type errors named, dotted overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from sr_compress.config import apply_overrides, from_dict, load_config, read_yaml, to_dict
from sr_compress.errors import ConfigError


@dataclass
class Train:
    lr: float = 1e-3
    iterations: int = 100
    betas: tuple[float, float] = (0.9, 0.99)
    amp: bool = False


@dataclass
class Cfg:
    name: str = "run"
    scale: int = 4
    mode: Literal["fast", "full"] = "fast"
    data: list[str] = field(default_factory=list)
    tile: int | None = None
    train: Train = field(default_factory=Train)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")


def test_defaults_and_nested():
    cfg = from_dict(Cfg, {"train": {"lr": "2e-4", "iterations": 5.0}, "data": "a, b"})
    assert cfg.train.lr == 2e-4 and cfg.train.iterations == 5 and isinstance(cfg.train.iterations, int)
    assert cfg.data == ["a", "b"] and cfg.train.betas == (0.9, 0.99)
    assert to_dict(cfg)["train"]["betas"] == [0.9, 0.99]


def test_unknown_key_is_named_with_its_path():
    with pytest.raises(ConfigError, match=r"x.yaml: unknown key 'train.lrr' \(known: amp, betas, iterations, lr\)"):
        from_dict(Cfg, {"train": {"lrr": 1}}, src="x.yaml")
    with pytest.raises(ConfigError, match="unknown key 'nmae'"):
        from_dict(Cfg, {"nmae": "x"})


@pytest.mark.parametrize(
    "data, message",
    [
        ({"scale": "four"}, "'scale' must be an integer"),
        ({"scale": 2.5}, "'scale' must be an integer"),
        ({"scale": True}, "'scale' must be an integer"),
        ({"train": {"lr": "fast"}}, "'train.lr' must be a number"),
        ({"train": {"amp": "maybe"}}, "'train.amp' must be true/false"),
        ({"train": {"betas": [0.9]}}, "'train.betas' needs 2 items"),
        ({"mode": "slow"}, r"'mode' must be one of \['fast', 'full'\]"),
        ({"train": 3}, "'train' must be a mapping"),
        ({"name": ["a"]}, "'name' must be a string"),
        ({"tile": "big"}, "'tile' must be an integer"),
        ({"scale": 5}, "scale must be 2, 3 or 4"),
    ],
)
def test_type_errors_are_named(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Cfg, data, src="c.yaml")


def test_optional_and_bool_strings():
    assert from_dict(Cfg, {"tile": None}).tile is None
    assert from_dict(Cfg, {"tile": "128"}).tile == 128
    assert from_dict(Cfg, {"train": {"amp": "yes"}}).train.amp is True


def test_overrides():
    base = {"train": {"lr": 1.0, "iterations": 3}, "name": "a"}
    out = apply_overrides(base, {"train.lr": 0.5, "train.new.deep": 1, "name": None, "scale": 2})
    assert out == {"train": {"lr": 0.5, "iterations": 3, "new": {"deep": 1}}, "name": "a", "scale": 2}
    assert base["train"]["lr"] == 1.0  # input not mutated


def test_load_config_file_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: demo\ntrain:\n  iterations: 10\n")
    cfg = load_config(Cfg, p, {"train.iterations": "20", "scale": 2})
    assert cfg.name == "demo" and cfg.train.iterations == 20 and cfg.scale == 2
    with pytest.raises(ConfigError, match="command line: unknown key 'train.oops'"):
        load_config(Cfg, None, {"train.oops": 1})
    assert load_config(Cfg, None).scale == 4


def test_read_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        read_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        read_yaml(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        read_yaml(lst)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_yaml(empty) == {}


def test_pdd_student_defaults_to_a_copy_of_the_teacher() -> None:
    from sr_compress.compress.engine import load_distill_config

    cfg = load_distill_config(None, {"method": "pdd", "teacher": "g.pth", "data.path": ["hr"]})
    assert cfg.student == "teacher"
    cfg = load_distill_config(None, {"method": "pdd", "teacher": "g.pth", "data.path": ["hr"], "student": "srvgg:c8b2"})
    assert cfg.student == "srvgg:c8b2"
    assert load_distill_config(None, {"method": "kd", "teacher": "t.pth", "data.path": ["hr"]}).student == "edsr:c32b4"
