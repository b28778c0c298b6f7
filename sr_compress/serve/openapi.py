"""OpenAPI 3.0 description of the sr-serve API, generated per process (live model names and limits)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .limits import Limits


def _err_schema_ref(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _upscale_responses(image_body: dict[str, Any]) -> dict[str, Any]:
    """The responses of ``POST /v1/upscale``: the image, or the JSON error of each refusal."""
    return {
        "200": {
            "description": "The upscaled image (gray stays gray, alpha is kept except in JPEG, "
            "16-bit input gives 16-bit PNG).",
            "headers": {h: {"schema": {"type": "string"}} for h in
                        ("X-Model", "X-Scale", "X-Backend", "X-Precision", "X-Elapsed-Ms", "X-Tiles",
                         "X-Input-Size", "X-Output-Size")},
            "content": {t: {"schema": image_body} for t in ("image/png", "image/webp", "image/jpeg")},
        },
        "400": _err_schema_ref("Corrupt/truncated image, bad multipart, bad or unknown query "
                               "parameter, malformed HTTP request"),
        "401": _err_schema_ref("Missing or wrong bearer token"),
        "408": _err_schema_ref("Body not received within the read timeout"),
        "404": _err_schema_ref("Unknown model"),
        "413": _err_schema_ref("Upload, input/output pixels, tiles or aspect ratio over a limit"),
        "415": _err_schema_ref("Content type or image format not accepted"),
        "502": _err_schema_ref("A triton:// model's Triton server is down or refused the batch"),
        "503": _err_schema_ref("Queue full, server busy (body bytes, connections) or shutting "
                               "down (see Retry-After)"),
    }


def openapi_spec(models: Iterable[str], default_model: str, limits: Limits, default_format: str,
                 token_required: bool) -> dict[str, Any]:
    """OpenAPI 3.0 description of the API, with the live model names and limits filled in."""
    from .. import __version__

    image_body = {"type": "string", "format": "binary"}
    binary_types = ["image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "application/octet-stream"]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "sr-serve",
            "version": __version__,
            "description": "Super-resolution upscaling over exported sr-compress models. "
            f"Limits: {limits.max_upload_bytes} bytes per upload, {limits.max_pixels} input pixels, "
            f"{limits.max_output_pixels} output pixels, aspect ratio {limits.max_aspect:g}:1 (see docs/serve.md).",
        },
        "paths": {
            "/v1/upscale": {
                "post": {
                    "summary": "Upscale one image",
                    "parameters": [
                        {"name": "model", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": sorted(models), "default": default_model}},
                        {"name": "format", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": ["png", "webp", "jpeg"],
                                    "default": default_format}},
                        {"name": "scale", "in": "query", "required": False,
                         "description": "optional check: must equal the model's scale, else 400 bad_scale",
                         "schema": {"type": "integer"}},
                        {"name": "precision", "in": "query", "required": False,
                         "description": "optional check: must equal the model's precision, else 400 bad_precision",
                         "schema": {"type": "string"}},
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
                    "responses": _upscale_responses(image_body),
                    "security": [{"bearer": []}] if token_required else [],
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
