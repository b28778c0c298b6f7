"""The ONNX Runtime session runs a QDQ graph's float weights in float (QAT --keep-float)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from sr_compress.backends.onnxruntime import session  # noqa: E402


def _qdq_conv_with_float_weight(path: Path) -> None:
    """x -> Q/DQ (u8) -> Conv(float weight) -> Q/DQ (u8): a conv QAT left in float between quantizers."""
    w = np.full((1, 1, 3, 3), 0.01, np.float32)
    w[0, 0, 1, 1] = 4.0  # one large tap: per-tensor INT8 rounds the small ones to 0 or 0.03
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(1, np.float32), "b")]
    for name, scale, zp in (("in", 1 / 255, 0), ("out", 1 / 50, 0)):
        inits += [numpy_helper.from_array(np.array(scale, np.float32), f"{name}_s"),
                  numpy_helper.from_array(np.array(zp, np.uint8), f"{name}_z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "in_s", "in_z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "in_s", "in_z"], ["xd"]),
             helper.make_node("Conv", ["xd", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "out_s", "out_z"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "out_s", "out_z"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 16, 16])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_float_weights_between_quantizers_stay_float(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _qdq_conv_with_float_weight(path)
    x = np.random.default_rng(0).random((1, 1, 16, 16), dtype=np.float32)
    literal = ort.SessionOptions()
    literal.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    as_written = ort.InferenceSession(str(path), literal, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ours = session(path).run(None, {"x": x})[0]
    np.testing.assert_array_equal(ours, as_written)
    # the graph is one onnxruntime's default optimisations change (else the test shows nothing)
    rewritten = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(rewritten - as_written).max() > 0
