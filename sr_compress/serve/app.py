"""The ``sr-serve`` ASGI app (Starlette): upscale endpoint, model list, health, metrics, OpenAPI.

Request path of ``POST /v1/upscale``: auth → query check → body read (Content-Length checked
before reading, a budget on body bytes held server-wide, a read timeout) → header-only probe
(format, input pixels) → WORK admission from the header (aspect ratio, output pixels, tiles after
padding; then a request slot and the model's tile budget, 503 when full) → decode in a thread →
tiles from ``runtime/tiling.py`` → :class:`MicroBatcher` (round-robin across requests, inference
in the model's worker thread) → merge → alpha (bicubic) re-attached → encode in a thread.

Once the body is read, a client that disconnects cancels its request (its queued tiles are
dropped). On SIGTERM (:meth:`SRServer.begin_drain`) requests whose tiles have started finish,
the others get 503 ``shutting_down``; shortly before uvicorn's graceful-shutdown deadline every
request still open is answered 503, so shutdown never produces a 500. Anything the client got
wrong is a :class:`RequestError` answered as 4xx/503 JSON; the catch-all 500 exists only for our
own bugs and is counted separately (``sr_serve_errors_total{type="internal"}``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..data.io import encode_image, resize_alpha
from ..errors import UserInputError
from ..runtime.tiling import extract_tiles, make_plan, merge_tiles
from .batching import MicroBatcher
from .limits import (
    OUTPUT_FORMATS,
    Limits,
    RequestError,
    Upload,
    check_content_type,
    check_upload_size,
    check_work,
    decode_upload,
    probe_image_size,
)
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import ServerMetrics
from .models import ServedModel
from .openapi import openapi_spec
from .page import docs_html

log = logging.getLogger("sr_compress.serve")
T = TypeVar("T")
QUERY_PARAMS = ("model", "format", "scale", "precision")


@dataclass
class ServeConfig:
    limits: Limits = field(default_factory=Limits)
    max_batch: int = 8
    max_wait_ms: float = 5.0
    queue_size: int = 64
    # tiles admitted (waiting or running) per model; None = 4 x the per-request tile budget
    max_queued_tiles: int | None = None
    # request body bytes held at once, server-wide: bounds memory before admission (150 stalled uploads)
    max_body_bytes_in_flight: int = 256 * 1024 * 1024
    token: str | None = None
    default_format: str = "png"
    drain_timeout_s: float = 30.0
    # a client that trickles its body would otherwise hold a connection forever (slowloris)
    read_timeout_s: float = 60.0
    jpeg_quality: int = 95
    webp_quality: int = 95
    retry_after_s: int = 1


# refused bodies above this size are not drained (uvicorn pauses reading at 64 KiB buffered)
_DRAIN_LIMIT = 64 * 1024


def _declared_length(request: Request) -> int:
    """Content-Length (0 for chunked/unparsable bodies: a client streaming those reads the answer only
    after sending, so closing under it would lose the answer; the header deadline closes it later)."""
    try:
        return int(request.headers.get("content-length", ""))
    except ValueError:
        return 0


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


def _error_response(err: RequestError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


# -- image post-processing (runs in a worker thread) -------------------------------------------
def encode_result(sr: np.ndarray, upload: Upload, scale: int, fmt: str, config: ServeConfig) -> tuple[bytes, str]:
    """(3, H, W) float SR → encoded bytes keeping gray/alpha/16-bit/ICC where the format allows.

    The encoding itself is the library's (``data/io.py``), shared with ``sr-compress upscale``.
    """
    rgb = np.transpose(sr, (1, 2, 0))
    h, w = rgb.shape[:2]
    alpha = resize_alpha(upload.alpha, h, w) if upload.alpha is not None else None
    quality = config.webp_quality if fmt == "webp" else config.jpeg_quality
    data = encode_image(rgb, fmt, alpha=alpha, gray=upload.gray, bit_depth=upload.bit_depth,
                        icc_profile=upload.icc_profile, quality=quality)
    return data, OUTPUT_FORMATS[fmt]


# -- the app ------------------------------------------------------------------------------------
@dataclass
class _Ctx:
    """Per-request bookkeeping the handler's ``finally`` needs."""

    model: str = "-"
    body_bytes: int = 0
    body_read: bool = False


