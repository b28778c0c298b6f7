"""ncnn import: tiny graphs written here (param text + bin bytes), run by our interpreter and by ncnn itself."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_compress.errors import CheckpointError
from sr_compress.models.archs.rrdbnet import RRDBNet
from sr_compress.models.archs.srvgg import SRVGGNetCompact
from sr_compress.models.load import load_model
from sr_compress.models.ncnn import load_ncnn_graph, read_param
from sr_compress.models.ncnn.reference import NcnnReference
from sr_compress.models.ncnn.weights import TAG_FP16, TAG_INT8, WeightReader

ncnn = pytest.importorskip("ncnn")


# ------------------------------------------------------------------------------------ writers
def fp32(values: np.ndarray) -> bytes:
    """A type-0 blob stored as float32 (tag 0)."""
    return struct.pack("<I", 0) + np.asarray(values, "<f4").tobytes()


def fp16(values: np.ndarray) -> bytes:
    """A type-0 blob stored as float16 (tag 0x01306B47), padded to 4 bytes."""
    raw = np.asarray(values, "<f2").tobytes()
    return struct.pack("<I", TAG_FP16) + raw + b"\0" * (-len(raw) % 4)


def raw(values: np.ndarray) -> bytes:
    """A type-1 blob (bias, slopes): bare float32."""
    return np.asarray(values, "<f4").tobytes()


class Graph:
    """Collects layer lines and weight blobs; ``write`` emits a valid .param/.bin pair."""

    def __init__(self) -> None:
        self.lines: list[str] = ["Input data 0 1 data"]
        self.blobs: list[bytes] = []

    def add(self, ltype: str, ins: list[str], outs: list[str], params: str = "", *weights: bytes) -> Graph:
        name = f"l{len(self.lines)}"
        self.lines.append(f"{ltype} {name} {len(ins)} {len(outs)} {' '.join(ins)} {' '.join(outs)} {params}".rstrip())
        self.blobs.extend(weights)
        return self

    def write(self, folder: Path, stem: str = "g") -> Path:
        names: set[str] = set()
        for ln in self.lines:
            f = ln.split()
            n_in, n_out = int(f[2]), int(f[3])
            names.update(f[4:4 + n_in + n_out])
        param = folder / f"{stem}.param"
        param.write_text(f"7767517\n{len(self.lines)} {len(names)}\n" + "\n".join(self.lines) + "\n")
        param.with_suffix(".bin").write_bytes(b"".join(self.blobs))
        return param


def run_ncnn(param: Path, x: torch.Tensor, out: str = "out") -> torch.Tensor:
    """ncnn's own CPU output (fp32 everywhere, unpacked) for ``x`` of shape (1, C, H, W)."""
    return NcnnReference(param, threads=1, output_name=out)(x)


def check(graph: Graph, tmp_path: Path, shape: tuple[int, ...] = (1, 4, 6, 7), atol: float = 1e-5,
          positive: bool = False) -> torch.Tensor:
    param = graph.write(tmp_path)
    x = torch.rand(shape) + 0.5 if positive else torch.randn(shape)
    module = load_ncnn_graph(param)
    with torch.no_grad():
        ours = module(x)
    theirs = run_ncnn(param, x)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    torch.testing.assert_close(ours, theirs, atol=atol, rtol=1e-5, equal_nan=True)
    return ours


def weight_size(params: str) -> int:
    return int(re.search(r"(?:^| )6=(\d+)", params).group(1))  # type: ignore[union-attr]


def rnd(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32) * 0.5


# --------------------------------------------------------------------------- convolution family
CONVS = {
    "plain_leaky": ("0=5 1=3 4=1 5=1 6=180 9=2 -23310=1,1.000000e-01", 4, 5, 3, True, fp32),
    "fp16_stride_dilation_asym": ("0=3 1=3 2=2 3=2 4=1 15=0 14=2 16=1 18=5.000000e-01 5=1 6=108 9=1", 4, 3, 3, True,
                                  fp16),
    "same_upper": ("0=2 1=3 11=2 3=2 4=-233 5=0 6=48 9=3 10=-2.000000e-01,3.000000e-01", 4, 2, 6, False, fp32),
    "k1_sigmoid": ("0=3 1=1 5=1 6=12 9=4", 4, 3, 1, True, fp32),
    "mish_hswish": ("0=3 1=1 5=1 6=12 9=5", 4, 3, 1, True, fp32),
}


