"""eval: --save-images, --metrics niqe (no-reference folders), --reference-model fidelity, table columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sr_compress.cli import cli, run_cli
from sr_compress.data.imresize import bicubic_upscale_uint8
from sr_compress.data.io import read_uint8
from sr_compress.errors import UserInputError
from sr_compress.evaluate.sr_eval import parse_metrics
from sr_compress.metrics.sr import evaluate_pair
from tests.unit.test_niqe import _params


def _folder(root: Path, size: tuple[int, int], n: int = 2) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.normal(128, 40, (size[0] // 4, size[1] // 4, 3))
        img = np.kron(base, np.ones((4, 4, 1))) + rng.normal(0, 8, (*size, 3))
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / f"im{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    torch.manual_seed(0)
    return save_model(build_student("edsr:c8b1", 2), tmp_path_factory.mktemp("m") / "tiny_x2.pth")


def test_save_images_and_reference_model(tiny: Path, tmp_path: Path) -> None:
    data = _folder(tmp_path / "Mine" / "HR", (24, 32)).parent
    out, js = tmp_path / "sr", tmp_path / "r.json"
    assert run_cli(cli, ["eval", "--model", str(tiny), "--data", str(data), "--save-images", str(out),
                         "--reference-model", "bicubic", "--json", str(js)]) == 0
    res = json.loads(js.read_text())["results"][0]
    for row in res["images"]:
        saved = read_uint8(out / "Mine" / f"{row['name']}.png")
        assert saved.shape == (24, 32, 3)
        lr = read_uint8(data / "HR" / f"{row['name']}.png")
        from sr_compress.data.imresize import bicubic_degrade_uint8

        ref = bicubic_upscale_uint8(bicubic_degrade_uint8(lr, 2), 2)
        assert row["psnr_ref"] == pytest.approx(evaluate_pair(saved, ref, 2)["psnr"], abs=1e-9)
    assert {"psnr", "ssim", "psnr_ref", "ssim_ref"} <= set(res)


def test_niqe_only_scores_every_image_as_an_lr_input(tiny: Path, tmp_path: Path, capsys) -> None:
    from sr_compress.evaluate.sr_eval import torch_upscale_fn
    from sr_compress.metrics.niqe import calculate_niqe
    from sr_compress.models.load import load_model

    params = _params(tmp_path)
    data = _folder(tmp_path / "Photos", (100, 100), n=1)
    js = tmp_path / "n.json"
    assert run_cli(cli, ["eval", "--model", str(tiny), "--data", str(data), "--metrics", "niqe",
                         "--niqe-params", str(params), "--json", str(js), "-v"]) == 0
    text = capsys.readouterr().out
    assert "NIQE" in text and "PSNR" not in text.split("protocol")[0]
    res = json.loads(js.read_text())["results"][0]
    fn = torch_upscale_fn(load_model(tiny))
    for row in res["images"]:
        direct = calculate_niqe(fn(read_uint8(data / f"{row['name']}.png")), crop_border=2, params_path=params)
        assert row["niqe"] == pytest.approx(direct, abs=1e-12)
    assert res["niqe"] == pytest.approx(np.mean([r["niqe"] for r in res["images"]]))


def test_parse_metrics() -> None:
    assert parse_metrics("PSNR, niqe") == ("psnr", "niqe")
    with pytest.raises(UserInputError, match="lpips"):
        parse_metrics("psnr,lpips")