async def _first_of(work: Awaitable[T], stop: Callable[[], Coroutine[Any, Any, object]]) -> tuple[bool, T | None]:
    """Run ``work`` until it finishes or ``stop()`` returns; (True, result) or (False, None) with work cancelled."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        waiter.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    # a thread-pool step cannot be interrupted; retrieve its outcome later so nothing is logged as lost
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return False, None


class SRServer:
    """State shared by the handlers: models, their batchers, metrics, readiness, drain state."""

    def __init__(self, models: list[ServedModel], config: ServeConfig) -> None:
        if not models:
            raise ValueError("sr-serve needs at least one model")
        names = [m.name for m in models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise UserInputError(f"--model: the name(s) {', '.join(sorted(dup))} are used twice; use NAME=PATH")
        for m in models:
            tile, overlap = self._tiling(m)
            side = min(tile) if isinstance(tile, tuple) else tile
            if side is not None and side <= 2 * overlap:
                # every tile would be all overlap: each request would fail (a 500) instead of the start-up
                raise UserInputError(f"model {m.name}: tile {side} must be larger than 2 x overlap ({overlap}); "
                                     "use a larger --tile or a smaller --overlap")
        self.models = {m.name: m for m in models}
        self.default_model = models[0].name
        self.config = config
        self.metrics = ServerMetrics()
        self.batchers: dict[str, MicroBatcher] = {}
        # per-request tile budget of each model (depends on its tile size and size requirements)
        self.tile_budgets = {m.name: config.limits.tile_budget(*self._tiling(m), m.runner.info.size_requirements)
                             for m in models}
        self.ready = False
        self.draining = False
        self._body_bytes = 0
        self._abort: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _tiling(model: ServedModel) -> tuple[int | tuple[int, int] | None, int]:
        info = model.runner.info
        tile: int | tuple[int, int] | None = tuple(info.fixed_shape) if info.fixed_shape else model.tile  # type: ignore[assignment]
        return tile, (model.overlap if tile is not None else 0)

    # lifecycle ---------------------------------------------------------------------------------
    async def startup(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._abort = asyncio.Event()
        for name, m in self.models.items():
            queued = self.config.max_queued_tiles or 4 * self.tile_budgets[name]
            b = MicroBatcher(m.runner, name, self.config.max_batch, self.config.max_wait_ms,
                             self.config.queue_size, self.metrics, self.config.retry_after_s, queued)
            b.start()
            self.batchers[name] = b
        self.ready = True

    def request_exit(self) -> None:
        """Thread/signal-safe entry to :meth:`begin_drain` (called from uvicorn's SIGTERM handler)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.begin_drain)

    def begin_drain(self) -> None:
        """SIGTERM: stop admitting, 503 the not-yet-started work, finish the rest before the deadline."""
        if self.draining:
            return
        self.draining = True
        self.ready = False
        for b in self.batchers.values():
            b.begin_drain()
        # answer everything still open shortly before uvicorn's graceful-shutdown deadline cancels it
        margin = min(2.0, self.config.drain_timeout_s / 4)
        asyncio.get_running_loop().call_later(max(0.0, self.config.drain_timeout_s - margin), self._abort_now)
        log.info("sr-serve: draining (in-flight work finishes, queued work gets 503 shutting_down)")

    def _abort_now(self) -> None:
        if self._abort is not None:
            self._abort.set()
        for b in self.batchers.values():
            b.abort_all()

    async def shutdown(self) -> None:
        self.begin_drain()
        await asyncio.gather(*(b.drain(self.config.drain_timeout_s) for b in self.batchers.values()))
        for m in self.models.values():
            try:
                m.runner.close()
            except Exception:  # noqa: BLE001 - closing must not stop the others
                log.exception("closing model %s failed", m.name)
        log.info("sr-serve: in-flight requests drained, %d model(s) closed", len(self.models))

    def _shutting_down(self) -> RequestError:
        return RequestError(503, "shutting_down", "server is shutting down; retry on another replica",
                            {"Retry-After": str(self.config.retry_after_s)})

    # helpers -----------------------------------------------------------------------------------
    def check_auth(self, request: Request) -> None:
        token = self.config.token
        if not token:
            return
        # header values arrive decoded as latin-1: recover the bytes, compare with the token's UTF-8 bytes
        got = request.headers.get("authorization", "").encode("latin-1", "replace")
        scheme, _, value = got.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), token.encode("utf-8")):
            raise RequestError(401, "unauthorized", "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                               {"WWW-Authenticate": 'Bearer realm="sr-serve"'})

    def pick_model(self, request: Request) -> ServedModel:
        name = request.query_params.get("model") or self.default_model
        m = self.models.get(name)
        if m is None:
            raise RequestError(404, "unknown_model",
                               f"model {name[:64]!r} is not served; known models: {', '.join(sorted(self.models))}")
        return m

    def pick_format(self, request: Request) -> str:
        fmt = (request.query_params.get("format") or self.config.default_format).lower()
        if fmt not in OUTPUT_FORMATS:
            raise RequestError(400, "bad_format", f"format={fmt[:32]!r} is not supported; use png, webp or jpeg")
        return "jpeg" if fmt == "jpg" else fmt

    def check_query(self, request: Request, model: ServedModel) -> None:
        """Unknown parameters and a scale/precision the model does not have are refused, not ignored."""
        unknown = sorted(set(request.query_params) - set(QUERY_PARAMS))
        if unknown:
            raise RequestError(400, "bad_parameter", f"unknown query parameter(s) {', '.join(u[:32] for u in unknown)}; "
                               f"accepted: {', '.join(QUERY_PARAMS)}")
        scale = request.query_params.get("scale")
        if scale is not None and scale.strip() != str(model.scale):
            raise RequestError(400, "bad_scale", f"scale={scale[:16]!r}: model {model.name!r} upscales x{model.scale} "
                               "only; omit scale or pick another model with ?model= (GET /v1/models)")
        precision = request.query_params.get("precision")
        if precision is not None and precision.strip().lower() != model.precision:
            raise RequestError(400, "bad_precision", f"precision={precision[:16]!r}: model {model.name!r} runs "
                               f"{model.precision}; omit precision or serve that artifact under another name")

    def _reserve_body(self, ctx: _Ctx, n: int) -> None:
        cap = self.config.max_body_bytes_in_flight
        if self._body_bytes > 0 and self._body_bytes + n > cap:
            raise RequestError(503, "server_busy", f"the server holds {self._body_bytes} bytes of request bodies; "
                               f"the limit is max_body_bytes_in_flight={cap} (sr-serve --max-body-mb-in-flight); "
                               "retry later", {"Retry-After": str(self.config.retry_after_s)})
        self._body_bytes += n
        ctx.body_bytes += n
        self.metrics.body_bytes.set(self._body_bytes)

    def _release_body(self, ctx: _Ctx) -> None:
        self._body_bytes -= ctx.body_bytes
        ctx.body_bytes = 0
        self.metrics.body_bytes.set(self._body_bytes)

    async def read_image_bytes(self, request: Request, ctx: _Ctx) -> bytes:
        limits = self.config.limits
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                raise RequestError(400, "bad_request", f"Content-Length {declared[:32]!r} is not a number") from None
            check_upload_size(n, limits)  # before reading a byte of the body
            self._reserve_body(ctx, n)
        ctype = request.headers.get("content-type", "")
        is_multipart = ctype.lower().startswith("multipart/form-data")
        if not is_multipart:
            check_content_type(ctype)
        chunks: list[bytes] = []

        async def read_all() -> None:
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                check_upload_size(total, limits)  # chunked uploads have no Content-Length to trust
                if total > ctx.body_bytes:
                    self._reserve_body(ctx, total - ctx.body_bytes)
                chunks.append(chunk)

        try:
            await asyncio.wait_for(read_all(), self.config.read_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(408, "request_timeout", f"the body was not received within "
                               f"{self.config.read_timeout_s:g} s (sr-serve --read-timeout)") from None
        body = b"".join(chunks)
        chunks.clear()
        if is_multipart:
            body = await self._from_multipart(request, body)
        if not body:
            raise RequestError(400, "empty_body", "the request has no image; send the image bytes as the body "
                               "or as a multipart field named 'image'")
        return body

    async def _from_multipart(self, request: Request, body: bytes) -> bytes:
        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=4, max_fields=16)
        except Exception as err:  # noqa: BLE001 - python-multipart raises several unrelated types
            raise RequestError(400, "bad_multipart", f"multipart body cannot be parsed ({err})") from None
        try:
            upload = form.get("image") or form.get("file")
            if upload is None:
                upload = next((v for v in form.values() if isinstance(v, UploadFile)), None)
            if not isinstance(upload, UploadFile):
                raise RequestError(400, "bad_multipart", "multipart body has no file field; name it 'image'")
            if upload.content_type:
                check_content_type(upload.content_type)
            return await upload.read()
        finally:
            await form.close()

    async def _until_abort(self, work: Awaitable[T]) -> T:
        """``work``, unless the drain deadline comes first: then 503 (uvicorn would cancel it into a 500)."""
        abort = self._abort
        if abort is None:
            return await work
        finished, result = await _first_of(work, abort.wait)
        if not finished:
            raise self._shutting_down()
        return result  # type: ignore[return-value]

    async def _until_disconnect(self, request: Request, work: Awaitable[T]) -> T:
        """``work``, cancelled (its tiles dropped) when the client disconnects; call after the body is read."""
        async def disconnected() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        finished, result = await _first_of(work, disconnected)
        if not finished:
            raise ClientGone()
        return result  # type: ignore[return-value]

    # handlers ----------------------------------------------------------------------------------
    async def upscale(self, request: Request) -> Response:
        t0 = time.perf_counter()
        ctx = _Ctx()
        self.metrics.in_flight.inc()
        try:
            response = await self._until_abort(self._upscale(request, ctx))
            elapsed = time.perf_counter() - t0
            self.metrics.requests.labels(model=ctx.model, status="200").inc()
            self.metrics.latency.labels(model=ctx.model).observe(elapsed)
            response.headers["X-Elapsed-Ms"] = f"{elapsed * 1000:.1f}"
            return response
        except RequestError as err:
            self.metrics.requests.labels(model=ctx.model, status=str(err.status)).inc()
            self.metrics.errors.labels(type=err.code).inc()
            response = _error_response(err)
            if not ctx.body_read and _declared_length(request) > _DRAIN_LIMIT:
                # refused before a large body was read: close rather than let uvicorn read and discard it
                # (150 refused 18 MiB uploads otherwise cost the CPU of 2.7 GB of parsing). Small bodies
                # are already buffered; closing on them would reset the connection under the answer.
                response.headers["Connection"] = "close"
            return response
        except ClientGone:
            # nobody reads this answer; 499 is nginx's "client closed request", used in logs and metrics
            self.metrics.requests.labels(model=ctx.model, status="499").inc()
            self.metrics.errors.labels(type="client_gone").inc()
            return Response(status_code=499)
        except Exception:  # noqa: BLE001 - our bug, not the client's: log it, answer JSON 500
            log.exception("internal error in /v1/upscale")
            self.metrics.requests.labels(model=ctx.model, status="500").inc()
            self.metrics.errors.labels(type="internal").inc()
            return _json_error(500, "internal", "internal server error (logged)")
        finally:
            self._release_body(ctx)
            self.metrics.in_flight.dec()

    async def _upscale(self, request: Request, ctx: _Ctx) -> Response:
        self.check_auth(request)
        model = self.pick_model(request)
        ctx.model = model.name
        fmt = self.pick_format(request)
        self.check_query(request, model)
        if self.draining:
            raise self._shutting_down()
        data = await self.read_image_bytes(request, ctx)
        ctx.body_read = True
        limits = self.config.limits
        # the work is bounded from the header, before a pixel is decoded
        width, height = await run_in_threadpool(probe_image_size, data, limits)
        tile, overlap = self._tiling(model)
        n_tiles = check_work(width, height, model.scale, tile, overlap, model.runner.info.size_requirements,
                             limits, self.tile_budgets[model.name])
        batcher = self.batchers[model.name]
        async with batcher.admit(n_tiles):
            return await self._until_disconnect(request, self._process(model, batcher, data, fmt))

    async def _process(self, model: ServedModel, batcher: MicroBatcher, data: bytes, fmt: str) -> Response:
        upload = await run_in_threadpool(decode_upload, data, self.config.limits)
        del data
        sr, n_tiles = await self._infer(model, batcher, upload)
        content, media = await run_in_threadpool(encode_result, sr, upload, model.scale, fmt, self.config)
        h, w = upload.rgb.shape[:2]
        headers = {
            "X-Model": model.name,
            "X-Scale": str(model.scale),
            "X-Backend": model.backend,
            "X-Precision": model.precision,
            "X-Tiles": str(n_tiles),
            "X-Input-Size": f"{w}x{h}",
            "X-Output-Size": f"{w * model.scale}x{h * model.scale}",
        }
        return Response(content, media_type=media, headers=headers)

    async def _infer(self, model: ServedModel, batcher: MicroBatcher, upload: Upload) -> tuple[np.ndarray, int]:
        tile, overlap = self._tiling(model)
        chw = np.ascontiguousarray(np.transpose(upload.rgb, (2, 0, 1)))
        # same plan/extract/merge as runtime.tiling.upscale, so results equal offline inference
        plan = make_plan(chw.shape[1], chw.shape[2], tile, overlap, model.runner.info.size_requirements)
        tiles = await run_in_threadpool(extract_tiles, chw, plan)
        sr_tiles = await batcher.submit(tiles)
        del tiles
        sr = await run_in_threadpool(merge_tiles, sr_tiles, plan, model.scale)
        return sr, len(plan.tiles)

    async def list_models(self, request: Request) -> Response:
        try:
            self.check_auth(request)
        except RequestError as err:
            return _error_response(err)
        out = []
        for m in self.models.values():
            d = m.describe()
            d["limits"] = {**self.config.limits.describe(), "max_tiles": self.tile_budgets[m.name]}
            d["default"] = m.name == self.default_model
            out.append(d)
        return JSONResponse({"models": out})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        if self.ready:
            return JSONResponse({"status": "ready", "models": sorted(self.models)})
        return JSONResponse({"status": "not ready"}, status_code=503, headers={"Retry-After": "1"})

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    def _openapi(self) -> dict[str, Any]:
        c = self.config
        return openapi_spec(self.models, self.default_model, c.limits, c.default_format, bool(c.token))

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(self._openapi())

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(docs_html(self._openapi(), str(request.base_url)))


def _json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "status": status}}, status_code=status,
                        headers=headers)


def create_app(models: list[ServedModel], config: ServeConfig | None = None) -> Starlette:
    """The ASGI app serving ``models`` (the first one is the default for requests without ``model``)."""
    server = SRServer(models, config or ServeConfig())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.startup()
        try:
            yield
        finally:
            await server.shutdown()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json_error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def internal_error(request: Request, exc: Exception) -> Response:
        server.metrics.errors.labels(type="internal").inc()
        return _json_error(500, "internal", "internal server error (logged)")

    routes = [
        Route("/v1/upscale", server.upscale, methods=["POST"]),
        Route("/v1/models", server.list_models, methods=["GET"]),
        Route("/healthz", server.healthz, methods=["GET"]),
        Route("/readyz", server.readyz, methods=["GET"]),
        Route("/metrics", server.metrics_endpoint, methods=["GET"]),
        Route("/openapi.json", server.openapi, methods=["GET"]),
        Route("/docs", server.docs, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.state.server = server
    return app
