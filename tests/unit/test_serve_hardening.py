"""Issue 14 regressions for sr-serve: work admission, fairness, cancellation, memory, shutdown, options.

Fake runners (nearest-neighbour x2) keep these fast; the live-server tests bind 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from sr_compress.errors import UserInputError
from sr_compress.runtime.base import Runner, RunnerInfo
from sr_compress.serve import Limits, ServeConfig, ServedModel, create_app
from sr_compress.serve.limits import RequestError
from tests.unit.test_serve_limits import png_bomb


class CountingX2(Runner):
    """Nearest x2 that counts the tiles it ran (and can be slow)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.info = RunnerInfo(backend="fake", precision="fp32", scale=2)
        self.delay = delay
        self.tiles = 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.tiles += len(batch)
        time.sleep(self.delay)
        return batch.repeat(2, axis=2).repeat(2, axis=3)


def _png(h: int, w: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _app(runner: Runner, tile: int | None = 32, overlap: int = 4, **cfg: Any) -> Any:
    return create_app([ServedModel("m", runner, "fake", tile=tile, overlap=overlap)], ServeConfig(**cfg))


# -- 1. admission bounds the work, from the header -----------------------------------------------
def test_thin_image_is_refused_from_the_header_before_any_tile_runs() -> None:
    runner = CountingX2()
    thin = png_bomb(width=200_000, height=1)  # passes max_pixels; padding makes thousands of tiles
    assert len(thin) < 10_000
    with TestClient(_app(runner, limits=Limits(max_pixels=1_000_000))) as client:
        r = client.post("/v1/upscale", content=thin, headers={"Content-Type": "image/png"})
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] in ("bad_aspect_ratio", "too_many_tiles")
        assert runner.tiles == 0  # refused before decoding: no tile ran
        # within the aspect limit, the tile budget still binds
        r = client.post("/v1/upscale", content=_png(40, 1200))
        assert r.status_code == 200
    with TestClient(_app(CountingX2(), limits=Limits(max_tiles=4))) as client:
        r = client.post("/v1/upscale", content=_png(100, 100))
        err = r.json()["error"]
        assert r.status_code == 413 and err["code"] == "too_many_tiles" and "--max-tiles" in err["message"]
    with TestClient(_app(CountingX2(), limits=Limits(max_output_pixels=1000))) as client:
        r = client.post("/v1/upscale", content=_png(20, 30))
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_output_pixels"


def test_check_work_counts_tiles_after_padding_and_swaps_exif_rotation() -> None:
    from sr_compress.models.registry import SizeRequirements
    from sr_compress.serve.limits import check_work, probe_image_size

    req = SizeRequirements()
    # 1 x 2 M px: pixels within 2 M, but far beyond aspect and tiles
    with pytest.raises(RequestError) as info:
        check_work(2_097_152, 1, 4, 128, 8, req, Limits(max_aspect=10**9), max_tiles=500)
    assert info.value.status == 413 and info.value.code == "too_many_tiles" and "after padding" in info.value.message
    assert check_work(256, 256, 2, 128, 8, req, Limits(), max_tiles=10) == 9
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (40, 20)).save(buf, format="JPEG", exif=exif)
    assert probe_image_size(buf.getvalue(), Limits()) == (20, 40)


# -- 2. fairness and cancellation -------------------------------------------------------------------
def test_small_request_interleaves_with_a_large_one() -> None:
    from sr_compress.serve.batching import MicroBatcher

    order: list[list[float]] = []

    class Marker(CountingX2):
        def run(self, batch: np.ndarray) -> np.ndarray:
            order.append([float(t[0, 0, 0]) for t in batch])
            return super().run(batch)

    async def main() -> None:
        b = MicroBatcher(Marker(delay=0.01), "m", max_batch=4, max_wait_ms=1, queue_size=8)
        big = asyncio.ensure_future(b.submit(np.zeros((40, 3, 8, 8), np.float32)))
        while not order:
            await asyncio.sleep(0.001)
        small = await b.submit(np.full((1, 3, 8, 8), 7.0, np.float32))
        assert small[0][0, 0, 0] == 7.0
        await big
        await b.drain()

    asyncio.run(main())
    first_small = next(i for i, batch in enumerate(order) if 7.0 in batch)
    assert first_small <= 2, order  # FIFO would run all 40 big tiles (10 batches) first


