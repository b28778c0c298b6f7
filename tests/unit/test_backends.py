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


class _ToyRunner:
    """Nearest x2 that, like a fixed-stride artifact, only accepts sizes of at least 8 and a multiple of 4."""

    def __init__(self, fixed: tuple[int, int] | None = None) -> None:
        from sr_compress.runtime.base import RunnerInfo

        self.info = RunnerInfo(backend="toy", precision="fp32", scale=2, fixed_shape=fixed)
        self.seen: list[tuple[int, int]] = []

    def run(self, batch):  # noqa: ANN001, ANN201
        h, w = batch.shape[-2:]
        assert h >= 8 and w >= 8 and h % 4 == 0 and w % 4 == 0, f"toy artifact got {h}x{w}"
        self.seen.append((h, w))
        return batch.repeat(2, axis=-2).repeat(2, axis=-1)

    def close(self) -> None:
        pass


def _toy_backend(honours: tuple[str, ...], fixed: tuple[int, int] | None = None):  # noqa: ANN202
    from sr_compress.backends.base import Backend

    class Toy(Backend):
        name = "toy"
        suffixes = (".toy",)

        def runner(self, path, **kwargs):  # noqa: ANN001, ANN003, ANN201
            return _ToyRunner(fixed)

    Toy.honours = honours
    return Toy()


def test_unhonoured_size_requirements_are_padded_for_every_caller(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    import sr_compress.backends as backends_pkg
    from sr_compress.runtime.runners import make_runner

    toy = _toy_backend(("dynamic",))  # honours neither minimum nor multiple_of
    monkeypatch.setattr(backends_pkg, "get", lambda name: toy)
    (tmp_path / "m.toy").write_bytes(b"")
    m = Manifest(arch="toy", scale=2, size_requirements={"minimum": 8, "multiple_of": 4},
                 artifacts=[ArtifactEntry("toy-fp32", "m.toy", "toy", "fp32")], root=tmp_path)
    runner = make_runner(m.artifacts[0], manifest=m)  # what validate, bench, gate and serve call
    x = np.random.default_rng(0).random((1, 3, 5, 9), dtype=np.float32)
    y = runner.run(x)
    assert runner.inner.seen == [(8, 12)] and y.shape == (1, 3, 10, 18)  # padded, then cropped back
    np.testing.assert_array_equal(y, x.repeat(2, axis=-2).repeat(2, axis=-1))  # edge padding never leaks in
    assert runner.info.extra["padded_for"] == ["minimum", "multiple_of"]
    assert runner.info.size_requirements.minimum == 1  # callers may send any size now
    # a backend that honours them gets the runner as it is (the callers pad, as before)
    monkeypatch.setattr(backends_pkg, "get", lambda name: _toy_backend(("minimum", "multiple_of", "dynamic")))
    assert isinstance(make_runner(m.artifacts[0], manifest=m), _ToyRunner)


def test_unhonoured_requirements_that_padding_cannot_meet_are_refused(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sr_compress.backends.adapt import open_runner
    from sr_compress.export import ExportOptions, export_model
    from sr_compress.export import build as build_mod
    from sr_compress.models.registry import SizeRequirements
    from sr_compress.models.students import build_student

    req = SizeRequirements(minimum=8, multiple_of=4)
    with pytest.raises(UserInputError, match=r"backend toy: .*fixed input shape \(6, 6\).*minimum/multiple_of.*--tile"):
        open_runner(_toy_backend((), fixed=(6, 6)), tmp_path / "m.toy", size_requirements=req)
    # a backend that builds for one size (no "dynamic") refuses an illegal --tile before writing anything
    toy = _toy_backend(("minimum", "multiple_of"))
    monkeypatch.setattr(build_mod, "plan_export", lambda opts: [(toy, ["fp32"])])
    desc = build_student("srvgg:c8b1", 2)
    desc.size_requirements = req
    with pytest.raises(ExportError, match="backend toy .*does not honour dynamic sizes.*--tile 30 .*use --tile 32"):
        export_model(desc, tmp_path / "e", ExportOptions(tile=30))
    assert not (tmp_path / "e").exists()
