"""``sr-compress export --triton``: a real export turned into a Triton repo whose config matches the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from sr_compress.cli import cli, run_cli
from sr_compress.export.manifest import read_manifest
from sr_compress.export.triton import TRITON_DATA_TYPES, parse_config

pytestmark = pytest.mark.integration


def _dims(v: onnx.ValueInfoProto) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]


def test_export_cli_writes_a_triton_repo_matching_the_onnx_graph(
    student_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, repo = tmp_path / "export", tmp_path / "triton"
    assert run_cli(cli, ["export", str(student_ckpt), "--out", str(out), "--tile", "32", "--triton", str(repo)]) == 0
    assert f"triton model repository: {repo / 'edsr_x4'}" in capsys.readouterr().out
    manifest = read_manifest(out)
    model_dir = repo / "edsr_x4"
    assert sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()) == [
        "1/model.onnx", "config.pbtxt"]
    onnx_path = manifest.path_of(manifest.artifact("onnx-fp32"))
    assert (model_dir / "1" / "model.onnx").read_bytes() == onnx_path.read_bytes()

    cfg = parse_config((model_dir / "config.pbtxt").read_text())
    graph = onnx.load(str(onnx_path)).graph
    inits = {i.name for i in graph.initializer}
    g_in = next(i for i in graph.input if i.name not in inits)
    g_out = graph.output[0]
    assert cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 8
    assert (cfg.input[0].name, cfg.output[0].name) == (g_in.name, g_out.name)
    for t, g in ((cfg.input[0], g_in), (cfg.output[0], g_out)):
        assert t.data_type == TRITON_DATA_TYPES["TYPE_FP32"] and g.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert _dims(g)[0] == -1  # max_batch_size > 0 is only valid over a dynamic batch axis
        assert list(t.dims) == _dims(g)[1:] and list(t.dims)[0] == 3
    assert list(cfg.input[0].dims)[1:] == [-1, -1]
    assert cfg.instance_group[0].kind == 2  # KIND_CPU: an ONNX-only export from a CPU machine
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8]
    params = {k: v.string_value for k, v in cfg.parameters.items()}
    assert params == {"sr_compress.tile": "32", "sr_compress.scale": "4", "sr_compress.arch": "edsr",
                      "sr_compress.multiple_of": str(manifest.requirements.multiple_of)}

    # what Triton would send: a full batch of tile x tile LR tiles into the repo's own model file
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((cfg.max_batch_size, 3, 32, 32), dtype=np.float32)
    (y,) = sess.run([cfg.output[0].name], {cfg.input[0].name: x})
    assert y.shape == (cfg.max_batch_size, 3, 32 * 4, 32 * 4)


def test_export_cli_triton_without_onnx_is_one_clear_error(
    student_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(cli, ["export", str(student_ckpt), "--out", str(tmp_path / "e"), "--no-onnx", "--openvino",
                         "--triton", str(tmp_path / "repo")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --triton needs the ONNX artifact: drop --no-onnx"
    assert not (tmp_path / "repo").exists()