@pytest.mark.parametrize("case", sorted(CONVS))
def test_convolution(case: str, tmp_path: Path) -> None:
    params, cin, cout, ksq, bias, store = CONVS[case]
    n = weight_size(params)
    blobs = [store(rnd(n))] + ([raw(rnd(cout))] if bias else [])
    check(Graph().add("Convolution", ["data"], ["out"], params, *blobs), tmp_path, (1, cin, 9, 8))


@pytest.mark.parametrize("group,cout", [(4, 4), (2, 6)])
def test_convolution_depthwise(group: int, cout: int, tmp_path: Path) -> None:
    n = cout * (4 // group) * 9
    g = Graph().add("ConvolutionDepthWise", ["data"], ["out"], f"0={cout} 1=3 4=1 5=1 6={n} 7={group} 9=1",
                    fp32(rnd(n)), raw(rnd(cout)))
    check(g, tmp_path)


@pytest.mark.parametrize("params,group", [
    ("0=3 1=4 3=2 4=1 5=1 6=192 9=2 -23310=1,2.000000e-01", 1),
    ("0=2 1=3 3=2 18=1 5=1 6=72 9=0", 1),
    ("0=4 1=3 3=2 4=1 15=0 14=0 16=1 5=0 6=36 7=4", 4),
])
def test_deconvolution(params: str, group: int, tmp_path: Path) -> None:
    cout = int(params.split()[0][2:])
    n = weight_size(params)
    ltype = "DeconvolutionDepthWise" if group > 1 else "Deconvolution"
    blobs = [fp16(rnd(n))] + ([raw(rnd(cout))] if " 5=1" in params else [])
    check(Graph().add(ltype, ["data"], ["out"], params, *blobs), tmp_path, atol=1e-4)


# ------------------------------------------------------------------------------ element-wise
@pytest.mark.parametrize("ltype,params,weights", [
    ("ReLU", "", []), ("ReLU", "0=1.000000e-01", []), ("Sigmoid", "", []), ("TanH", "", []), ("Swish", "", []),
    ("Clip", "0=-2.000000e-01 1=5.000000e-01", []), ("PReLU", "0=1", [raw(np.array([0.3]))]),
    ("PReLU", "0=4", [raw(rnd(4))]), ("Noop", "", []), ("Dropout", "0=5.000000e-01", []),
])
def test_unary_layers(ltype: str, params: str, weights: list[bytes], tmp_path: Path) -> None:
    check(Graph().add(ltype, ["data"], ["out"], params, *weights), tmp_path)


@pytest.mark.parametrize("op", range(19))
def test_binaryop_two_inputs(op: int, tmp_path: Path) -> None:
    g = (Graph().add("Split", ["data"], ["a", "b0"]).add("Sigmoid", ["b0"], ["b"])
         .add("BinaryOp", ["a", "b"], ["out"], f"0={op}"))
    check(g, tmp_path, positive=True, atol=1e-4)


@pytest.mark.parametrize("op", range(19))
def test_binaryop_scalar(op: int, tmp_path: Path) -> None:
    g = Graph().add("BinaryOp", ["data"], ["out"], f"0={op} 1=1 2=1.500000e+00")
    check(g, tmp_path, positive=True, atol=1e-4)


def test_binaryop_broadcasts_one_channel(tmp_path: Path) -> None:
    g = (Graph().add("Split", ["data"], ["a", "b0"]).add("Crop", ["b0"], ["b"], "2=1 5=1 3=-233 4=-233")
         .add("BinaryOp", ["a", "b"], ["out"], "0=2"))
    check(g, tmp_path)


@pytest.mark.parametrize("params", ["0=0", "0=1", "0=1 -23301=3,2.000000e-01,1.000000e+00,-5.000000e-01", "0=2"])
def test_eltwise(params: str, tmp_path: Path) -> None:
    g = (Graph().add("Split", ["data"], ["a", "b0", "c0"]).add("Sigmoid", ["b0"], ["b"]).add("TanH", ["c0"], ["c"])
         .add("Eltwise", ["a", "b", "c"], ["out"], params))
    check(g, tmp_path)


@pytest.mark.parametrize("axis", [0, 1, 2, -3])
def test_concat(axis: int, tmp_path: Path) -> None:
    g = (Graph().add("Split", ["data"], ["a", "b0"]).add("Sigmoid", ["b0"], ["b"])
         .add("Concat", ["a", "b"], ["out"], f"0={axis}"))
    check(g, tmp_path)


# --------------------------------------------------------------------------------- resizing
@pytest.mark.parametrize("params", [
    "0=1 1=2.000000e+00 2=3.000000e+00", "0=1 3=10 4=5", "0=1 1=5.000000e-01 2=7.500000e-01",
    "0=2 1=2.000000e+00 2=2.000000e+00", "0=2 1=5.000000e-01 2=5.000000e-01", "0=2 3=11 4=9 6=1",
    "0=3 1=3.000000e+00 2=3.000000e+00", "0=3 1=7.500000e-01 2=7.500000e-01", "0=3 3=13 4=4",
])
def test_interp(params: str, tmp_path: Path) -> None:
    check(Graph().add("Interp", ["data"], ["out"], params), tmp_path, (1, 3, 8, 9), atol=1e-5)


@pytest.mark.parametrize("mode", [0, 1])
def test_pixelshuffle(mode: int, tmp_path: Path) -> None:
    check(Graph().add("PixelShuffle", ["data"], ["out"], f"0=2 1={mode}"), tmp_path, (1, 8, 3, 4))


@pytest.mark.parametrize("params", [
    "0=1 1=2 2=1 3=3 4=2 5=2", "0=1 1=1 3=-233 4=-233 5=-233 6=2 7=1",
    "-23309=2,1,-3 -23310=2,-233,5 -23311=2,1,2", "-23309=1,1 -23310=1,3 -23311=1,0",
])
def test_crop(params: str, tmp_path: Path) -> None:
    check(Graph().add("Crop", ["data"], ["out"], params), tmp_path)


def test_crop_to_reference_blob(tmp_path: Path) -> None:
    g = (Graph().add("Split", ["data"], ["a", "b0"]).add("Crop", ["b0"], ["b"], "0=0 1=0 3=3 4=2 5=-233")
         .add("Crop", ["a", "b"], ["out"], "0=2 1=1"))
    check(g, tmp_path)


@pytest.mark.parametrize("params,weights", [
    ("0=1 1=2 2=3 3=0 4=0 5=2.500000e-01", []), ("0=2 1=1 2=1 3=2 4=1", []), ("0=2 1=2 2=1 3=3 4=2", []),
    ("0=1 1=0 2=0 3=1 4=0 7=1 8=2", []), ("0=1 1=1 2=1 3=1 4=0 6=4", [raw(np.arange(4.0))]),
])
def test_padding(params: str, weights: list[bytes], tmp_path: Path) -> None:
    check(Graph().add("Padding", ["data"], ["out"], params, *weights), tmp_path)


# ------------------------------------------------------------------------- weight storage, errors
def test_weight_reader_int8_and_table(tmp_path: Path) -> None:
    ints = np.array([-3, 0, 5, 127, -127], np.int8)
    table = np.linspace(-1, 1, 256).astype("<f4")
    idx = np.array([0, 255, 128], np.uint8)
    data = (struct.pack("<I", TAG_INT8) + ints.tobytes() + b"\0" * 3
            + struct.pack("<I", 0x01010101) + table.tobytes() + idx.tobytes() + b"\0")
    (tmp_path / "w.bin").write_bytes(data)
    reader = WeightReader(tmp_path / "w.bin")
    a, kind_a = reader.tagged(5, "int8")
    b, kind_b = reader.tagged(3, "table")
    assert (kind_a, kind_b) == ("int8", "table") and reader.remaining() == 0
    assert a.tolist() == ints.astype(float).tolist()
    assert b.tolist() == pytest.approx(table[idx].tolist())


def test_fp16_and_fp32_blobs_give_the_stored_values(tmp_path: Path) -> None:
    w = rnd(12)
    g = Graph().add("Convolution", ["data"], ["a"], "0=3 1=1 6=12", fp32(w)).add(
        "Convolution", ["a"], ["out"], "0=3 1=1 6=9", fp16(rnd(9)))
    module = load_ncnn_graph(g.write(tmp_path))
    assert module.weight_storages == {"fp32": 1, "fp16": 1}
    assert torch.equal(module.layers[1].conv.weight.flatten(), torch.from_numpy(w))
    assert torch.equal(module.layers[2].conv.weight.flatten(), torch.from_numpy(rnd(9).astype(np.float16)).float())


def test_truncated_bin_is_a_clear_error(tmp_path: Path) -> None:
    param = Graph().add("Convolution", ["data"], ["out"], "0=4 1=3 5=1 6=144", fp32(rnd(144)), raw(rnd(4))).write(tmp_path)
    data = param.with_suffix(".bin").read_bytes()
    param.with_suffix(".bin").write_bytes(data[:-9])
    with pytest.raises(CheckpointError, match=r"g\.bin is truncated: layer l1"):
        load_ncnn_graph(param)


def test_missing_bin_and_bad_magic_are_clear_errors(tmp_path: Path) -> None:
    param = Graph().add("ReLU", ["data"], ["out"]).write(tmp_path)
    param.with_suffix(".bin").unlink()
    with pytest.raises(CheckpointError, match="put the .bin beside the .param"):
        load_ncnn_graph(param)
    bad = tmp_path / "bad.param"
    bad.write_text("1234\n1 1\nInput data 0 1 data\n")
    with pytest.raises(CheckpointError, match="not an ncnn text .param"):
        read_param(bad)


def test_unknown_layer_names_type_and_file(tmp_path: Path) -> None:
    param = Graph().add("LSTM", ["data"], ["out"], "0=4").write(tmp_path)
    with pytest.raises(CheckpointError, match=r"g\.param:4: ncnn layer type 'LSTM' \(layer l1\) is not supported"):
        load_ncnn_graph(param)


def test_layer_count_mismatch_is_reported(tmp_path: Path) -> None:
    param = Graph().add("ReLU", ["data"], ["out"]).write(tmp_path)
    text = param.read_text().splitlines()
    param.write_text("\n".join([text[0], "5 2", *text[2:]]) + "\n")
    with pytest.raises(CheckpointError, match="declares 5 layers but has 2"):
        read_param(param)


# ------------------------------------------------------------------ load_model and conversion
def test_load_model_infers_scale_of_an_unknown_graph(tmp_path: Path) -> None:
    g = (Graph().add("Convolution", ["data"], ["a"], "0=12 1=3 4=1 5=1 6=324 9=1", fp32(rnd(324)), raw(rnd(12)))
         .add("PixelShuffle", ["a"], ["out"], "0=2"))
    desc = load_model(g.write(tmp_path))
    assert desc.arch == "ncnn" and desc.scale == 2 and desc.params == 324 + 12
    assert "forward 8px -> 16px" in desc.hyperparams["scale_from"]
    assert desc.macs(8, 8) == 8 * 8 * 12 * 27
    with pytest.raises(CheckpointError, match="x2 model but x4 was requested"):
        load_model(g.write(tmp_path), scale=4)


def _conv_line(g: Graph, src: str, dst: str, conv: torch.nn.Conv2d, act: str = "") -> None:
    w = conv.weight.detach().numpy()
    params = f"0={w.shape[0]} 1={w.shape[-1]} 4={w.shape[-1] // 2} 5=1 6={w.size}{act}"
    g.add("Convolution", [src], [dst], params, fp16(w.ravel()), raw(conv.bias.detach().numpy()))


def srvgg_graph(model: SRVGGNetCompact) -> Graph:
    """The layout pnnx/onnx2ncnn give SRVGGNetCompact (as in realesr-animevideov3-x4.param)."""
    g = Graph().add("Split", ["data"], ["x0", "x1"])
    cur = "x0"
    for i, layer in enumerate(model.body):
        if isinstance(layer, torch.nn.Conv2d):
            _conv_line(g, cur, f"c{i}", layer)
        else:
            g.add("PReLU", [cur], [f"c{i}"], f"0={layer.weight.numel()}", raw(layer.weight.detach().numpy()))
        cur = f"c{i}"
    s = model.scale
    g.add("PixelShuffle", [cur], ["ps"], f"0={s}").add("Interp", ["x1"], ["up"], f"0=1 1={s}.0 2={s}.0")
    return g.add("BinaryOp", ["ps", "up"], ["out"], "0=0")


def rrdbnet_graph(model: RRDBNet) -> Graph:
    """The layout of realesrgan-x4plus.param: fused LeakyReLU, Split/Concat dense links, Eltwise 0.2 skips."""
    leaky = " 9=2 -23310=1,2.000000e-01"
    g = Graph()
    _conv_line(g, "data", "first", model.conv_first)
    g.add("Split", ["first"], ["first_a", "first_b"])
    cur = "first_a"
    for b, block in enumerate(model.body):
        g.add("Split", [cur], [f"b{b}in_a", f"b{b}in_b"])
        x = f"b{b}in_a"
        for r, rdb in enumerate((block.rdb1, block.rdb2, block.rdb3)):
            tag = f"b{b}r{r}"
            g.add("Split", [x], [f"{tag}x_{j}" for j in range(6)])
            convs = (rdb.conv1, rdb.conv2, rdb.conv3, rdb.conv4, rdb.conv5)
            for c, conv in enumerate(convs, start=1):
                ins = [f"{tag}x_{c - 1}"] + [f"{tag}c{k}_{c}" for k in range(1, c)]
                src = ins[0]
                if len(ins) > 1:
                    src = f"{tag}cat{c}"
                    g.add("Concat", ins, [src], "0=0")
                _conv_line(g, src, f"{tag}c{c}", conv, leaky if c < 5 else "")
                if c < 5:
                    g.add("Split", [f"{tag}c{c}"], [f"{tag}c{c}_{j}" for j in range(c + 1, 6)])
            g.add("Eltwise", [f"{tag}c5", f"{tag}x_5"], [f"{tag}out"], "0=1 -23301=2,2.000000e-01,1.000000e+00")
            x = f"{tag}out"
        g.add("Eltwise", [x, f"b{b}in_b"], [f"b{b}out"], "0=1 -23301=2,2.000000e-01,1.000000e+00")
        cur = f"b{b}out"
    _conv_line(g, cur, "body", model.conv_body)
    g.add("BinaryOp", ["first_b", "body"], ["sum"], "0=0").add("Interp", ["sum"], ["u1"], "0=1 1=2.0 2=2.0")
    _conv_line(g, "u1", "c_up1", model.conv_up1, leaky)
    g.add("Interp", ["c_up1"], ["u2"], "0=1 1=2.0 2=2.0")
    _conv_line(g, "u2", "c_up2", model.conv_up2, leaky)
    _conv_line(g, "c_up2", "hr", model.conv_hr, leaky)
    _conv_line(g, "hr", "out", model.conv_last)
    return g


def _fp16_rounded(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 4:
                p.copy_(p.half().float())
    return model.eval()


@pytest.mark.parametrize("arch", ["srvgg", "rrdbnet"])
def test_known_graphs_become_native_architectures(arch: str, tmp_path: Path) -> None:
    if arch == "srvgg":
        model = _fp16_rounded(SRVGGNetCompact(num_feat=8, num_conv=2, scale=4))
        g = srvgg_graph(model)
    else:
        model = _fp16_rounded(RRDBNet(num_feat=8, num_block=2, num_grow_ch=4, scale=4))
        g = rrdbnet_graph(model)
    param = g.write(tmp_path, arch)
    x = torch.rand(1, 3, 7, 9)
    interp = load_ncnn_graph(param)
    desc = load_model(param)
    assert desc.arch == arch and desc.scale == 4 and desc.onnx_exportable
    with torch.no_grad():
        y_interp, y_native, y_ref = interp(x), desc.model(x), model(x)
    assert (y_native - y_interp).abs().max() <= 1e-4
    torch.testing.assert_close(y_native, y_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y_interp, run_ncnn(param, x), atol=1e-4, rtol=1e-4)
    assert load_model(param).arch == arch  # deterministic detection


def test_graph_that_only_looks_known_stays_interpreted(tmp_path: Path) -> None:
    g = srvgg_graph(_fp16_rounded(SRVGGNetCompact(num_feat=8, num_conv=1, scale=4)))
    g.lines[-1] = g.lines[-1].replace(" out", " sum")
    g.add("Interp", ["sum"], ["out"], "0=3 1=5.000000e-01 2=5.000000e-01")  # like realesr-animevideov3-x2
    desc = load_model(g.write(tmp_path))
    assert desc.arch == "ncnn" and desc.scale == 2



def test_cli_info_on_a_param_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sr_compress.cli import cli, run_cli

    param = srvgg_graph(_fp16_rounded(SRVGGNetCompact(num_feat=8, num_conv=1, scale=2))).write(tmp_path, "t")
    assert run_cli(cli, ["info", str(param), "--size", "16"]) == 0
    printed = capsys.readouterr().out
    assert "srvgg" in printed and "x2" in printed and "MACs" in printed
    bad = tmp_path / "bad.param"
    bad.write_text("7767517\n2 2\nInput data 0 1 data\nLSTM l1 1 1 data out\n")
    (tmp_path / "bad.bin").write_bytes(b"")
    assert run_cli(cli, ["info", str(bad)]) == 2
    assert "ncnn layer type 'LSTM'" in capsys.readouterr().err


def int8(values: np.ndarray) -> bytes:
    raw8 = np.asarray(values, np.int8).tobytes()
    return struct.pack("<I", TAG_INT8) + raw8 + b"\0" * (-len(raw8) % 4)


@pytest.mark.parametrize("ltype,extra,n_scales", [("Convolution", "", 3), ("ConvolutionDepthWise", " 7=4", 4)])
def test_int8_convolution_matches_ncnn_int8_inference(ltype: str, extra: str, n_scales: int, tmp_path: Path) -> None:
    cout = 3 if ltype == "Convolution" else 4
    n = cout * (4 if ltype == "Convolution" else 1) * 9
    w = np.random.default_rng(1).integers(-127, 128, n)
    wscales = np.linspace(40.0, 90.0, n_scales)
    g = Graph().add(ltype, ["data"], ["out"], f"0={cout} 1=3 4=1 5=1 6={n} 8=1{extra}",
                    int8(w), raw(rnd(cout)), raw(wscales), raw(np.array([60.0])))
    param = g.write(tmp_path)
    x = torch.randn(1, 4, 6, 7)
    with torch.no_grad():
        ours = load_ncnn_graph(param)(x)
    net = ncnn.Net()
    net.opt.use_packing_layout = False
    net.opt.num_threads = 1
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    mat = ncnn.Mat(np.ascontiguousarray(x[0].numpy())).clone()
    ex = net.create_extractor()
    ex.input("data", mat)
    ret, y = ex.extract("out")
    theirs = torch.from_numpy(np.array(y).copy()).reshape(1, y.c, y.h, y.w)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_float_weights_with_int8_scales_are_quantised_like_ncnn(tmp_path: Path) -> None:
    n = 3 * 4 * 9
    g = Graph().add("Convolution", ["data"], ["out"], f"0=3 1=3 4=1 5=1 6={n} 8=1",
                    fp32(rnd(n)), raw(rnd(3)), raw(np.array([70.0, 50.0, 90.0])), raw(np.array([60.0])))
    param = g.write(tmp_path)
    x = torch.randn(1, 4, 6, 7)
    with torch.no_grad():
        ours = load_ncnn_graph(param)(x)
    net = ncnn.Net()
    net.opt.use_packing_layout = False
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(np.ascontiguousarray(x[0].numpy())).clone())
    _, y = ex.extract("out")
    torch.testing.assert_close(ours, torch.from_numpy(np.array(y).copy())[None], atol=1e-4, rtol=1e-4)
