"""benchmarks/_common.py: the plumbing every benchmark script shares (arguments, data root, work
folders, statistics, RESULTS.md sections), and the rules the scripts that use it keep."""

from __future__ import annotations

import argparse
import ast
import json
import math
from pathlib import Path

import _common  # benchmarks/ is on sys.path (tests/conftest.py), as for a script run from there
import _results
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
# the scripts that are on _common (the others are being moved by their owners)
ON_COMMON = ["eval_weights", "export_cpu", "ncnn_import", "serve_load", "upscale_throughput"]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    _common.add_run_args(ap, "toy_section", threads=1)
    _common.add_data_args(ap)
    _common.add_seed_args(ap)
    _common.add_work_args(ap, Path("/tmp/toy_work"))
    return ap


def test_shared_arguments_parse_with_their_defaults_and_aliases(tmp_path: Path) -> None:
    a = _parser().parse_args([])
    assert (a.threads, a.section, a.no_update, a.json, a.data_root) == (1, "toy_section", False, None, None)
    assert a.seeds == [0, 1, 2] and a.work == Path("/tmp/toy_work") and not a.overwrite
    a = _parser().parse_args(["--no-results", "--seeds", "3,4", "--json", str(tmp_path / "x.json"),
                              "--data-root", str(tmp_path), "--overwrite"])
    assert a.no_update and a.seeds == [3, 4] and a.json == tmp_path / "x.json" and a.overwrite
    assert a.data_root == tmp_path


def test_a_script_without_a_budget_has_no_budget_flag() -> None:
    ap = argparse.ArgumentParser()
    _common.add_run_args(ap, "timed_phases", budget=False)
    a = ap.parse_args(["--threads", "1"])
    assert not hasattr(a, "budget_s") and _common.start(a).budget_s is None


@pytest.mark.parametrize("text", ["1,x", "a"])
def test_bad_seed_list_is_one_argparse_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(["--seeds", text])
    assert e.value.code == 2 and "comma-separated integers" in capsys.readouterr().err


def test_list_and_size_parsers() -> None:
    assert _common.str_list(" Set5, Set14 ,,") == ["Set5", "Set14"]
    assert _common.int_list("0, 1,2") == [0, 1, 2]
    assert _common.size_hw("128x96") == (128, 96)
    with pytest.raises(argparse.ArgumentTypeError, match="HEIGHTxWIDTH"):
        _common.size_hw("128")


def test_data_root_follows_option_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SR_COMPRESS_SHARED_DATA", str(tmp_path / "env"))
    try:
        assert _common.data_root() == tmp_path / "env"
        budget = _common.start(_parser().parse_args(["--data-root", str(tmp_path / "opt"), "--threads", "1"]))
        assert _common.shared("weights", "a.pth") == tmp_path / "opt" / "weights" / "a.pth"
        assert budget.budget_s is None and not budget.spent()
    finally:
        _common.set_data_root(None)
    assert _common.data_root() == tmp_path / "env"
    monkeypatch.delenv("SR_COMPRESS_SHARED_DATA")
    assert _common.data_root() == _common.REPO.parent / "shared" / "data"


def test_work_dir_never_deletes_without_overwrite(tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert _common.work_dir(work, overwrite=False) == work and work.is_dir()
    (work / "earlier.txt").write_text("a previous run")
    with pytest.raises(SystemExit, match="--overwrite"):
        _common.work_dir(work, overwrite=False)
    assert (work / "earlier.txt").is_file()
    _common.work_dir(work, overwrite=True)
    assert work.is_dir() and not any(work.iterdir())
    (work / "a" / "b").mkdir(parents=True)
    _common.discard(work / "a")
    assert not (work / "a").exists()
    (tmp_path / "mine").mkdir()
    for outside in (tmp_path / "mine", work):  # not made inside a prepared folder: refused
        with pytest.raises(ValueError, match="work_dir"):
            _common.discard(outside)
        assert outside.is_dir()


def test_statistics_mean_std_and_paired_difference() -> None:
    assert _common.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert _common.mean_std([5.0]) == (5.0, 0.0)
    assert all(math.isnan(v) for v in _common.mean_std([]))
    # the pairing removes the seed-to-seed spread both sides share
    m, s = _common.paired_diff([30.0, 31.0, 32.0], [29.9, 30.9, 31.9])
    assert m == pytest.approx(0.1) and s == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="as many"):
        _common.paired_diff([1.0], [1.0, 2.0])
    assert _common.pm([1.0, 2.0, 3.0]) == "2.00 ± 1.00 (n=3)" and _common.pm([1.234], digits=1) == "1.2"