def test_cancelled_request_stops_using_the_model() -> None:
    from sr_compress.serve.batching import MicroBatcher

    runner = CountingX2(delay=0.02)

    async def main() -> None:
        b = MicroBatcher(runner, "m", max_batch=2, max_wait_ms=1, queue_size=8)
        task = asyncio.ensure_future(b.submit(np.zeros((50, 3, 8, 8), np.float32)))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        ran = runner.tiles
        await asyncio.sleep(0.2)
        assert runner.tiles <= ran + 2  # at most the batch that was already running
        await b.drain()

    asyncio.run(main())
    assert runner.tiles < 20


def test_client_disconnect_cancels_the_request() -> None:
    runner = CountingX2(delay=0.02)
    app = _app(runner, tile=16, overlap=2, max_batch=2, max_wait_ms=1)
    body = _png(120, 120)  # 64 tiles of 16 px
    sent: list[dict[str, Any]] = []

    async def main() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.sleep(0.15)
            return {"type": "http.disconnect"}

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)

        server = app.state.server
        await server.startup()
        scope = {"type": "http", "method": "POST", "path": "/v1/upscale", "raw_path": b"/v1/upscale",
                 "query_string": b"", "headers": [(b"content-type", b"image/png"),
                                                   (b"content-length", str(len(body)).encode())],
                 "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2),
                 "root_path": "", "app": app}
        await app(scope, receive, send)
        ran = runner.tiles
        await asyncio.sleep(0.2)
        assert runner.tiles <= ran + 2
        await server.shutdown()

    asyncio.run(main())
    assert runner.tiles < 40, runner.tiles
    assert sent[0]["status"] == 499
    assert app.state.server.metrics.value("sr_serve_errors_total", type="client_gone") == 1


# -- 4. shutdown: started work finishes, queued work is 503, never 500 ----------------------------
def test_drain_answers_queued_requests_503_and_finishes_started_ones() -> None:
    from sr_compress.serve.batching import MicroBatcher

    async def one(b: MicroBatcher, n: int) -> str:
        try:
            async with b.admit(n):
                await b.submit(np.zeros((n, 3, 8, 8), np.float32))
                return "ok"
        except RequestError as err:
            assert err.status == 503 and err.code == "shutting_down" and err.headers["Retry-After"] == "1"
            return err.code

    async def main() -> list[str]:
        b = MicroBatcher(CountingX2(delay=0.05), "m", max_batch=1, max_wait_ms=0, queue_size=8)
        tasks = [asyncio.ensure_future(one(b, 3)) for _ in range(4)]
        await asyncio.sleep(0.08)  # the first tiles of the first requests are running
        b.begin_drain()
        out = await asyncio.gather(*tasks)
        late = await one(b, 1)
        await b.drain(timeout=5)
        return [*out, late]

    out = asyncio.run(main())
    assert "ok" in out and out.count("shutting_down") >= 2 and out[-1] == "shutting_down"


