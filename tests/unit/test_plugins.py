"""Adding a method, an architecture or a dataset distiller is one file: the toys in tests/plugins/
register themselves on import, show up in the CLI, and pass the same generic tests as the
built-ins, without any other file knowing about them."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from sr_compress.cli import cli
from sr_compress.compress.base import METHODS, list_methods
from sr_compress.compress.datadistill.common import DISTILLERS, list_distillers
from sr_compress.data.degradation_registry import list_degradations
from sr_compress.models.registry import ARCHS

from . import test_datadistill, test_engine, test_models, test_registry

TOYS = {"tests.plugins.toy_method": METHODS, "tests.plugins.toy_arch": ARCHS,
        "tests.plugins.toy_distiller": DISTILLERS}


@pytest.fixture
def toys() -> Iterator[None]:
    for module, registry in TOYS.items():
        len(registry)  # built-ins first, as in a real session
        importlib.import_module(module)
    yield
    for module, registry in TOYS.items():
        registry.remove("toy")
        sys.modules.pop(module, None)


@pytest.fixture
def one_thread() -> Iterator[None]:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _choices(verb: str, option: str) -> list[str]:
    """The ``[a|b|c]`` list click prints after ``option`` in ``sr-compress VERB --help``."""
    out = CliRunner().invoke(cli, [verb, "--help"]).output
    m = re.search(re.escape(option) + r" \[([^\]]+)\]", out)
    assert m, out
    return m.group(1).split("|")


def test_every_registered_item_is_reachable_from_the_cli() -> None:
    assert _choices("distill", "--method") == list_methods()
    assert _choices("distill-data", "--method") == list_distillers()
    assert _choices("train", "--degradation") == list_degradations()


def test_every_registered_distiller_is_in_the_generic_output_test() -> None:
    marks = test_datadistill.test_output_manifest_and_storage_accounting.pytestmark
    covered = {v for m in marks if m.name == "parametrize" for v in m.args[1]}
    assert set(list_distillers()) <= covered


@pytest.mark.usefixtures("toys")
def test_toys_appear_in_the_cli(tmp_path: Path) -> None:
    from sr_compress.models.load import make_descriptor, save_model
    from sr_compress.models.registry import get_arch

    assert "toy" in _choices("distill", "--method")
    assert "toy" in _choices("distill-data", "--method")
    spec = get_arch("toy")
    hp = {"num_feat": 8, "scale": 2}
    save_model(make_descriptor(spec, spec.from_hparams(hp), hp, 2, "toy", None), tmp_path / "toy.pth")
    out = CliRunner().invoke(cli, ["info", str(tmp_path / "toy.pth")]).output
    assert re.search(r"architecture\s+toy\b", out), out


@pytest.mark.usefixtures("toys", "one_thread")
def test_toy_method_passes_the_generic_training_test(tmp_path: Path) -> None:
    test_engine.test_method_trains_and_loss_decreases(tmp_path, "toy")


@pytest.mark.usefixtures("toys")
def test_toy_arch_passes_the_generic_arch_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(test_models.SMALL, "toy", {"num_feat": 8, "scale": 2})
    test_models.test_build_detect_roundtrip("toy")
    test_models.test_every_builtin_arch_has_a_small_test_instance()
    test_registry.test_detectors_of_one_tier_are_disjoint()


@pytest.mark.usefixtures("toys", "one_thread")
def test_toy_distiller_passes_the_generic_output_test(tmp_path: Path) -> None:
    test_datadistill.test_output_manifest_and_storage_accounting(tmp_path, "toy")
