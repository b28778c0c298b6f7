"""Recipes ship inside the package and are accepted by name from any folder."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import tomllib

from sr_compress.cli import cli, run_cli
from sr_compress.errors import ConfigError
from sr_compress.recipes import KINDS, list_recipes, recipes_root, resolve_recipe

ROOT = Path(__file__).resolve().parents[2]


def test_importlib_resources_finds_every_kind() -> None:
    root = resources.files("sr_compress") / "configs"
    for kind in KINDS:
        assert (root / kind).is_dir(), kind
        assert list_recipes(kind), kind
    assert "dukd_x4" in list_recipes("distill") and "default" in list_recipes("gates")


def test_package_data_globs_cover_every_recipe() -> None:
    """The wheel holds what pyproject's package-data globs match (relative to the package)."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    pkg = ROOT / "sr_compress"
    matched = {p for pat in patterns["sr_compress"] for p in pkg.glob(pat)}
    shipped = set((pkg / "configs").rglob("*.yaml"))
    assert shipped and shipped <= matched, sorted(str(p) for p in shipped - matched)


def test_top_level_configs_is_the_packaged_folder() -> None:
    assert (ROOT / "configs").resolve() == recipes_root().resolve()


def test_names_and_checkout_paths_resolve_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    expected = recipes_root() / "distill" / "dukd_x4.yaml"
    for value in ("dukd_x4", "dukd_x4.yaml", "configs/distill/dukd_x4.yaml", "distill/dukd_x4"):
        assert resolve_recipe(value, "distill") == expected, value
    local = tmp_path / "mine.yaml"
    local.write_text("method: scratch\n")
    assert resolve_recipe("mine.yaml", "distill") == Path("mine.yaml")


def test_unknown_name_lists_the_recipes() -> None:
    with pytest.raises(ConfigError, match=r"dukd_x4.*smoke|smoke.*dukd_x4") as err:
        resolve_recipe("dukd_x5", "distill")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("argv", [
    ["distill", "--config", "nosuch", "--out", "o"],
    ["train", "--config", "nosuch", "--out", "o"],
    ["distill-data", "--config", "nosuch", "--out", "o"],
    ["pipeline", "nosuch"],
    ["gate", "x", "--spec", "nosuch"],
])
def test_every_verb_taking_a_config_lists_names(argv: list[str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(cli, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "recipes:" in err and "\n" not in err, err


def test_distill_takes_a_recipe_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sr_compress.compress.engine as engine

    seen: dict[str, object] = {}

    def fake_run(cfg: object, out: Path, **_k: object) -> None:
        seen["cfg"] = cfg
        raise ConfigError("stop here")

    monkeypatch.setattr(engine, "run_distillation", fake_run)
    monkeypatch.chdir(tmp_path)
    rc = run_cli(cli, ["distill", "--config", "smoke", "--method", "scratch", "--data", str(tmp_path),
                       "--out", str(tmp_path / "o")])
    assert rc == 2 and getattr(seen["cfg"], "method", None)
