"""TensorRT engines: built and compared to PyTorch where TensorRT and a CUDA GPU exist; skipped elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.integration


def _need_trt() -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pytest.skip("TensorRT is not installed (pip install 'sr-compress[gpu]')")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT is installed but no CUDA GPU is visible to torch")


@pytest.mark.parametrize("precision,tol", [("fp16", 2e-2), ("int8", 0.15)])
def test_trt_engine_matches_pytorch(tmp_path: Path, precision: str, tol: float) -> None:
    _need_trt()
    from sr_compress.export import ExportOptions, export_model
    from sr_compress.models.students import build_student
    from sr_compress.runtime.runners import make_runner
    from sr_compress.runtime.tiling import upscale

    torch.manual_seed(0)
    desc = build_student("edsr:c16b2", 2)
    m = export_model(desc, tmp_path / "e", ExportOptions(trt=True, trt_precisions=[precision], tile=64,
                                                         calib_count=16))
    entry = m.artifact(f"tensorrt-{precision}")
    assert entry.settings["profile"]["opt"][2:] == [64, 64]
    assert (tmp_path / "e" / "tensorrt" / "timing.cache").is_file()
    runner = make_runner(entry, manifest=m, device="cuda")
    x = np.random.default_rng(0).random((3, 100, 90), dtype=np.float32)
    ref = upscale(make_runner(desc), x)
    out = upscale(runner, x, tile=64, overlap=8)
    assert out.shape == ref.shape and np.isfinite(out).all()
    assert np.abs(out - ref).mean() < tol
