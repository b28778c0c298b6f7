"""Writing an imported ncnn graph back (``models/ncnn/write.py``) and ``export --ncnn`` of imported models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sr_compress.models.archs.rrdbnet import RRDBNet
from sr_compress.models.load import load_model
from sr_compress.models.ncnn import load_ncnn_graph, read_param
from sr_compress.models.ncnn.param import parse_params
from sr_compress.models.ncnn.write import format_params, source_graph, write_ncnn
from tests.unit.test_ncnn_import import Graph, _fp16_rounded, fp16, fp32, raw, rnd, rrdbnet_graph, run_ncnn

pytest.importorskip("ncnn")


def weighted_graph() -> Graph:
    """Every layer type that carries weights: conv (fp16 + fp32 storage), depthwise, deconv, PReLU, Padding."""
    g = Graph()
    g.add("Convolution", ["data"], ["c1"], "0=4 1=3 4=1 5=1 6=144 9=2 -23310=1,1.000000e-01", fp16(rnd(144)), raw(rnd(4)))
    g.add("ConvolutionDepthWise", ["c1"], ["c2"], "0=4 1=3 4=1 5=0 6=36 7=4", fp32(rnd(36)))
    g.add("PReLU", ["c2"], ["c3"], "0=4", raw(rnd(4)))
    g.add("Deconvolution", ["c3"], ["c4"], "0=6 1=2 3=2 5=1 6=96", fp32(rnd(96)), raw(rnd(6)))
    g.add("Padding", ["c4"], ["out"], "0=1 1=0 2=2 3=1 4=0 6=6", raw(rnd(6)))
    return g


def test_params_survive_a_round_trip() -> None:
    values = {0: 64, 1: 3, 5: 1, 9: 2, 10: [0.2], 11: [1, 2, 3], 18: -0.1234567}
    back = parse_params(format_params(values)).values
    assert back.keys() == values.keys() and back[0] == 64 and back[11] == [1, 2, 3]
    assert np.float32(back[18]) == np.float32(values[18]) and np.float32(back[10][0]) == np.float32(0.2)


@pytest.mark.parametrize("storage", ["fp32", "fp16"])
def test_rewritten_graph_runs_like_the_source_in_ncnn(storage: str, tmp_path: Path) -> None:
    src = weighted_graph().write(tmp_path, "src")
    graph, module = read_param(src), load_ncnn_graph(src)
    out = tmp_path / "out.param"
    write_ncnn(graph.layers, module, out, storage == "fp16", graph.blob_count, {"data": "in0", "out": "out0"})
    x = torch.randn(1, 4, 5, 6)
    ref = run_ncnn(src, x)
    # the interpreter reads the written file back: same weights (fp16 storage rounds them)
    again = load_ncnn_graph(out)
    with torch.no_grad():
        torch.testing.assert_close(again(x), module(x), atol=5e-2 if storage == "fp16" else 1e-6, rtol=1e-3)
    from sr_compress.models.ncnn.reference import NcnnReference

    ours = NcnnReference(out, threads=1, input_name="in0", output_name="out0")(x)
    torch.testing.assert_close(ours, ref, atol=5e-2 if storage == "fp16" else 1e-5, rtol=1e-3)


def test_unchanged_fp16_graph_is_written_byte_for_byte(tmp_path: Path) -> None:
    g = Graph()
    g.add("Convolution", ["data"], ["out"], "0=3 1=3 4=1 5=1 6=108", fp16(rnd(108)), raw(rnd(3)))
    src = g.write(tmp_path, "src")
    graph = read_param(src)
    write_ncnn(graph.layers, load_ncnn_graph(src), tmp_path / "o.param", True, graph.blob_count)
    assert (tmp_path / "o.bin").read_bytes() == src.with_suffix(".bin").read_bytes()


@pytest.fixture()
def imported_rrdbnet(tmp_path: Path) -> tuple[object, Path]:
    model = _fp16_rounded(RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4))
    param = rrdbnet_graph(model).write(tmp_path, "tiny_x4plus")
    desc = load_model(param)
    assert desc.arch == "rrdbnet"
    return desc, param


def test_source_graph_carries_the_native_weights(imported_rrdbnet: tuple) -> None:
    desc, _param = imported_rrdbnet
    with torch.no_grad():
        desc.model.conv_last.bias.add_(0.5)  # as if fine-tuned after import
    _graph, module = source_graph(desc)
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(module(x), desc.model(x), atol=1e-5, rtol=1e-5)
    # a native model that no longer fits the graph (other width) is not written this way
    other = load_model(_param)
    other.model = RRDBNet(num_feat=16, num_block=1, num_grow_ch=4, scale=4)
    assert source_graph(other) is None


def test_export_ncnn_of_an_imported_model_skips_pnnx(imported_rrdbnet: tuple, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import sr_compress.backends.ncnn as nb
    from sr_compress.export import ExportOptions, export_model
    from sr_compress.runtime.manifest import read_manifest
    from sr_compress.runtime.runners import make_runner

    def no_pnnx(*_a: object, **_k: object) -> str:
        raise AssertionError("pnnx must not run for an imported graph")

    monkeypatch.setattr(nb, "_pnnx_convert", no_pnnx)
    desc, _param = imported_rrdbnet
    out = tmp_path / "e"
    export_model(desc, out, ExportOptions(onnx=False, targets={"ncnn": ["fp32", "fp16"]}, keep_reference=False))
    m = read_manifest(out)
    x = np.random.default_rng(1).random((1, 3, 11, 9), dtype=np.float32)
    with torch.no_grad():
        ref = desc.model(torch.from_numpy(x)).numpy()
    for prec, tol in (("fp32", 1e-4), ("fp16", 5e-3)):
        entry = m.artifact(f"ncnn-{prec}")
        assert entry.settings["converter"] == "rewrite-imported" and entry.settings["source_param"] == "tiny_x4plus.param"
        y = make_runner(entry, manifest=m, threads=1).run(x)
        assert y.shape == ref.shape and float(np.abs(y - ref).max()) < tol


def test_pnnx_out_of_memory_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pnnx")
    from sr_compress.errors import ExportError, UserInputError
    from sr_compress.export import ExportOptions, export_model
    from sr_compress.models.students import build_student

    monkeypatch.setenv("SR_COMPRESS_PNNX_MAX_GB", "0.1")
    with pytest.raises(ExportError, match="pnnx ran out of memory .*SR_COMPRESS_PNNX_MAX_GB"):
        export_model(build_student("srvgg:c8b1", 2), tmp_path / "e", ExportOptions(onnx=False, targets={"ncnn": ["fp32"]}))
    assert not (tmp_path / "e").exists()
    monkeypatch.setenv("SR_COMPRESS_PNNX_MAX_GB", "lots")
    from sr_compress.backends.ncnn import pnnx_memory_limit

    with pytest.raises(UserInputError, match="SR_COMPRESS_PNNX_MAX_GB"):
        pnnx_memory_limit()


def test_weights_that_no_longer_fit_the_param_line_are_refused(tmp_path: Path) -> None:
    from sr_compress.models.ncnn.write import UnwritableGraph

    src = weighted_graph().write(tmp_path, "src")
    graph, module = read_param(src), load_ncnn_graph(src)
    conv = module.layers[1].conv
    conv.weight = torch.nn.Parameter(torch.zeros(2, 4, 3, 3))  # e.g. pruned after import
    with pytest.raises(UnwritableGraph, match="now has 72 weights, its .param line says 144"):
        write_ncnn(graph.layers, module, tmp_path / "o.param", False, graph.blob_count)
