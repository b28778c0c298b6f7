"""sr-serve end to end: a real uvicorn server on a loopback port, a real HTTP client (httpx).

The model is a tiny EDSR student (fixed seed) exported to ONNX; outputs are compared bit-exactly
with offline inference (``runtime.tiling.upscale``) on the same ONNX Runtime runner.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
import uvicorn
from PIL import Image

from sr_compress.data.io import decode_image, to_uint8
from sr_compress.runtime.base import Runner, RunnerInfo
from sr_compress.runtime.tiling import upscale
from sr_compress.serve import Limits, ServeConfig, ServedModel, create_app
from tests.helpers import shared_data
from tests.unit.test_serve_limits import png_bomb

pytestmark = pytest.mark.integration

SCALE, TILE, OVERLAP = 2, 64, 8


class LiveServer:
    """uvicorn in a background thread on an OS-chosen loopback port."""

    def __init__(self, app: object) -> None:
        cfg = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
                             timeout_graceful_shutdown=10)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sr_compress.export.manifest import ArtifactEntry, Manifest, sha256_file
    from sr_compress.export.onnx import export_onnx
    from sr_compress.models.students import build_student

    torch.manual_seed(1234)
    desc = build_student("edsr:c16b2", SCALE)
    out = tmp_path_factory.mktemp("serve_export")
    settings = export_onnx(desc, out / "model.onnx")
    Manifest(arch=desc.arch, scale=SCALE, size_requirements={"minimum": 1, "multiple_of": 1},
             artifacts=[ArtifactEntry("onnx-fp32", "model.onnx", "onnxruntime", "fp32",
                                      sha256_file(out / "model.onnx"), 17, settings)]).write(out)
    return out


@pytest.fixture(scope="module")
def served(export_dir: Path) -> ServedModel:
    from sr_compress.serve.models import load_served_model

    m = load_served_model(f"tiny={export_dir}", tile=TILE, overlap=OVERLAP, threads=2)
    assert (m.backend, m.scale) == ("onnxruntime", SCALE)
    return m


@pytest.fixture(scope="module")
def live(served: ServedModel) -> Iterator[LiveServer]:
    cfg = ServeConfig(limits=Limits(max_upload_bytes=3 * 1024 * 1024, max_pixels=1_000_000),
                      max_batch=8, max_wait_ms=10, queue_size=32)
    with LiveServer(create_app([served], cfg)) as srv:
        yield srv


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _offline(runner: Runner, rgb_hwc: np.ndarray) -> np.ndarray:
    chw = np.ascontiguousarray(np.transpose(rgb_hwc, (2, 0, 1)), dtype=np.float32)
    return upscale(runner, chw, tile=TILE, overlap=OVERLAP, batch=4)


def _metric(text: str, line_prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_concurrent_requests_equal_offline_inference_bit_exactly(live: LiveServer, served: ServedModel) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((150, 200), (64, 64), (97, 131))]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            return await asyncio.gather(*(
                client.post("/v1/upscale?model=tiny&format=png", content=_png(img),
                            headers={"Content-Type": "image/png"}) for img in images * 2))

    responses = asyncio.run(send_all())
    for img, resp in zip(images * 2, responses):
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "image/png"
        assert resp.headers["x-model"] == "tiny" and resp.headers["x-scale"] == "2"
        assert resp.headers["x-backend"] == "onnxruntime" and float(resp.headers["x-elapsed-ms"]) > 0
        got = np.asarray(Image.open(io.BytesIO(resp.content)))
        want = to_uint8(_offline(served.runner, img.astype(np.float32) / 255.0))
        assert got.shape == (img.shape[0] * SCALE, img.shape[1] * SCALE, 3)
        assert np.array_equal(got, want)
    # multipart gives the same bytes back; webp/jpeg have their content types
    with httpx.Client(base_url=live.url, timeout=60) as client:
        multi = client.post("/v1/upscale", files={"image": ("a.png", _png(images[1]), "image/png")})
        assert multi.status_code == 200 and multi.content == responses[1].content
        for fmt, ctype in (("webp", "image/webp"), ("jpeg", "image/jpeg")):
            r = client.post(f"/v1/upscale?format={fmt}", content=_png(images[1]))
            assert r.status_code == 200 and r.headers["content-type"] == ctype
            assert Image.open(io.BytesIO(r.content)).size == (128, 128)


def test_every_realworld_edge_case_is_served(live: LiveServer, served: ServedModel) -> None:
    folder = shared_data("realworld", "RealESRGAN_inputs_edgecases")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    assert files
    import cv2

    with httpx.Client(base_url=live.url, timeout=120) as client:
        for path in files:
            resp = client.post("/v1/upscale", content=path.read_bytes())
            assert resp.status_code == 200, (path.name, resp.text)
            src = decode_image(path)
            h, w = src.rgb.shape[:2]
            out = cv2.imdecode(np.frombuffer(resp.content, np.uint8), cv2.IMREAD_UNCHANGED)
            assert out.shape[:2] == (h * SCALE, w * SCALE), path.name
            sr = np.transpose(np.clip(_offline(served.runner, src.rgb), 0, 1), (1, 2, 0))
            src_img = Image.open(path)
            gray = src_img.mode in ("L", "LA", "I;16")
            if src.bit_depth == 16:
                assert out.dtype == np.uint16, path.name  # 16-bit in, 16-bit PNG out
                peak = 65535.0
            else:
                assert out.dtype == np.uint8, path.name
                peak = 255.0
            if gray:
                assert out.ndim == 2 or out.shape[2] == 2, path.name
                luma = sr[..., 0] * 0.299 + sr[..., 1] * 0.587 + sr[..., 2] * 0.114
                got = out if out.ndim == 2 else out[..., 0]
                assert np.abs(got.astype(float) - np.round(luma * peak)).max() <= 1, path.name
            else:
                assert out.shape[2] == (4 if src.alpha is not None else 3), path.name
                rgb = out[..., [2, 1, 0]].astype(float)
                assert np.abs(rgb - np.round(sr * peak)).max() <= 1, path.name
            if src.alpha is not None:
                alpha = out[..., -1].astype(float) / peak
                ref = np.asarray(Image.fromarray(src.alpha).resize((w * SCALE, h * SCALE), Image.Resampling.BICUBIC))
                assert np.abs(alpha - np.clip(ref, 0, 1)).max() <= 1.5 / peak, path.name


def test_bad_inputs_are_4xx_json_and_never_reach_the_catch_all(live: LiveServer) -> None:
    good = _png(np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    edge = shared_data("realworld", "RealESRGAN_inputs_edgecases", "children-alpha.png").read_bytes()

    def chunks() -> Iterator[bytes]:
        for _ in range(8):  # 4 MiB without a Content-Length: caught while streaming
            yield b"\0" * (512 * 1024)

    cases = [
        ("truncated PNG", dict(content=edge[: len(edge) // 3]), 400, "corrupt_image"),
        ("truncated JPEG", dict(content=(shared_data("realworld", "RealESRGAN_inputs_edgecases", "wolf_gray.jpg")
                                         .read_bytes()[:2000])), 400, "corrupt_image"),
        ("pixel bomb", dict(content=png_bomb()), 413, "too_many_pixels"),
        ("JSON body", dict(content=b'{"image": 1}', headers={"Content-Type": "application/json"}), 415,
         "unsupported_media_type"),
        ("text claiming PNG", dict(content=b"hello", headers={"Content-Type": "image/png"}), 415,
         "unsupported_format"),
        ("GIF", dict(content=gif.getvalue()), 415, "unsupported_format"),
        ("oversized body", dict(content=b"\0" * (4 * 1024 * 1024)), 413, "upload_too_large"),
        ("oversized chunked body", dict(content=chunks()), 413, "upload_too_large"),
        ("empty body", dict(content=b""), 400, "empty_body"),
        ("multipart without file", dict(data={"x": "1"}, files={}), 415, "unsupported_media_type"),
        ("bad multipart", dict(content=b"--zz\r\nnonsense",
                               headers={"Content-Type": "multipart/form-data; boundary=zz"}), 400, "bad_multipart"),
    ]
    with httpx.Client(base_url=live.url, timeout=60) as client:
        before = client.get("/metrics").text
        for name, kwargs, status, code in cases:
            resp = client.post("/v1/upscale", **kwargs)
            assert resp.status_code == status, (name, resp.text)
            body = resp.json()["error"]
            assert body["code"] == code and body["message"], name
        r = client.post("/v1/upscale?model=nope", content=good)
        assert r.status_code == 404 and "tiny" in r.json()["error"]["message"]
        r = client.post("/v1/upscale?format=bmp", content=good)
        assert r.status_code == 400 and "png, webp or jpeg" in r.json()["error"]["message"]
        assert "max_pixels=1000000" in client.post("/v1/upscale", content=png_bomb()).json()["error"]["message"]
        assert client.get("/v1/upscale").status_code == 405
        assert client.get("/nope").json()["error"]["code"] == "not_found"
        assert client.post("/v1/upscale", content=good).status_code == 200  # still healthy
        after = client.get("/metrics").text
    assert _metric(after, 'sr_serve_errors_total{type="internal"}') == 0
    assert _metric(after, 'sr_serve_errors_total{type="too_many_pixels"}') - _metric(
        before, 'sr_serve_errors_total{type="too_many_pixels"}') == 2
    assert 'status="500"' not in after


def test_models_health_metrics_and_openapi(live: LiveServer) -> None:
    img = _png(np.random.default_rng(4).integers(0, 256, (100, 70, 3), dtype=np.uint8))
    with httpx.Client(base_url=live.url, timeout=60) as client:
        before = client.get("/metrics").text
        tiles = 0
        for _ in range(3):
            r = client.post("/v1/upscale?model=tiny", content=img)
            assert r.status_code == 200
            tiles += int(r.headers["x-tiles"])
        text = client.get("/metrics").text
        models = client.get("/v1/models").json()["models"]
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
    ok = 'sr_serve_requests_total{model="tiny",status="200"}'
    assert _metric(text, ok) - _metric(before, ok) == 3
    t = 'sr_serve_tiles_processed_total{model="tiny"}'
    assert tiles == 3 * 4 and _metric(text, t) - _metric(before, t) == tiles
    c = 'sr_serve_request_latency_seconds_count{model="tiny"}'
    assert _metric(text, c) - _metric(before, c) == 3
    assert "sr_serve_in_flight_requests 0" in text
    assert models[0]["name"] == "tiny" and models[0]["scale"] == 2 and models[0]["backend"] == "onnxruntime"
    assert models[0]["limits"]["max_input_pixels"] == 1_000_000
    assert spec["openapi"].startswith("3.") and "/v1/upscale" in spec["paths"]
    assert spec["paths"]["/v1/upscale"]["post"]["parameters"][0]["schema"]["enum"] == ["tiny"]
    assert docs.status_code == 200 and "/v1/upscale" in docs.text


class SlowX2(Runner):
    def __init__(self, delay: float) -> None:
        self.info = RunnerInfo(backend="fake", precision="fp32", scale=2)
        self.delay = delay

    def run(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(self.delay)
        return batch.repeat(2, axis=2).repeat(2, axis=3)


def test_token_full_queue_503_and_graceful_drain() -> None:
    img = _png(np.zeros((16, 16, 3), np.uint8))
    model = ServedModel("slow", SlowX2(0.6), "fake", tile=None)
    cfg = ServeConfig(queue_size=1, max_batch=4, max_wait_ms=1, token="s3cret", read_timeout_s=0.5)
    auth = {"Authorization": "Bearer s3cret"}
    app = create_app([model], cfg)
    srv = LiveServer(app).__enter__()
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:
            assert client.post("/v1/upscale", content=img).status_code == 401
            r = client.post("/v1/upscale", content=img, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            assert client.get("/v1/models").status_code == 401
            assert client.get("/healthz").status_code == 200

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=srv.url, timeout=30, headers=auth) as client:
                return await asyncio.gather(*(client.post("/v1/upscale", content=img) for _ in range(4)))

        async def trickle() -> httpx.Response:
            async def body() -> AsyncIterator[bytes]:
                yield img[:10]
                await asyncio.sleep(1.5)
                yield img[10:]

            async with httpx.AsyncClient(base_url=srv.url, timeout=30, headers=auth) as client:
                return await client.post("/v1/upscale", content=body())

        slow = asyncio.run(trickle())
        assert slow.status_code == 408 and "read-timeout" in slow.json()["error"]["message"]

        replies = asyncio.run(burst())
        codes = [r.status_code for r in replies]
        assert codes.count(200) >= 1 and codes.count(503) >= 1 and set(codes) <= {200, 503}
        for r in replies:
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "queue_full"
                assert "queue_size=1" in r.json()["error"]["message"]

        # shutdown while a request is in flight: it still completes
        result: dict[str, int] = {}

        def slow_request() -> None:
            with httpx.Client(base_url=srv.url, timeout=30, headers=auth) as client:
                result["status"] = client.post("/v1/upscale", content=img).status_code

        t = threading.Thread(target=slow_request)
        t.start()
        deadline = time.monotonic() + 20
        while app.state.server.metrics.value("sr_serve_in_flight_requests") < 1:  # the request is inside the handler
            assert time.monotonic() < deadline
            time.sleep(0.01)
        srv.server.should_exit = True
        t.join(timeout=30)
        assert result.get("status") == 200
    finally:
        srv.__exit__()
    assert not srv.thread.is_alive()


def test_sr_serve_cli_serves_an_export_dir_and_stops_on_sigterm(export_dir: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SR_SERVE_TOKEN": "tok", "SR_COMPRESS_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sr_compress.serve.cli import main; main()", "--model", f"tiny={export_dir}",
         "--model", f"raw={export_dir / 'model.onnx'}", "--port", str(port), "--tile", "64", "--log-level", "info"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "sr-serve did not become ready"
            time.sleep(0.2)
        img = _png(np.random.default_rng(5).integers(0, 256, (32, 48, 3), dtype=np.uint8))
        auth = {"Authorization": "Bearer tok"}
        # two models by name from one process; the first --model is the default
        listed = httpx.get(url + "/v1/models", headers=auth, timeout=10).json()["models"]
        assert [(m["name"], m["default"], m["scale"], m["arch"]) for m in listed] == [
            ("tiny", True, 2, "edsr"), ("raw", False, 2, "edsr")]
        outs = {}
        for query, name in (("", "tiny"), ("?model=raw", "raw"), ("?model=tiny", "tiny")):
            r = httpx.post(url + "/v1/upscale" + query, content=img, headers=auth, timeout=60)
            assert r.status_code == 200 and r.headers["x-model"] == name
            assert Image.open(io.BytesIO(r.content)).size == (96, 64)
            outs[query] = r.content
        assert outs[""] == outs["?model=tiny"] == outs["?model=raw"]  # same ONNX file behind both names
        spec = httpx.get(url + "/openapi.json", timeout=10).json()
        assert spec["paths"]["/v1/upscale"]["post"]["parameters"][0]["schema"]["enum"] == ["raw", "tiny"]
        assert spec["paths"]["/v1/upscale"]["post"]["security"] == [{"bearer": []}]
        proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the status is -15 (143 in a shell)
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        log = proc.stdout.read().decode() if proc.stdout else ""
        assert "in-flight requests drained, 2 model(s) closed" in log and "Traceback" not in log, log
        # one log format for uvicorn and us, with an access log line per request
        assert re.search(r'\d\d:\d\d:\d\d,\d+ INFO uvicorn\.access: 127\.0\.0\.1:\d+ - "POST /v1/upscale\?model=raw '
                         r'HTTP/1\.1" 200', log), log
        assert re.search(r"\d,\d+ INFO uvicorn\.error: Uvicorn running on", log), log
        assert re.search(r"\d,\d+ INFO sr_compress\.serve: sr-serve: in-flight requests drained", log), log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sr_serve_cli_bad_model_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from sr_compress.cli import run_cli
    from sr_compress.serve.cli import command

    assert run_cli(command, ["--model", "/nonexistent/model.onnx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --model /nonexistent/model.onnx") and "does not exist" in err
    assert len(err.strip().splitlines()) == 1


class TritonStandIn:
    """A loopback stand-in for Triton's HTTP endpoint (KServe v2 + binary tensor extension).

    It serves the repository ``sr-compress export --triton`` wrote: metadata and config come from
    the parsed ``config.pbtxt`` (config rendered as protobuf JSON, as Triton does), and it refuses
    inputs that break the config (batch > max_batch_size, wrong dims or datatype), like Triton.
    Real Triton was not available on the build machines; this checks our side of the protocol.
    """

    def __init__(self, model_dir: Path) -> None:
        from google.protobuf import json_format

        from sr_compress.export.triton import parse_config
        from sr_compress.runtime.runners import make_runner

        self.cfg = parse_config((model_dir / "config.pbtxt").read_text())
        self.config_json = json_format.MessageToDict(self.cfg, preserving_proto_field_name=True)
        self.runner = make_runner(model_dir / "1" / "model.onnx", "onnxruntime", threads=2)
        self.batches: list[int] = []

    def app(self) -> object:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        cfg = self.cfg
        batch_dim = [-1] if cfg.max_batch_size > 0 else []

        def io(t: object) -> dict:
            return {"name": t.name, "datatype": "FP32", "shape": batch_dim + list(t.dims)}

        async def metadata(request: Request) -> Response:
            return JSONResponse({"name": cfg.name, "versions": ["1"], "platform": cfg.platform,
                                 "inputs": [io(cfg.input[0])], "outputs": [io(cfg.output[0])]})

        async def config(request: Request) -> Response:
            return JSONResponse(self.config_json)

        async def infer(request: Request) -> Response:
            body = await request.body()
            n = int(request.headers["inference-header-content-length"])
            head = json.loads(body[:n])
            (inp,) = head["inputs"]
            shape = inp["shape"]
            want = batch_dim + list(cfg.input[0].dims)
            ok = (inp["name"] == cfg.input[0].name and inp["datatype"] == "FP32" and len(shape) == len(want)
                  and all(w in (-1, s) for w, s in zip(want, shape)) and shape[0] <= cfg.max_batch_size)
            if not ok:
                return JSONResponse({"error": f"bad input {inp}"}, status_code=400)
            x = np.frombuffer(body[n : n + inp["parameters"]["binary_data_size"]], "<f4").reshape(shape)
            self.batches.append(shape[0])
            y = np.ascontiguousarray(self.runner.run(x), dtype="<f4")
            out = json.dumps({"model_name": cfg.name, "outputs": [{
                "name": cfg.output[0].name, "datatype": "FP32", "shape": list(y.shape),
                "parameters": {"binary_data_size": y.nbytes}}]}).encode()
            return Response(out + y.tobytes(), media_type="application/octet-stream",
                            headers={"Inference-Header-Content-Length": str(len(out))})

        base = f"/v2/models/{cfg.name}"
        return Starlette(routes=[Route(base, metadata), Route(base + "/config", config),
                                 Route(base + "/infer", infer, methods=["POST"])])


def test_triton_backed_model_equals_offline_inference(export_dir: Path, served: ServedModel,
                                                      tmp_path: Path) -> None:
    from sr_compress.errors import UserInputError
    from sr_compress.export.triton import write_triton_repo
    from sr_compress.serve.models import load_served_model

    model_dir = write_triton_repo(export_dir, tmp_path / "repo", name="tiny_x2", max_batch_size=4, tile=TILE,
                                  device="cpu")
    triton = TritonStandIn(model_dir)
    rng = np.random.default_rng(7)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((150, 200), (64, 64), (97, 131))]
    with LiveServer(triton.app()) as backend:
        remote = load_served_model(f"{backend.url.replace('http://', 'triton://')}/tiny_x2", overlap=OVERLAP)
        assert (remote.name, remote.scale, remote.backend, remote.tile, remote.arch) == (
            "tiny_x2", SCALE, "triton", TILE, "edsr")
        local = ServedModel("local", served.runner, served.source, tile=TILE, overlap=OVERLAP)
        cfg = ServeConfig(max_batch=8, max_wait_ms=10)
        with LiveServer(create_app([remote, local], cfg)) as front:

            async def send_all() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=front.url, timeout=60) as client:
                    return await asyncio.gather(*(
                        client.post("/v1/upscale?model=tiny_x2", content=_png(img),
                                    headers={"Content-Type": "image/png"}) for img in images * 2))

            tiles = 0
            for img, resp in zip(images * 2, asyncio.run(send_all())):
                assert resp.status_code == 200, resp.text
                tiles += int(resp.headers["x-tiles"])
                assert resp.headers["x-backend"] == "triton" and resp.headers["x-model"] == "tiny_x2"
                want = to_uint8(_offline(served.runner, img.astype(np.float32) / 255.0))
                assert np.array_equal(np.asarray(Image.open(io.BytesIO(resp.content))), want)
            # sr-serve never sends Triton more tiles than the config's max_batch_size
            assert triton.batches and max(triton.batches) <= 4 and sum(triton.batches) == tiles
            backend.server.should_exit = True
            backend.thread.join(timeout=30)
            r = httpx.post(front.url + "/v1/upscale?model=tiny_x2", content=_png(images[1]), timeout=60)
            assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unavailable"
            assert httpx.post(front.url + "/v1/upscale?model=local", content=_png(images[1])).status_code == 200
    with pytest.raises(UserInputError, match="cannot reach Triton"):
        load_served_model(f"{backend.url.replace('http://', 'triton://')}/tiny_x2")
    with pytest.raises(UserInputError, match="triton://HOST:PORT/MODEL"):
        load_served_model("x=triton://127.0.0.1:1/")
