"""The ``sr-serve`` ASGI app (Starlette): upscale endpoint, model list, health, metrics, OpenAPI.

Request path of ``POST /v1/upscale``: auth → body read with a byte limit → content-type check →
admission (503 when full) → header-only open (format + pixel limits) → decode in a thread →
tiles from ``runtime/tiling.py`` → :class:`MicroBatcher` (cross-request batches, inference in the
model's worker thread) → merge → alpha (bicubic) re-attached → encode in a thread. Anything the
client got wrong is a :class:`RequestError` answered as 4xx JSON; the catch-all 500 exists only
for our own bugs and is counted separately (``sr_serve_errors_total{type="internal"}``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..data.io import encode_image, resize_alpha
from ..runtime.tiling import extract_tiles, make_plan, merge_tiles
from .batching import MicroBatcher
from .limits import (
    OUTPUT_FORMATS,
    Limits,
    RequestError,
    Upload,
    check_content_type,
    check_upload_size,
    decode_upload,
)
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import ServerMetrics
from .models import ServedModel

log = logging.getLogger("sr_compress.serve")


@dataclass
class ServeConfig:
    limits: Limits = field(default_factory=Limits)
    max_batch: int = 8
    max_wait_ms: float = 5.0
    queue_size: int = 64
    token: str | None = None
    default_format: str = "png"
    drain_timeout_s: float = 30.0
    # a client that trickles its body would otherwise hold a connection forever (slowloris)
    read_timeout_s: float = 60.0
    jpeg_quality: int = 95
    webp_quality: int = 95


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
class SRServer:
    """State shared by the handlers: models, their batchers, metrics, readiness."""

    def __init__(self, models: list[ServedModel], config: ServeConfig) -> None:
        if not models:
            raise ValueError("sr-serve needs at least one model")
        names = [m.name for m in models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            from ..errors import UserInputError

            raise UserInputError(f"--model: the name(s) {', '.join(sorted(dup))} are used twice; use NAME=PATH")
        self.models = {m.name: m for m in models}
        self.default_model = models[0].name
        self.config = config
        self.metrics = ServerMetrics()
        self.batchers: dict[str, MicroBatcher] = {}
        self.ready = False

    # lifecycle ---------------------------------------------------------------------------------
    async def startup(self) -> None:
        for name, m in self.models.items():
            b = MicroBatcher(m.runner, name, self.config.max_batch, self.config.max_wait_ms,
                             self.config.queue_size, self.metrics)
            b.start()
            self.batchers[name] = b
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        await asyncio.gather(*(b.drain(self.config.drain_timeout_s) for b in self.batchers.values()))
        for m in self.models.values():
            try:
                m.runner.close()
            except Exception:  # noqa: BLE001 - closing must not stop the others
                log.exception("closing model %s failed", m.name)
        log.info("sr-serve: in-flight requests drained, %d model(s) closed", len(self.models))

    # helpers -----------------------------------------------------------------------------------
    def check_auth(self, request: Request) -> None:
        token = self.config.token
        if not token:
            return
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
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
            raise RequestError(400, "bad_format", f"format={fmt!r} is not supported; use png, webp or jpeg")
        return "jpeg" if fmt == "jpg" else fmt

    async def read_image_bytes(self, request: Request) -> bytes:
        limits = self.config.limits
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                raise RequestError(400, "bad_request", f"Content-Length {declared!r} is not a number") from None
            check_upload_size(n, limits)
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
                chunks.append(chunk)

        try:
            await asyncio.wait_for(read_all(), self.config.read_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(408, "request_timeout", f"the body was not received within "
                               f"{self.config.read_timeout_s:g} s (sr-serve --read-timeout)") from None
        body = b"".join(chunks)
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
                upload = next((v for v in form.values() if hasattr(v, "read")), None)
            if upload is None or not hasattr(upload, "read"):
                raise RequestError(400, "bad_multipart", "multipart body has no file field; name it 'image'")
            if upload.content_type:
                check_content_type(upload.content_type)
            return await upload.read()
        finally:
            await form.close()

    # handlers ----------------------------------------------------------------------------------
    async def upscale(self, request: Request) -> Response:
        t0 = time.perf_counter()
        model_label = "-"
        self.metrics.in_flight.inc()
        try:
            self.check_auth(request)
            model = self.pick_model(request)
            model_label = model.name
            fmt = self.pick_format(request)
            data = await self.read_image_bytes(request)
            batcher = self.batchers[model.name]
            # admitted before decoding: an overloaded server refuses work before spending CPU on it
            async with batcher.admit():
                upload = await run_in_threadpool(decode_upload, data, self.config.limits)
                sr, n_tiles = await self._infer(model, batcher, upload)
                content, media = await run_in_threadpool(encode_result, sr, upload, model.scale, fmt, self.config)
            elapsed = time.perf_counter() - t0
            h, w = upload.rgb.shape[:2]
            headers = {
                "X-Model": model.name,
                "X-Scale": str(model.scale),
                "X-Backend": model.backend,
                "X-Precision": model.precision,
                "X-Elapsed-Ms": f"{elapsed * 1000:.1f}",
                "X-Tiles": str(n_tiles),
                "X-Input-Size": f"{w}x{h}",
                "X-Output-Size": f"{w * model.scale}x{h * model.scale}",
            }
            self.metrics.requests.inc(model=model_label, status="200")
            self.metrics.latency.observe(elapsed, model=model_label)
            return Response(content, media_type=media, headers=headers)
        except RequestError as err:
            self.metrics.requests.inc(model=model_label, status=str(err.status))
            self.metrics.errors.inc(type=err.code)
            return _error_response(err)
        except Exception:  # noqa: BLE001 - our bug, not the client's: log it, answer JSON 500
            log.exception("internal error in /v1/upscale")
            self.metrics.requests.inc(model=model_label, status="500")
            self.metrics.errors.inc(type="internal")
            return JSONResponse(
                {"error": {"code": "internal", "message": "internal server error (logged)", "status": 500}},
                status_code=500,
            )
        finally:
            self.metrics.in_flight.dec()

    async def _infer(self, model: ServedModel, batcher: MicroBatcher, upload: Upload) -> tuple[np.ndarray, int]:
        info = model.runner.info
        tile: int | tuple[int, int] | None = tuple(info.fixed_shape) if info.fixed_shape else model.tile
        overlap = model.overlap if tile is not None else 0
        chw = np.ascontiguousarray(np.transpose(upload.rgb, (2, 0, 1)))
        # same plan/extract/merge as runtime.tiling.upscale, so results equal offline inference
        plan = make_plan(chw.shape[1], chw.shape[2], tile, overlap, info.size_requirements)
        tiles = await run_in_threadpool(extract_tiles, chw, plan)
        sr_tiles = await batcher.submit(tiles)
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
            d["limits"] = self.config.limits.describe()
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

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_spec(self))

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(docs_html(openapi_spec(self)))


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
        server.metrics.errors.inc(type="internal")
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


# -- OpenAPI ------------------------------------------------------------------------------------
def _err_schema_ref(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def openapi_spec(server: SRServer) -> dict[str, Any]:
    """OpenAPI 3.0 description of the API, with the live model names and limits filled in."""
    from .. import __version__

    limits = server.config.limits
    image_body = {"type": "string", "format": "binary"}
    binary_types = ["image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "application/octet-stream"]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "sr-serve",
            "version": __version__,
            "description": "Super-resolution upscaling over exported sr-compress models. "
            f"Limits: {limits.max_upload_bytes} bytes per upload, {limits.max_pixels} input pixels.",
        },
        "paths": {
            "/v1/upscale": {
                "post": {
                    "summary": "Upscale one image",
                    "parameters": [
                        {"name": "model", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": sorted(server.models), "default": server.default_model}},
                        {"name": "format", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": ["png", "webp", "jpeg"],
                                    "default": server.config.default_format}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            **{t: {"schema": image_body} for t in binary_types},
                            "multipart/form-data": {
                                "schema": {"type": "object", "properties": {"image": image_body}, "required": ["image"]}
                            },
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The upscaled image (gray stays gray, alpha is kept except in JPEG, "
                            "16-bit input gives 16-bit PNG).",
                            "headers": {h: {"schema": {"type": "string"}} for h in
                                        ("X-Model", "X-Scale", "X-Backend", "X-Precision", "X-Elapsed-Ms", "X-Tiles",
                                         "X-Input-Size", "X-Output-Size")},
                            "content": {t: {"schema": image_body} for t in ("image/png", "image/webp", "image/jpeg")},
                        },
                        "400": _err_schema_ref("Corrupt/truncated image, bad multipart, bad format parameter"),
                        "401": _err_schema_ref("Missing or wrong bearer token"),
                        "408": _err_schema_ref("Body not received within the read timeout"),
                        "404": _err_schema_ref("Unknown model"),
                        "413": _err_schema_ref("Upload larger than max_upload_bytes or image over max_pixels"),
                        "415": _err_schema_ref("Content type or image format not accepted"),
                        "502": _err_schema_ref("A triton:// model's Triton server is down or refused the batch"),
                        "503": _err_schema_ref("Queue full or shutting down (see Retry-After)"),
                    },
                    "security": [{"bearer": []}] if server.config.token else [],
                }
            },
            "/v1/models": {"get": {"summary": "Served models", "responses": {"200": {
                "description": "Models with scale, backend, precision and limits",
                "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"summary": "Readiness", "responses": {
                "200": {"description": "models loaded"}, "503": {"description": "starting or draining"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {
                        "code": {"type": "string"}, "message": {"type": "string"}, "status": {"type": "integer"}}}},
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def docs_html(spec: dict[str, Any]) -> str:
    """A small self-contained page (no CDN: the server may run offline)."""
    import html
    import json

    rows = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}</td></tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>sr-serve API</title></head><body>"
        f"<h1>{html.escape(spec['info']['title'])} {html.escape(spec['info']['version'])}</h1>"
        f"<p>{html.escape(spec['info']['description'])}</p>"
        "<table border='1' cellpadding='4'><tr><th>method</th><th>path</th><th>summary</th></tr>"
        + "".join(rows)
        + "</table><p>Machine-readable spec: <a href='/openapi.json'>/openapi.json</a></p>"
        "<p>Example: <code>curl --data-binary @in.png -H 'Content-Type: image/png' "
        "'http://127.0.0.1:8000/v1/upscale?format=png' -o out.png</code></p>"
        f"<details><summary>spec</summary><pre>{html.escape(json.dumps(spec, indent=2))}</pre></details>"
        "</body></html>"
    )
