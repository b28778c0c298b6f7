"""The backend registry drives the CLI, the manifest check and serve; export failures on a bad --out."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import click
import pytest

from sr_compress.backends import (
    BACKENDS,
    declared,
    eval_suffixes,
    export_backends,
    read_manifest,
    serve_preference,
)
from sr_compress.errors import ExportError, MissingDependency, UserInputError
from sr_compress.runtime.manifest import ArtifactEntry, Manifest


def _options(cmd: click.Command) -> dict[str, click.Parameter]:
    return {opt: p for p in cmd.params for opt in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}


def _choices(cmd: click.Command, opt: str) -> list[str]:
    param = _options(cmd)[opt]
    assert isinstance(param.type, click.Choice), f"{cmd.name} {opt} is not a choice"
    return list(param.type.choices)


def test_every_registered_backend_is_reachable_from_the_cli() -> None:
    from sr_compress.cli.bench import command as bench
    from sr_compress.cli.export import command as export
    from sr_compress.cli.validate import command as validate
    from sr_compress.serve.cli import command as serve

    export_opts = _options(export)
    assert {"onnxruntime", "openvino", "tensorrt", "triton", "ncnn", "torch"} <= set(BACKENDS.names())
    for b in declared():
        assert b.name in BACKENDS  # available or a Missing entry with a hint
        if b in export_backends():
            assert b.flags(), f"backend {b.name} exports but names no flag"
            for flag in b.flags():
                assert flag in export_opts, f"backend {b.name}: {flag} missing from 'sr-compress export'"
        if b.runs_artifacts:
            for cmd, opt in ((validate, "--backend"), (bench, "--backend"), (serve, "--backend")):
                assert b.name in _choices(cmd, opt), f"backend {b.name} not in {cmd.name} {opt}"
    assert {"openvino", "onnxruntime", "ncnn"} <= set(serve_preference())
    assert ".onnx" in eval_suffixes() and ".xml" in eval_suffixes() and ".pth" not in eval_suffixes()


def test_missing_dependency_is_listed_with_its_hint() -> None:
    missing = {m.name: m.hint for m in BACKENDS.missing()}
    if "tensorrt" not in missing:
        pytest.skip("TensorRT is installed here")
    assert "pip install" in missing["tensorrt"]
    with pytest.raises(MissingDependency, match="TensorRT"):
        BACKENDS.get("tensorrt")


def test_manifest_backend_names_and_provenance(tmp_path: Path) -> None:
    m = Manifest(arch="edsr", scale=2, size_requirements={}, provenance={"qat": {"epochs": 1}},
                 artifacts=[ArtifactEntry("x", "model.onnx", "onnxruntime", "int8", provenance={"by": "nncf"})])
    m.write(tmp_path)
    back = read_manifest(tmp_path)
    assert back.provenance == {"qat": {"epochs": 1}} and back.artifacts[0].provenance == {"by": "nncf"}
    raw = json.loads((tmp_path / "manifest.json").read_text())
    raw["artifacts"][0]["backend"] = "nosuchruntime"
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(UserInputError, match="unknown backend 'nosuchruntime'"):
        read_manifest(tmp_path)


def test_export_to_an_unwritable_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sr_compress.export import ExportOptions, export_model
    from sr_compress.export import build as build_mod
    from sr_compress.models.students import build_student

    desc = build_student("edsr:c8b1", 2)
    with pytest.raises(ExportError, match=r"/dev/null is a file, not a folder") as err:
        export_model(desc, "/dev/null/x/out", ExportOptions())  # a path under a file: fails even as root
    assert "\n" not in str(err.value)
    ro = tmp_path / "ro"
    ro.mkdir()
    def read_only(**kwargs: object) -> str:  # root ignores chmod, so the refusal is simulated
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(build_mod.tempfile, "mkdtemp", read_only)
    with pytest.raises(ExportError, match=r"cannot write to .*ro \(Permission denied\)"):
        export_model(desc, ro / "out", ExportOptions())
    monkeypatch.undo()
    ro.rmdir()

    def full(*a: object, **k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(build_mod, "_build", full)
    with pytest.raises(ExportError, match=r"disk holding .* is full"):
        export_model(desc, tmp_path / "out", ExportOptions())
    assert list(tmp_path.iterdir()) == []  # the partial folder is gone


def test_unknown_target_and_nothing_selected() -> None:
    from sr_compress.export import ExportOptions, export_model
    from sr_compress.models.students import build_student

    desc = build_student("edsr:c8b1", 2)
    with pytest.raises(UserInputError, match="unknown backend 'nope'"):
        export_model(desc, "/tmp/unused", ExportOptions(targets={"nope": ["fp32"]}))
    with pytest.raises(UserInputError, match="nothing to export: .*--ncnn"):
        export_model(desc, "/tmp/unused", ExportOptions(onnx=False))
    with pytest.raises(UserInputError, match="ncnn precisions"):
        export_model(desc, "/tmp/unused", ExportOptions(targets={"ncnn": ["int8"]}))
