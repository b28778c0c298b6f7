"""End to end: distil a few real T91 images (pixel_dm through the real RLFN x4 teacher), then train a
student on the distilled folder with the engine, exactly as `sr-compress distill --data OUT`."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_compress.cli import cli, run_cli
from sr_compress.compress.datadistill.common import read_manifest
from tests.helpers import shared_data

pytestmark = pytest.mark.integration


def _subset(tmp_path: Path, n: int = 4) -> Path:
    src = shared_data("train", "T91", "HR")
    dst = tmp_path / "hr"
    dst.mkdir()
    for f in sorted(src.iterdir())[:n]:
        (dst / f.name).symlink_to(f)
    return dst


def test_pixel_dm_then_train_student(tmp_path: Path) -> None:
    from sr_compress.compress.engine import load_distill_config, run_distillation

    teacher = shared_data("weights", "RLFN", "rlfn_x4.pth")
    hr = _subset(tmp_path)
    out = tmp_path / "distilled"
    rc = run_cli(cli, ["distill-data", "--method", "pixel_dm", "--data", str(hr), "--teacher", str(teacher),
                       "--scale", "4", "--patch-size", "16", "--ipc", "2", "--classes", "2",
                       "--iterations", "3", "--out", str(out)])
    assert rc == 0
    man = read_manifest(out)
    assert man["method"] == "pixel_dm" and len(man["images"]) == 4
    assert all(e["width"] == 64 and e["height"] == 64 for e in man["images"])
    assert sum(f.stat().st_size for f in (out / "images").iterdir()) == man["total_bytes"]
    assert 0 < man["ratio"] < 1

    cfg = load_distill_config(None, {
        "method": "scratch", "scale": 4, "student": "edsr:c8b1", "data.path": [str(out)],
        "data.patch_size": 16, "data.batch_size": 2, "train.iterations": 4, "train.checkpoint_every": 4,
        "train.val_every": 1000,
    })
    res = run_distillation(cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "student.pth").is_file()
    assert res.metrics["iterations"] == 4
    assert res.student.scale == 4
