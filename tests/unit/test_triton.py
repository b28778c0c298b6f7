"""Triton model repository: layout, config.pbtxt parsed as a ModelConfig, dims checked against ONNX."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sr_compress.errors import ExportError, UserInputError
from sr_compress.export.manifest import ArtifactEntry, Manifest
from sr_compress.export.triton import TRITON_DATA_TYPES, model_config_class, parse_config, write_triton_repo


def tiny_sr_onnx(path: Path, batch: int | str = "batch", hw: tuple[int | str, int | str] = ("h", "w"),
                 scale: int = 2) -> Path:
    """Conv(3 -> 3*s^2) + DepthToSpace: the smallest real x``scale`` SR graph."""
    c = 3 * scale * scale
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(c, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["lr", "w"], ["feat"], pads=[1, 1, 1, 1]),
             helper.make_node("DepthToSpace", ["feat"], ["sr"], blocksize=scale, mode="CRD")]
    out_hw = [d * scale if isinstance(d, int) else f"{d}_x{scale}" for d in hw]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("lr", TensorProto.FLOAT, [batch, 3, *hw])],
        [helper.make_tensor_value_info("sr", TensorProto.FLOAT, [batch, 3, *out_hw])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def graph_dims(path: Path) -> tuple[list[int], list[int]]:
    m = onnx.load(str(path))

    def dims(v: onnx.ValueInfoProto) -> list[int]:
        return [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]

    return dims(m.graph.input[0]), dims(m.graph.output[0])


def test_onnx_repo_layout_and_config_match_the_graph(tmp_path: Path) -> None:
    src = tiny_sr_onnx(tmp_path / "tiny.onnx")
    model_dir = write_triton_repo(src, tmp_path / "repo", name="tiny_x2", max_batch_size=8, tile=96, instances=2)
    assert model_dir == tmp_path / "repo" / "tiny_x2"
    assert (model_dir / "1" / "model.onnx").read_bytes() == src.read_bytes()
    cfg = parse_config((model_dir / "config.pbtxt").read_text())
    assert cfg.name == "tiny_x2" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 8
    g_in, g_out = graph_dims(src)
    fp32 = TRITON_DATA_TYPES["TYPE_FP32"]
    for t, g in ((cfg.input[0], g_in), (cfg.output[0], g_out)):
        assert t.data_type == fp32
        assert list(t.dims) == g[1:] == [3, -1, -1]  # batch dim left to max_batch_size
    assert [cfg.input[0].name, cfg.output[0].name] == ["lr", "sr"]
    assert list(cfg.dynamic_batching.preferred_batch_size) == [4, 8]
    assert cfg.dynamic_batching.max_queue_delay_microseconds > 0
    assert cfg.instance_group[0].count == 2
    assert cfg.instance_group[0].kind == 1  # KIND_GPU
    assert cfg.parameters["sr_compress.tile"].string_value == "96"


def test_export_dir_plan_and_static_tile(tmp_path: Path) -> None:
    exp = tmp_path / "export"
    exp.mkdir()
    tiny_sr_onnx(exp / "model.onnx", hw=(64, 64), scale=3)
    (exp / "model.plan").write_bytes(b"serialized-engine-bytes")
    Manifest(arch="edsr", scale=3, size_requirements={"minimum": 1, "multiple_of": 1}, artifacts=[
        ArtifactEntry("onnx-fp32", "model.onnx", "onnxruntime", "fp32"),
        ArtifactEntry("trt-fp16", "model.plan", "tensorrt", "fp16"),
    ]).write(exp)
    model_dir = write_triton_repo(exp, tmp_path / "repo", kind="plan", tile=64, max_batch_size=4)
    assert model_dir.name == "edsr_x3"
    assert (model_dir / "1" / "model.plan").read_bytes() == b"serialized-engine-bytes"
    cfg = parse_config((model_dir / "config.pbtxt").read_text())
    assert cfg.platform == "tensorrt_plan"
    assert list(cfg.input[0].dims) == [3, 64, 64] and list(cfg.output[0].dims) == [3, 192, 192]
    assert cfg.parameters["sr_compress.scale"].string_value == "3"
    with pytest.raises(ExportError, match="does not match tile"):
        write_triton_repo(exp, tmp_path / "repo2", tile=128)
    cpu = write_triton_repo(exp, tmp_path / "repo3", tile=64, device="cpu")
    assert parse_config((cpu / "config.pbtxt").read_text()).instance_group[0].kind == 2  # KIND_CPU


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    fixed = tiny_sr_onnx(tmp_path / "fixed.onnx", batch=1)
    with pytest.raises(ExportError, match="batch dimension is fixed"):
        write_triton_repo(fixed, tmp_path / "r")
    assert write_triton_repo(fixed, tmp_path / "r", max_batch_size=0).is_dir()
    with pytest.raises(UserInputError, match="does not exist"):
        write_triton_repo(tmp_path / "missing.onnx", tmp_path / "r")
    with pytest.raises(UserInputError, match="kind"):
        write_triton_repo(fixed, tmp_path / "r", kind="savedmodel")
    with pytest.raises(ExportError, match="does not parse"):
        parse_config('name: "x"\nmax_batch_size: "eight"\n')
    with pytest.raises(ExportError):
        parse_config("no_such_field: 1\n")
    assert model_config_class()().DESCRIPTOR.full_name == "inference.ModelConfig"
