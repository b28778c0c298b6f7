"""Export round trips on real ONNX Runtime / OpenVINO (CPU), golden outputs, malformed inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sr_compress.cli import cli, run_cli
from sr_compress.errors import ExportError, MissingDependency, UserInputError
from sr_compress.export import ExportOptions, export_model
from sr_compress.export.manifest import read_manifest
from sr_compress.models.registry import ModelDescriptor
from sr_compress.models.students import build_student
from sr_compress.runtime.runners import make_runner
from sr_compress.runtime.tiling import upscale

pytestmark = pytest.mark.integration


def _lr(h: int = 20, w: int = 28) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.random((3, h, w), dtype=np.float32)


def test_manifest_records_everything(export_dir: Path, student_ckpt: Path) -> None:
    m = read_manifest(export_dir)
    assert m.arch == "edsr" and m.scale == 4
    assert {a.name for a in m.artifacts} == {"onnx-fp32", "onnx-int8", "openvino-fp32", "openvino-fp16",
                                             "openvino-int8"}
    assert m.source_sha256 and len(m.source_sha256) == 64
    assert m.verify() == []
    onnx = m.artifact("onnx-fp32")
    assert onnx.opset == 17 and onnx.settings["exporter"] in ("legacy", "dynamo")
    assert "onnx" in m.tools and "openvino" in m.tools
    assert not list(export_dir.parent.glob(".export.partial-*"))


@pytest.mark.parametrize("name,tol", [("onnx-fp32", 1e-4), ("openvino-fp32", 1e-4), ("openvino-fp16", 5e-3),
                                      ("onnx-int8", 0.1), ("openvino-int8", 0.1)])
def test_round_trip_matches_pytorch(export_dir: Path, student_ckpt: Path, name: str, tol: float) -> None:
    from sr_compress.models.load import load_model

    ref = make_runner(load_model(student_ckpt))
    m = read_manifest(export_dir)
    art = make_runner(m.artifact(name), manifest=m, threads=2)
    assert art.info.scale == 4 and art.info.precision == name.split("-")[1]
    x = _lr()
    want, got = upscale(ref, x), upscale(art, x)
    assert got.shape == (3, 80, 112) and np.isfinite(got).all()
    assert np.abs(got - want).max() < tol
    # dynamic batch and size: a batch of 2 at another size
    xb = np.stack([_lr(16, 24), _lr(16, 24)[:, ::-1, :].copy()])
    assert np.abs(art.run(xb) - ref.run(xb)).max() < tol


class NearestX2(nn.Module):
    """conv with one-hot weights + PixelShuffle == nearest-neighbour x2: the exact output is known."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 1, bias=False)
        w = torch.zeros(12, 3, 1, 1)
        for c in range(3):
            w[c * 4 : c * 4 + 4, c] = 1.0
        self.conv.weight.data.copy_(w)
        self.up = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x))


def test_golden_output_all_backends(tmp_path: Path) -> None:
    desc = ModelDescriptor(NearestX2(), "nearest", 2)
    m = export_model(desc, tmp_path / "g", ExportOptions(openvino=True, precisions=["fp32", "fp16"],
                                                         keep_reference=False))
    x = (np.arange(3 * 5 * 7, dtype=np.float32).reshape(3, 5, 7) % 17) / 16.0  # exact in fp16 too
    golden = np.repeat(np.repeat(x, 2, 1), 2, 2)
    for a in m.artifacts:
        out = upscale(make_runner(a, manifest=m), x)
        np.testing.assert_array_equal(out, golden, err_msg=a.name)


def test_corrupt_onnx_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf model")
    with pytest.raises(UserInputError, match="broken.onnx: not a loadable ONNX model"):
        make_runner(bad)
    with pytest.raises(UserInputError, match="artifact not found"):
        make_runner(tmp_path / "missing.onnx")


def test_missing_artifact_file_in_export(export_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(export_dir, copy)
    (copy / "openvino" / "model.fp16.bin").unlink()
    m = read_manifest(copy)
    assert any("model.fp16.bin" in p for p in m.verify())
    with pytest.raises(UserInputError, match="weights file model.fp16.bin is missing"):
        make_runner(m.artifact("openvino-fp16"), manifest=m)
    (copy / "model.onnx").unlink()
    code = run_cli(cli, ["validate", str(copy), "--data", str(tmp_path)])
    assert code == 2


class _Weird(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.srtest.weird(x)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 12, 3, padding=1)
        self.odd = _Weird()
        self.up = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.odd(self.head(x)))


