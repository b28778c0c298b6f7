"""``sr-compress export --ncnn`` end to end: the CLI, validate/bench through the registry, sr-serve."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from sr_compress.cli import cli, run_cli

pytestmark = pytest.mark.integration
pytest.importorskip("ncnn")
pytest.importorskip("pnnx")


@pytest.fixture(scope="module")
def ncnn_dir(student_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ncnn") / "export"
    code = run_cli(cli, ["export", str(student_ckpt), "--no-onnx", "--ncnn", "--ncnn-precision", "fp32,fp16", "--out", str(out)])
    assert code == 0
    return out


def test_cli_export_validate_and_serve(ncnn_dir: Path, tmp_path: Path) -> None:
    from sr_compress.data.io import to_uint8
    from sr_compress.evaluate.validate import validate_export
    from sr_compress.runtime.manifest import read_manifest
    from sr_compress.serve import ServeConfig, create_app
    from sr_compress.serve.models import load_served_model
    from tests.integration.test_serve import OVERLAP, TILE, LiveServer, _offline

    m = read_manifest(ncnn_dir)
    assert [a.name for a in m.artifacts] == ["ncnn-fp32", "ncnn-fp16"]
    # validate reaches the ncnn runner through the registry (tiny embedded benchmark)
    from sr_compress.data.defaults import default_benchmark_dir

    res = validate_export(ncnn_dir, [default_benchmark_dir(4)], threads=1, write=False, progress=False)
    drops = {a["name"]: max(d["drop_db"] for d in a["datasets"].values()) for a in res["artifacts"]}
    assert drops["ncnn-fp32"] < 1e-3 and drops["ncnn-fp16"] < 0.05
    # sr-serve --model EXPORT --backend ncnn
    served = load_served_model(str(ncnn_dir), backend="ncnn", tile=TILE, overlap=OVERLAP, threads=1)
    assert (served.backend, served.precision, served.scale) == ("ncnn", "fp32", 4)
    img = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    with LiveServer(create_app([served], ServeConfig())) as srv:
        resp = httpx.post(f"{srv.url}/v1/upscale?format=png", content=buf.getvalue(),
                          headers={"Content-Type": "image/png"}, timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-backend"] == "ncnn"
    got = np.asarray(Image.open(io.BytesIO(resp.content)))
    assert got.shape == (160, 208, 3)
    assert np.array_equal(got, to_uint8(_offline(served.runner, img.astype(np.float32) / 255.0)))


def test_bench_backend_filter_runs_ncnn_only(ncnn_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    code = run_cli(cli, ["bench", str(ncnn_dir), "--backend", "ncnn", "--size", "16x16", "--batch", "1",
                         "--runs", "1", "--warmup", "0", "--threads", "1", "--json", str(out)])
    assert code == 0
    import json

    targets = {r["target"] for r in json.loads(out.read_text())["rows"]}
    assert targets == {"torch", "ncnn-fp32", "ncnn-fp16"}  # no torch.compile unless --compile