class LiveServer:
    """The sr-serve uvicorn setup (our protocol class, DrainingServer) on an OS-chosen loopback port."""

    def __init__(self, app: Any, **kw: Any) -> None:
        from sr_compress.serve.server import make_server, server_config

        cfg = server_config(app, "127.0.0.1", 0, log_level="warning", access_log=False, configure_logging=False,
                            **kw)
        self.server = make_server(app, cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def test_sigterm_under_load_gives_200_or_503_never_500() -> None:
    import httpx

    app = _app(CountingX2(delay=0.02), tile=16, overlap=2, max_batch=2, max_wait_ms=1, drain_timeout_s=6)
    body = _png(40, 40)  # 9 tiles each
    srv = LiveServer(app, drain_timeout_s=6).__enter__()
    try:
        async def load() -> list[int | str]:
            async with httpx.AsyncClient(base_url=srv.url, timeout=30) as client:
                async def one() -> int | str:
                    try:
                        r = await client.post("/v1/upscale", content=body, headers={"Content-Type": "image/png"})
                    except httpx.TransportError as err:  # refused after the listener closed: not a 5xx
                        return type(err).__name__
                    if r.status_code == 503:
                        assert r.headers["retry-after"] and r.json()["error"]["code"] == "shutting_down"
                    return r.status_code

                tasks = [asyncio.ensure_future(one()) for _ in range(40)]
                batcher = app.state.server.batchers["m"]
                while batcher.tiles_run < 4:  # some requests have started, most are queued
                    await asyncio.sleep(0.005)
                srv.server.handle_exit(15, None)  # what SIGTERM calls
                return list(await asyncio.gather(*tasks))

        codes = asyncio.run(load())
    finally:
        srv.__exit__()
    assert 500 not in codes and set(c for c in codes if isinstance(c, int)) <= {200, 503}, codes
    assert 200 in codes and 503 in codes, codes


# -- 3. memory before admission, protocol-level limits ---------------------------------------------
def _raw(port: int, data: bytes, wait: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass
        return out


def _json_body(raw: bytes) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), raw[:300]
    return json.loads(body)


@pytest.fixture()
def small_server() -> Iterator[LiveServer]:
    app = _app(CountingX2(), max_body_bytes_in_flight=1_000_000, read_timeout_s=2,
               limits=Limits(max_upload_bytes=900_000))
    with LiveServer(app, header_timeout_s=0.5, max_connections=6) as srv:
        yield srv


def test_protocol_errors_are_json_and_slow_headers_time_out(small_server: LiveServer) -> None:
    port = small_server.port
    raw = _raw(port, b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400") and _json_body(raw)["error"]["code"] == "bad_request"
    t0 = time.monotonic()
    raw = _raw(port, b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\n", wait=5)  # headers never finish
    assert time.monotonic() - t0 < 3 and raw.startswith(b"HTTP/1.1 408")
    assert _json_body(raw)["error"]["code"] == "header_timeout"
    # declared too large: refused before a body byte is read
    raw = _raw(port, b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     b"Content-Length: 50000000\r\n\r\n", wait=3)
    assert raw.startswith(b"HTTP/1.1 413") and _json_body(raw)["error"]["code"] == "upload_too_large"


def test_body_bytes_and_connections_are_bounded(small_server: LiveServer) -> None:
    port = small_server.port
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.sendall(b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                    b"Content-Length: 800000\r\n\r\n" + b"\0" * 1000)  # reserves 800 kB, then stalls
    time.sleep(0.2)
    raw = _raw(port, b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     b"Content-Length: 800000\r\n\r\n", wait=3)
    assert raw.startswith(b"HTTP/1.1 503") and _json_body(raw)["error"]["code"] == "server_busy"
    # refused before its body was read: the connection is closed, not drained by the server
    assert b"retry-after" in raw.lower() and b"connection: close" in raw.lower()
    small = _png(16, 16)
    ok = _raw(port, b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n" % len(small) + small, wait=5)
    assert ok.startswith(b"HTTP/1.1 200")  # a small request still fits beside the stalled one
    stalled.close()
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
    try:
        raw = _raw(port, b"", wait=3)
        assert raw.startswith(b"HTTP/1.1 503") and _json_body(raw)["error"]["code"] == "too_many_connections"
    finally:
        for c in conns:
            c.close()


# -- 5. options, query parameters, token ---------------------------------------------------------------
def test_cli_refuses_tile_overlap_and_port_at_start_up() -> None:
    from click.testing import CliRunner

    from sr_compress.serve.cli import command

    for args, what in ((["--tile", "8", "--overlap", "8"], "--tile 8 must be larger than 2 x --overlap"),
                       (["--tile", "16", "--overlap", "8"], "2 x --overlap"),
                       (["--port", "99999"], "--port must be 0-65535")):
        res = CliRunner().invoke(command, ["--model", "x.onnx", *args], standalone_mode=False)
        assert isinstance(res.exception, UserInputError), res.output
        assert what in str(res.exception) and "\n" not in str(res.exception)


def test_app_refuses_a_model_whose_tile_is_all_overlap() -> None:
    with pytest.raises(UserInputError, match="tile 8 must be larger than 2 x overlap"):
        _app(CountingX2(), tile=8, overlap=8)


def test_unknown_scale_precision_and_parameters_are_400() -> None:
    with TestClient(_app(CountingX2())) as client:
        body = _png(8, 8)
        for query, code in (("scale=7", "bad_scale"), ("precision=int9", "bad_precision"),
                            ("quality=9", "bad_parameter")):
            r = client.post(f"/v1/upscale?{query}", content=body)
            assert r.status_code == 400 and r.json()["error"]["code"] == code, (query, r.text)
        assert client.post("/v1/upscale?scale=2&precision=fp32", content=body).status_code == 200
        docs = client.get("/docs", headers={"host": "example.org:9123"}).text
        assert "example.org:9123/v1/upscale" in docs and ":8000" not in docs


def test_non_ascii_token_matches_its_utf8_bytes() -> None:
    app = _app(CountingX2(), token="pässwörd-ключ")
    with TestClient(app) as client:
        good = {"Authorization": "Bearer pässwörd-ключ".encode()}  # what curl sends: UTF-8 bytes
        assert client.get("/v1/models", headers=good).status_code == 200  # type: ignore[arg-type]
        bad = {"Authorization": b"Bearer passwort"}
        assert client.get("/v1/models", headers=bad).status_code == 401  # type: ignore[arg-type]