def test_unexportable_op_names_op_and_module_and_leaves_nothing(tmp_path: Path) -> None:
    lib = torch.library.Library("srtest", "FRAGMENT")
    try:
        lib.define("weird(Tensor x) -> Tensor")
        lib.impl("weird", lambda x: x * 2, "CompositeExplicitAutograd")
        lib.impl("weird", lambda x: torch.empty_like(x), "Meta")
    except RuntimeError:
        pass  # already defined by an earlier run in this process
    out = tmp_path / "never"
    with pytest.raises(ExportError, match=r"srtest::weird.*odd"):
        export_model(ModelDescriptor(_Net(), "weirdnet", 2), out, ExportOptions(exporter="legacy"))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


class _BakedShape(nn.Module):
    """Window-attention style: the traced H/W become constants of a Reshape (like DCTLSA)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 12, 3, padding=1)
        self.up = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        n, c, h, w = (int(s) for s in f.shape)  # int() makes the tracer record constants
        f = f.reshape(n, c, h // 4, 4, w // 4, 4).reshape(n, c, h, w)
        return self.up(f)


def test_graph_that_only_runs_at_trace_size_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "never"
    with pytest.raises(ExportError, match=r"fails on a .* input .*dynamic height/width"):
        export_model(ModelDescriptor(_BakedShape(), "bakednet", 2), out, ExportOptions(exporter="legacy"))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_trt_without_tensorrt_fails_fast_and_writes_nothing(student_ckpt: Path, tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401

        if torch.cuda.is_available():
            pytest.skip("TensorRT and a GPU are present: the failure path cannot be exercised")
    except ImportError:
        pass
    out = tmp_path / "trt"
    with pytest.raises(MissingDependency, match="TensorRT|CUDA"):
        export_model(build_student("edsr:c8b1", 2), out, ExportOptions(trt=True))
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert run_cli(cli, ["export", str(student_ckpt), "--trt", "--out", str(out)]) == 2
    assert not out.exists()


def test_wrong_scale_and_existing_out(student_ckpt: Path, export_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x3"
    assert run_cli(cli, ["export", str(student_ckpt), "--scale", "3", "--out", str(out)]) == 2
    assert not out.exists()
    assert run_cli(cli, ["export", str(student_ckpt), "--out", str(export_dir)]) == 2  # not empty, no --force
    assert json.loads((export_dir / "manifest.json").read_text())["scale"] == 4


def test_max_drop_uses_accuracy_control_on_psnr(tmp_path: Path) -> None:
    """--max-drop: NNCF accuracy-controlled quantization with our PSNR-Y as the validation metric."""
    from sr_compress.data.datasets import load_benchmark
    from sr_compress.export.openvino import set5_validation
    from tests.helpers import shared_data

    hr = shared_data("benchmarks", "Set5", "HR")
    val = tmp_path / "Set5mini"
    val.mkdir()
    for name in ("head.png", "woman.png"):
        (val / name).symlink_to(hr / name)
    torch.manual_seed(0)
    desc = build_student("edsr:c8b1", 4)
    m = export_model(desc, tmp_path / "acc", ExportOptions(openvino=True, precisions=["int8"], max_drop=0.15,
                                                           validation_data=str(val), calib_count=8,
                                                           keep_reference=False))
    s = m.artifact("openvino-int8").settings
    assert s["mode"] == "accuracy_control" and s["max_drop_db"] == 0.15 and s["metric"] == "PSNR-Y (dB)"
    assert s["validation_set"] == "Set5mini"
    # the validation function NNCF optimises is our SR protocol: it reproduces evaluate_pair's PSNR-Y
    import openvino as ov

    items, fn = set5_validation(desc, load_benchmark(val, 4))
    compiled = ov.Core().compile_model(m.path_of(m.artifact("openvino-int8")), "CPU")
    psnr_int8 = fn(compiled, items)
    ref = make_runner(desc)
    from sr_compress.metrics.sr import evaluate_pair

    want = []
    for lr, hr_u8 in items:
        sr = upscale(ref, lr)
        want.append(evaluate_pair(np.clip(np.round(sr.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8),
                                  hr_u8, 4)["psnr"])
    assert 10 < psnr_int8 and abs(psnr_int8 - float(np.mean(want))) <= 0.15 + 1e-6