def test_sections_json_and_no_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_results, "RESULTS_MD", tmp_path / "RESULTS.md")
    monkeypatch.setattr(_results, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(_common, "RESULTS_DIR", tmp_path / "results")
    args = _parser().parse_args([])
    _common.write_results(args, "first", {"v": 1})
    _common.write_section(args, "other", "kept", None)
    _common.write_results(args, "second", {"v": 2})
    text = (tmp_path / "RESULTS.md").read_text()
    assert "second" in text and "first" not in text and "kept" in text
    assert _common.read_results("toy_section") == {"v": 2} and _common.read_results("absent") is None
    args = _parser().parse_args(["--no-update", "--json", str(tmp_path / "out" / "r.json")])
    _common.write_results(args, "third", {"v": 3})
    assert "third" not in (tmp_path / "RESULTS.md").read_text()
    assert json.loads((tmp_path / "out" / "r.json").read_text())["data"] == {"v": 3}
    assert "third" in capsys.readouterr().out


def test_render_fills_a_template_and_names_a_missing_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "toy.md").write_text("## {title}\n\nrows: {n}\n\n")
    monkeypatch.setattr(_common, "TEMPLATES", tmp_path)
    assert _common.render("toy", title="T", n=3) == "## T\n\nrows: 3"
    with pytest.raises(KeyError, match="n"):
        _common.render("toy", title="T")


def test_load_spec_builds_a_seeded_student() -> None:
    a, b = _common.load_spec("student:edsr:c8b1", 2), _common.load_spec("student:edsr:c8b1", 2)
    assert a.scale == 2 and a.arch == "edsr"
    assert all((x == y).all() for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


@pytest.mark.parametrize("name", ["_common", "_results", *ON_COMMON])
def test_script_keeps_the_house_rules(name: str) -> None:
    """No ``sys.path`` edit, no function over 80 lines, no ``rmtree`` outside ``work_dir``, and the
    script's Markdown prose in a template (the script renders one)."""
    src = (BENCH / f"{name}.py").read_text()
    tree = ast.parse(src)
    assert not [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "path"
                and isinstance(n.value, ast.Name) and n.value.id == "sys"], "edits sys.path"
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in _functions(tree)
            if f.end_lineno - f.lineno + 1 > 80]
    assert not long, long
    if name in ON_COMMON:
        assert "from _common import" in src and "rmtree" not in src
        assert "render(" in src


@pytest.mark.parametrize("name", ON_COMMON)
def test_script_help_shows_the_shared_groups(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    mod = __import__(name)
    with pytest.raises(SystemExit) as e:
        mod.parse(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--threads" in out and "--no-update" in out and "--data-root" in out


def test_every_template_is_rendered_by_a_script() -> None:
    scripts = "".join(p.read_text() for p in BENCH.glob("*.py"))
    unused = [p.stem for p in (BENCH / "templates").glob("*.md") if f'"{p.stem}"' not in scripts]
    assert not unused, unused


def _committed(name: str) -> tuple[list[str], object]:
    """The table lines of section ``name`` in benchmarks/RESULTS.md and its results JSON."""
    text = (BENCH / "RESULTS.md").read_text()
    body = text.split(f"<!-- BEGIN {name} -->")[1].split(f"<!-- END {name} -->")[0]
    return [ln for ln in body.splitlines() if ln.startswith("|")], json.loads((BENCH / "results" / f"{name}.json").read_text())


def _rerender(name: str, data: dict) -> str:
    if name == "export_cpu":
        import export_cpu

        return export_cpu.report(data, export_cpu.parse([]), 60.0, [])
    if name == "ncnn_import":
        import ncnn_import

        args = ncnn_import.parse(["--crop", str(data["args"]["crop"]), "--realworld", data["args"]["realworld"]])
        args.eval_json = ["x"] if data["eval"] else []
        return ncnn_import.section(data["results"], data["eval"], args, data["validation"])
    if name == "upscale_throughput":
        import upscale_throughput

        t = data["throughput"]
        a = upscale_throughput.parse(["--export", "X", "--size", str(t["size"]), "--batch", str(t["batch"]),
                                      "--images", str(t["images"]), "--threads", str(t["threads"])])
        return upscale_throughput.report(a, t, data["video"])
    import serve_load

    saved = data["args"]
    a = serve_load.parse([f"--{k.replace('_', '-')}={v}" for k, v in saved.items()
                          if k not in ("model", "no_write", "checkpoint")])
    return serve_load.report(a, "rlfn_x4.pth", data["saturation"], data["mixed_and_sigterm"], data["hostile"], 1.0)


@pytest.mark.parametrize("name", ["export_cpu", "ncnn_import", "upscale_throughput", "serve_load"])
def test_templates_reproduce_the_committed_tables(name: str) -> None:
    """The sections rendered through templates/ from the committed JSON keep every table line the
    section in RESULTS.md has (prose moved out of the code, output unchanged)."""
    if not (BENCH / "results" / f"{name}.json").is_file():
        pytest.skip(f"benchmarks/results/{name}.json is not in this checkout")
    lines, data = _committed(name)
    rendered = _rerender(name, data).splitlines()
    missing = [ln for ln in lines if ln not in rendered]
    assert lines and not missing, missing[:3]


def test_command_line_names_the_nice_level_it_ran_at(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common.sys, "argv", ["datafree_table.py", "--seeds", "3"])
    monkeypatch.setattr(_common.os, "nice", lambda inc: 5)
    assert _common.command_line("datafree_table.py") == "nice -n 5 python benchmarks/datafree_table.py --seeds 3"
    monkeypatch.setattr(_common.os, "nice", lambda inc: 0)
    assert _common.command_line("x.py", prefix="py") == "py benchmarks/x.py --seeds 3"
