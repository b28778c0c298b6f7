"""sr-compress upscale on folders: sizes, modes, relative paths, failures by name, resume, outscale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sr_compress.cli import cli, run_cli
from sr_compress.upscale.inputs import collect_jobs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from sr_compress.models.load import save_model
    from sr_compress.models.students import build_student

    torch.manual_seed(0)
    return save_model(build_student("edsr:c8b1", 2), tmp_path_factory.mktemp("m") / "tiny_x2.pth")


def _inputs(root: Path) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    (root / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (10, 9), dtype=np.uint8)).save(root / "sub" / "gray.jpg")
    Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), "RGBA").save(root / "sub" / "alpha.png")
    cv2.imwrite(str(root / "deep.png"), rng.integers(0, 65536, (8, 10, 3), dtype=np.uint16))
    (root / "broken.png").write_bytes((root / "rgb.png").read_bytes()[:80])
    return root


def _run(args: list[str]) -> int:
    return run_cli(cli, ["upscale", *args, "--quiet"])


def test_folder_keeps_paths_sizes_modes_and_reports_the_bad_file(tiny: Path, tmp_path: Path, capsys) -> None:
    src, out = _inputs(tmp_path / "in"), tmp_path / "out"
    assert _run([str(src), "-o", str(out), "--model", str(tiny)]) == 1
    text = capsys.readouterr()
    assert "broken.png" in text.out and "failed 1" in text.out and "upscaled 4" in text.out
    want = {"rgb.png": ((32, 24), "RGB"), "sub/gray.png": ((18, 20), "L"), "sub/alpha.png": ((16, 16), "RGBA"),
            "deep.png": ((20, 16), "I;16")}
    got = {str(p.relative_to(out)): p for p in out.rglob("*") if p.is_file()}
    assert set(got) == set(want)  # nothing for the broken file, no temp files left
    for rel, (size, mode) in want.items():
        img = Image.open(got[rel])
        assert img.size == size, rel
        assert img.mode == mode or (rel == "deep.png" and _is_16bit(got[rel])), (rel, img.mode)
    # re-run with --skip-existing: the four outputs are not rewritten
    stamps = {k: p.stat().st_mtime_ns for k, p in got.items()}
    assert _run([str(src), "-o", str(out), "--model", str(tiny), "--skip-existing"]) == 1
    assert "upscaled 0, skipped 4" in capsys.readouterr().out
    assert stamps == {k: p.stat().st_mtime_ns for k, p in got.items()}


def _is_16bit(path: Path) -> bool:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_outscale_suffix_format_and_single_file(tiny: Path, tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (10, 14, 3), dtype=np.uint8)).save(img)
    assert _run([str(img), "-o", str(tmp_path / "o"), "--model", str(tiny), "--outscale", "3.5",
                 "--suffix", "_x", "--format", "webp"]) == 0
    assert Image.open(tmp_path / "o" / "a_x.webp").size == (49, 35)
    assert _run([str(img), "-o", str(tmp_path / "one.jpg"), "--model", str(tiny)]) == 0
    assert Image.open(tmp_path / "one.jpg").format == "JPEG"


def test_matches_the_shared_tiler_and_batches_across_images(tiny: Path, tmp_path: Path) -> None:
    from sr_compress.data.io import decode_image
    from sr_compress.runtime.tiling import upscale
    from sr_compress.upscale.model import load_upscale_runner

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)).save(src / f"{i}.png")
    assert _run([str(src), "-o", str(tmp_path / "o"), "--model", str(tiny), "--tile", "8", "--overlap", "2", "--batch", "5"]) == 0
    runner = load_upscale_runner(str(tiny))
    for i in range(2):
        x = np.transpose(decode_image(src / f"{i}.png").rgb, (2, 0, 1))
        ref = np.clip(np.round(upscale(runner, x, tile=8, overlap=2).transpose(1, 2, 0) * 255), 0, 255)
        got = np.asarray(Image.open(tmp_path / "o" / f"{i}.png"), dtype=np.float64)
        assert np.abs(got - ref).max() <= 1  # identical up to float summation order in batched runs


def test_user_errors_are_one_line(tiny: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["upscale", str(tmp_path / "nope"), "-o", str(tmp_path), "--model", str(tiny)])
    assert res.exit_code != 0
    assert run_cli(cli, ["upscale", str(tmp_path / "nope"), "-o", str(tmp_path), "--model", str(tiny)]) == 2
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "x.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "b" / "x.png")
    assert run_cli(cli, ["upscale", str(tmp_path / "a"), "-o", str(tmp_path / "o"), "--model", str(tiny),
                         "--tile", "8", "--overlap", "8"]) == 2  # checked once, before any file
    with pytest.raises(Exception, match="would both write"):
        collect_jobs([tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"], tmp_path / "o")


def test_video_writer_command_keeps_fps_and_picks_audio_handling(tmp_path: Path) -> None:
    from sr_compress.upscale.video import VideoOptions, _exact_fps, writer_command

    assert _exact_fps(30000 / 1001) == "30000/1001" and _exact_fps(25.0) == "25"
    mp4 = writer_command(tmp_path / "in.mkv", tmp_path / "o.mp4", (640, 360), "25", VideoOptions(crf=20), "aac")
    assert mp4[mp4.index("-r") + 1] == "25" and "copy" in mp4 and "1:a?" in mp4 and "libx264" in mp4
    assert mp4[mp4.index("-crf") + 1] == "20" and "-vf" not in mp4
    webm = writer_command(tmp_path / "in.mp4", tmp_path / "o.webm", (641, 360), "25", VideoOptions(), "aac")
    assert "libvpx-vp9" in webm and "libopus" in webm and "-vf" in webm  # odd width padded for 4:2:0
    gif = writer_command(tmp_path / "in.mp4", tmp_path / "o.gif", (64, 36), "10", VideoOptions(), "aac")
    assert "-an" in gif and "-crf" not in gif
