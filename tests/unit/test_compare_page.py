"""The comparison page: self-contained, and in a real headless Chromium the slider moves and images decode."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sr_compress.data.datasets import load_benchmark
from sr_compress.evaluate.compare import collect, render_page
from sr_compress.evaluate.sr_eval import bicubic_upscale_fn

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=5000"]


def _page(tmp_path: Path) -> Path:
    from PIL import Image

    hr = tmp_path / "data" / "HR"
    hr.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(hr / f"im{i}.png")
    bench = load_benchmark(tmp_path / "data", 2)
    items = collect([("model", bicubic_upscale_fn(2))], bench, 2)
    out = tmp_path / "view.html"
    out.write_text(render_page(items, "test", "protocol"), encoding="utf-8")
    return out


def test_page_is_self_contained_with_scores(tmp_path: Path) -> None:
    text = _page(tmp_path).read_text()
    assert text.count("data:image/png;base64,") == 2 * 3 + 0  # bicubic, model, HR per image
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)  # nothing fetched from the network
    assert "im0" in text and "PSNR" in text and "mean" in text


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return exe


def test_page_in_headless_chromium(tmp_path: Path) -> None:
    exe = _chromium()
    page = _page(tmp_path)
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([exe, *flags, "--dump-dom", f"{page.as_uri()}#selftest"], capture_output=True,
                         text=True, timeout=120).stdout
    title = re.search(r"<title>([^<]*)</title>", dom)
    assert title and title.group(1).startswith("SELFTEST OK"), dom[-2000:]
    assert "images=6 decoded=6 sections=2 slider_moved=2" in title.group(1)
    shot = tmp_path / "shot.png"
    subprocess.run([exe, *flags, "--window-size=1000,800", f"--screenshot={shot}", f"{page.as_uri()}#selftest"],
                   capture_output=True, timeout=120)
    from PIL import Image

    assert Image.open(shot).size == (1000, 800)


def test_compare_cli_labels_models(tmp_path: Path) -> None:
    import torch

    from sr_compress.cli import cli, run_cli
    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    _page(tmp_path)  # writes the data folder
    torch.manual_seed(0)
    ckpt = save_model(build_student("edsr:c8b1", 2), tmp_path / "tiny.pth")
    out = tmp_path / "v.html"
    assert run_cli(cli, ["compare", f"tiny={ckpt}", str(ckpt), "--data", str(tmp_path / "data"), "--out",
                         str(out)]) == 0
    text = out.read_text()
    assert ">tiny PSNR<" in text and ">tiny-2 PSNR<" in text and text.count("<section") == 2
