"""NNCF fake-quant + OpenVINO INT8 IR: INT8 ops present, IR output measured against the fake-quant model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("nncf")
pytest.importorskip("openvino")

from sr_compress.compress.qat import export_openvino, fake_quantize, fidelity_db, ir_op_types  # noqa: E402
from sr_compress.models.archs.rlfn import RLFN  # noqa: E402

# the IR runs real INT8 kernels (u8 activations x i8 weights, fused requantisation) while the
# fake-quant model emulates them in float: they agree closely but not bit-exactly. Stated tolerance
# for a tiny random RLFN: 30 dB output fidelity (measured ~41 dB on the real RLFN x4, one 48x48 patch).
TOLERANCE_DB = 30.0


def test_fake_quant_ir_has_int8_ops_and_matches(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = RLFN(num_feat=8, num_blocks=1, scale=2).eval()
    for p in model.parameters():
        p.requires_grad_(False)  # a frozen copy: the fake-quant model must still train its weights
    rng = np.random.default_rng(0)
    patches = [rng.random((1, 3, 24, 24), dtype=np.float32) for _ in range(4)]
    q = fake_quantize(model, patches)
    assert all(p.requires_grad for n, p in q.named_parameters() if "__nncf_hooks" not in n)
    x = torch.from_numpy(patches[0])
    ov_model = export_openvino(q, x, tmp_path / "m.xml")
    ops = ir_op_types(ov_model)
    assert {"FakeQuantize", "Convolution"} <= ops
    import openvino as ov

    out = ov.compile_model(str(tmp_path / "m.xml"), "CPU")(x.numpy())[0]
    with torch.no_grad():
        ref = q(x).numpy()
    assert out.shape == ref.shape
    assert fidelity_db(out, ref) > TOLERANCE_DB
