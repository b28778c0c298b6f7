"""Every real checkpoint in ../shared/data/weights loads as the right architecture and scale, and a
few reproduce their published Set5 PSNR on one image."""

from __future__ import annotations

import pytest
import torch

from sr_compress.models.load import load_model
from tests.helpers import shared_data

pytestmark = pytest.mark.integration

# file -> (arch, scale)
EXPECTED = {
    "IMDN/IMDN_x2.pth": ("imdn", 2),
    "IMDN/IMDN_x3.pth": ("imdn", 3),
    "IMDN/IMDN_x4.pth": ("imdn", 4),
    "IMDN/model_RTC.pth": ("imdn_rtc", 2),
    "IMDN/model_RTE.pth": ("imdn_rte", 2),
    "PAN/PANx2_DF2K.pth": ("pan", 2),
    "PAN/PANx3_DF2K.pth": ("pan", 3),
    "PAN/PANx4_DF2K.pth": ("pan", 4),
    "RLFN/rlfn_x2.pth": ("rlfn", 2),
    "RLFN/rlfn_x4.pth": ("rlfn", 4),
    "RLFN/rlfn_s_x2.pth": ("rlfn", 2),
    "RLFN/rlfn_s_x4.pth": ("rlfn", 4),
    "RLFN/rlfn_ntire_x4.pth": ("rlfn", 4),
    "RFDN/RFDN_AIM.pth": ("rfdn", 4),
    "CARN/carn_m.pth": ("carn_m", 4),
    "NTIRE2022_ESR/team03_fmen.pth": ("fmen", 4),
    "NTIRE2022_ESR/team18_bsrn.pth": ("bsrn", 4),
    "DCTLSA/DCTLSA_X2.pt": ("spandrel:DCTLSA", 2),
    "DCTLSA/DCTLSA_X3.pt": ("spandrel:DCTLSA", 3),
    "DCTLSA/DCTLSA_X4.pt": ("spandrel:DCTLSA", 4),
    "CRAFT/ntire2024_team34_craft_x4.pth": ("spandrel:CRAFT", 4),
}


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_checkpoint_loads_with_right_arch_and_scale(rel: str) -> None:
    path = shared_data("weights", rel)
    desc = load_model(path)
    arch, scale = EXPECTED[rel]
    assert (desc.arch, desc.scale) == (arch, scale)
    assert desc.source_sha256 and desc.params > 10_000
    pad_h, pad_w = desc.size_requirements.padding_for(16, 16)
    # a smooth image (white noise is far from what SR nets see and some amplify it)
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4), size=(16 + pad_h, 16 + pad_w), mode="bilinear")
    with torch.no_grad():
        y = desc.model(x)
    assert y.shape == (1, 3, x.shape[2] * scale, x.shape[3] * scale)
    assert torch.isfinite(y).all() and 0.3 < float(y.mean()) < 0.7  # output in the [0, 1] convention


def test_every_shipped_checkpoint_is_listed() -> None:
    """A checkpoint added to shared/data/weights must be added above (and to benchmarks/eval_weights.py)."""
    root = shared_data("weights")
    found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in (".pth", ".pt", ".safetensors")}
    assert found - set(EXPECTED) == set()


@pytest.mark.parametrize(("rel", "scale"), [("CARN/carn_m.pth", 2), ("CARN/carn_m.pth", 3), ("PAN/PANx2_DF2K.pth", 3)])
def test_multi_scale_weights_pick_the_requested_head(rel: str, scale: int) -> None:
    desc = load_model(shared_data("weights", rel), scale=scale)
    assert desc.scale == scale and desc.hyperparams["scale"] == scale
    with torch.no_grad():
        assert desc.model(torch.rand(1, 3, 12, 12)).shape[-2:] == (12 * scale, 12 * scale)


def _psnr_one(rel: str, image: str, scale: int | None = None) -> float:
    from sr_compress.data.io import read_uint8, to_tensor, to_uint8
    from sr_compress.metrics.sr import evaluate_pair

    desc = load_model(shared_data("weights", rel), scale=scale)
    s = desc.scale
    lr = read_uint8(shared_data("benchmarks", "Set5", "LR_bicubic", f"X{s}", f"{image}x{s}.png"))
    hr = read_uint8(shared_data("benchmarks", "Set5", "HR", f"{image}.png"))
    with torch.no_grad():
        sr = to_uint8(desc.model(to_tensor(lr)).clamp(0, 1))
    return evaluate_pair(sr, hr[: sr.shape[0], : sr.shape[1]], s)["psnr"]


# per-image Set5 Y-PSNR of our implementations (the Set5 means of these checkpoints equal the
# published ones: IMDN x4 32.21, PAN x4 32.13, RLFN x4 32.24; see docs/models.md)
@pytest.mark.parametrize(("rel", "image", "expected"), [
    ("IMDN/IMDN_x4.pth", "baby", 33.774),
    ("PAN/PANx4_DF2K.pth", "bird", 35.000),
    ("RLFN/rlfn_x4.pth", "head", 33.001),
])
def test_set5_image_psnr(rel: str, image: str, expected: float) -> None:
    assert abs(_psnr_one(rel, image) - expected) < 0.01


def test_zoo_table_matches_the_real_files() -> None:
    """Every zoo entry whose file is in shared/data/weights has the right sha256, arch and scale (offline)."""
    from sr_compress.models import zoo
    from sr_compress.models.load import sha256_file

    root = shared_data("weights")
    matched = 0
    for entry in zoo.ZOO.values():
        local = sorted(root.rglob(entry.file_name))
        if not local or entry.sha256 is None:
            continue
        assert sha256_file(local[0]) == entry.sha256, entry.name
        desc = load_model(local[0])
        assert (desc.arch, desc.scale) == (entry.arch, entry.scale), entry.name
        matched += 1
    assert matched == 21  # every file in shared/data/weights has a zoo entry
