"""ncnn round trip: export a tiny model with pnnx, run it with the ncnn runtime, compare with PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ncnn")
pytest.importorskip("pnnx")


@pytest.fixture(scope="module")
def ncnn_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    from sr_compress.export import ExportOptions, export_model
    from sr_compress.models.students import build_student

    torch.manual_seed(0)
    desc = build_student("srvgg:c8b1", 2)
    out = tmp_path_factory.mktemp("ncnn") / "e"
    export_model(desc, out, ExportOptions(onnx=False, targets={"ncnn": ["fp32", "fp16"]}, keep_reference=False))
    return desc, out


@pytest.mark.parametrize("precision,tol", [("fp32", 1e-4), ("fp16", 5e-3)])
def test_round_trip_matches_pytorch_at_an_untraced_size(ncnn_export: tuple, precision: str, tol: float) -> None:
    from sr_compress.runtime.manifest import read_manifest
    from sr_compress.runtime.runners import make_runner

    desc, out = ncnn_export
    m = read_manifest(out)
    assert [a.name for a in m.artifacts] == ["ncnn-fp32", "ncnn-fp16"] and not (out / "model.onnx").exists()
    entry = m.artifact(f"ncnn-{precision}")
    assert entry.settings["converter"] == "pnnx" and entry.files == [entry.path, entry.path[:-6] + ".bin"]
    assert "ncnn" in m.tools and not m.verify()
    runner = make_runner(entry, manifest=m, threads=1)
    assert (runner.info.backend, runner.info.scale, runner.info.extra["threads"]) == ("ncnn", 2, 1)
    x = np.random.default_rng(0).random((2, 3, 23, 37), dtype=np.float32)  # neither traced shape, batch 2
    with torch.no_grad():
        ref = desc.model(torch.from_numpy(x)).numpy()
    y = runner.run(x)
    assert y.shape == ref.shape and float(np.abs(y - ref).max()) < tol
    # a bare .param path is recognised by its suffix
    assert make_runner(out / entry.path, threads=1).info.backend == "ncnn"


def test_truncated_weights_are_one_line(ncnn_export: tuple, tmp_path: Path) -> None:
    from sr_compress.backends.ncnn import NcnnRunner
    from sr_compress.errors import UserInputError

    _desc, out = ncnn_export
    param = out / "ncnn" / "model.fp32.param"
    (tmp_path / "m.param").write_bytes(param.read_bytes())
    with pytest.raises(UserInputError, match="m.bin is missing"):
        NcnnRunner(tmp_path / "m.param")
    (tmp_path / "m.bin").write_bytes(param.with_suffix(".bin").read_bytes()[:100])
    with pytest.raises(UserInputError, match="could not read the weights"):
        NcnnRunner(tmp_path / "m.param")
