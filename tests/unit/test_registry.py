"""The generic Registry[T], and what every registry built on it promises."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from sr_compress.errors import MissingDependency, UserInputError
from sr_compress.registry import Missing, Registry

PKG = Path(__file__).resolve().parents[2] / "sr_compress"


def test_order_duplicates_and_unknown_names() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("b", 2)
    reg.register("a")(1)
    assert reg.names() == ["b", "a"] and list(reg.items()) == [("b", 2), ("a", 1)]
    assert reg.sorted_names() == ["a", "b"]
    named = type("Named", (), {"name": "c"})
    assert reg.add_named(named) is named and reg.get("c") is named
    assert "a" in reg and "z" not in reg and len(reg) == 3 and reg.get("a") == 1
    with pytest.raises(ValueError, match="widget 'a' registered twice"):
        reg.add("a", 3)
    with pytest.raises(UserInputError, match=r"unknown widget 'z' \(known: b, a, c\)"):
        reg.get("z")
    reg.remove("a")
    assert reg.names() == ["b", "c"]


def test_missing_entries_are_listed_and_say_what_to_install() -> None:
    reg: Registry[int] = Registry("backend")
    reg.add_missing("trt", "TensorRT is not installed: pip install 'sr-compress[gpu]'")
    assert reg.names() == ["trt"] and reg.names(include_missing=False) == [] and list(reg.items()) == []
    assert reg.missing() == [Missing("trt", "TensorRT is not installed: pip install 'sr-compress[gpu]'")]
    with pytest.raises(MissingDependency, match=r"backend 'trt' is not available: TensorRT .*\[gpu\]"):
        reg.get("trt")
    reg.add("trt", 1)  # the real item replaces its placeholder
    assert reg.get("trt") == 1


def test_builtins_load_lazily_once_even_when_they_read_the_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "toy_builtins.py").write_text(
        "from tests.unit.test_registry import REG\nREG.add('one', 1)\nassert 'one' in REG\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(globals(), "REG", Registry("thing", builtins="toy_builtins"))
    reg = globals()["REG"]
    assert "toy_builtins" not in sys.modules
    assert reg.names() == ["one"] and reg.names() == ["one"]
    sys.modules.pop("toy_builtins", None)


# ----------------------------------------------------------------------------- built-in lists
def _listed(builtins: str, folder: Path, package: str) -> None:
    """Every implementation module in ``folder`` is imported by the built-ins module."""
    importlib.import_module(builtins)
    files = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert {f for f in files if f"{package}.{f}" not in sys.modules} == set(), f"add them to {builtins}"


def test_every_arch_module_is_in_the_builtin_list() -> None:
    _listed("sr_compress.models.builtin_archs", PKG / "models" / "archs", "sr_compress.models.archs")


def test_every_method_module_is_in_the_builtin_list() -> None:
    _listed("sr_compress.compress.builtin_methods", PKG / "compress" / "methods", "sr_compress.compress.methods")


def test_detectors_of_one_tier_are_disjoint() -> None:
    """Detection order only matters across tiers (models/registry.py): within one, at most one
    detector accepts each family's state dict, so the order never changes a result."""
    from sr_compress.models.registry import get_arch, iter_archs

    from .test_models import SMALL

    for name, hp in SMALL.items():
        sd = get_arch(name).from_hparams(dict(hp)).state_dict()
        tiers = [s.priority for s in iter_archs() if s.detect(sd)]
        assert len(tiers) == len(set(tiers)), (name, [s.name for s in iter_archs() if s.detect(sd)])


def test_degradations_follow_the_protocol() -> None:
    import numpy as np
    import torch

    from sr_compress.data.degradation_registry import Degradation, build_degradation, list_degradations

    assert list_degradations()[0] == "realesrgan"  # the training default comes first
    hr = torch.rand(3, 16, 16)
    for name in list_degradations():
        deg = build_degradation(name, 2)
        assert isinstance(deg, Degradation) and deg.scale == 2
        lr = deg(hr, np.random.default_rng(0))
        assert lr.shape == (3, 8, 8) and 0 <= float(lr.min()) and float(lr.max()) <= 1
    with pytest.raises(UserInputError, match="unknown degradation 'nope'"):
        build_degradation("nope", 2)
