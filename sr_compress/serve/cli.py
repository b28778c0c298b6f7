"""``sr-serve``: serve one or more exported models over HTTP (Starlette on uvicorn)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from ..backends import runner_choices
from ..errors import UserInputError

ENV_TOKEN = "SR_SERVE_TOKEN"


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--model", "models", multiple=True, required=True, metavar="[NAME=]PATH",
              help="Export directory (manifest.json), artifact file, checkpoint, or triton://HOST:PORT/MODEL "
                   "(inference in Triton, tiling here); repeat for several models. The first is the default.")
@click.option("--backend", type=click.Choice(runner_choices()), default=None,
              help="Backend to run (default: from the artifact; export dirs prefer openvino, then onnxruntime).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default=None,
              help="Artifact precision to pick from an export directory (default fp32).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--threads", type=int, default=None, help="Inference threads per model (default: min(cores, 8)).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@click.option("--token", default=None, help=f"Require 'Authorization: Bearer TOKEN' on /v1/* (or set ${ENV_TOKEN}).")
@click.option("--max-upload-mb", type=float, default=20.0, show_default=True, help="Largest accepted body.")
@click.option("--max-pixels", type=int, default=2048 * 1024, show_default=True,
              help="Largest accepted input image (width*height), checked before decoding.")
@click.option("--max-output-pixels", type=int, default=2048 * 1024 * 16, show_default=True,
              help="Largest output (width*height*scale^2), checked from the header -> 413.")
@click.option("--max-tiles", type=int, default=None,
              help="Tiles one request may cause after padding -> 413 (default: twice the tiles of a square "
                   "--max-pixels image).")
@click.option("--max-aspect", type=float, default=32.0, show_default=True,
              help="Largest longest/shortest side ratio -> 413.")
@click.option("--max-queued-tiles", type=int, default=None,
              help="Tiles admitted per model (waiting or running) -> 503 beyond (default: 4 x --max-tiles).")
@click.option("--max-body-mb-in-flight", type=float, default=256.0, show_default=True,
              help="Request body megabytes held at once, server-wide -> 503 server_busy beyond.")
@click.option("--max-connections", type=int, default=512, show_default=True,
              help="Open connections -> 503 too_many_connections beyond.")
@click.option("--header-timeout", type=float, default=10.0, show_default=True,
              help="Seconds for the request line + headers -> 408 and close.")
@click.option("--keep-alive", type=int, default=5, show_default=True, help="Seconds an idle keep-alive connection stays open.")
@click.option("--max-batch", type=int, default=8, show_default=True,
              help="Most tiles per inference call, across requests (1 = no micro-batching).")
@click.option("--max-wait-ms", type=float, default=5.0, show_default=True,
              help="How long the batcher waits for more tiles before running a partial batch.")
@click.option("--queue-size", type=int, default=64, show_default=True,
              help="Requests per model queued or running; beyond it the answer is 503 + Retry-After.")
@click.option("--tile", type=int, default=128, show_default=True,
              help="LR tile size; 0 runs each image whole (no cross-request batching of unequal sizes).")
@click.option("--overlap", type=int, default=8, show_default=True, help="LR pixels shared by neighbouring tiles.")
@click.option("--drain-timeout", type=float, default=30.0, show_default=True,
              help="Seconds a shutdown waits for in-flight requests.")
@click.option("--read-timeout", type=float, default=60.0, show_default=True,
              help="Seconds a client may take to send its body (408 after).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="One log line per request.")
def command(
    models: tuple[str, ...], backend: str | None, precision: str | None, device: str, threads: int | None,
    host: str, port: int, token: str | None, max_upload_mb: float, max_pixels: int, max_output_pixels: int,
    max_tiles: int | None, max_aspect: float, max_queued_tiles: int | None, max_body_mb_in_flight: float,
    max_connections: int, header_timeout: float, keep_alive: int, max_batch: int, max_wait_ms: float,
    queue_size: int, tile: int, overlap: int, drain_timeout: float, read_timeout: float, log_level: str,
    access_log: bool,
) -> None:
    """Serve super-resolution models: POST /v1/upscale, GET /v1/models, /healthz, /readyz, /metrics, /docs."""
    from .app import ServeConfig, create_app
    from .limits import Limits
    from .models import load_served_model
    from .server import LOG_FORMAT, run_server

    check_options(max_batch=max_batch, queue_size=queue_size, max_pixels=max_pixels, tile=tile, overlap=overlap,
                  port=port, max_upload_mb=max_upload_mb, max_wait_ms=max_wait_ms, read_timeout=read_timeout,
                  max_output_pixels=max_output_pixels, max_tiles=max_tiles, max_aspect=max_aspect,
                  max_queued_tiles=max_queued_tiles, max_body_mb_in_flight=max_body_mb_in_flight,
                  max_connections=max_connections, header_timeout=header_timeout, keep_alive=keep_alive,
                  drain_timeout=drain_timeout)
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT)
    token = token or os.environ.get(ENV_TOKEN) or None
    served = []
    for spec in models:
        m = load_served_model(spec, backend, precision, tile or None, overlap, device, threads)
        click.echo(f"model {m.name}: x{m.scale} {m.backend}/{m.precision} from {m.source}", err=True)
        served.append(m)
    config = ServeConfig(
        limits=Limits(max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels,
                      max_output_pixels=max_output_pixels, max_tiles=max_tiles, max_aspect=max_aspect),
        max_batch=max_batch, max_wait_ms=max_wait_ms, queue_size=queue_size, max_queued_tiles=max_queued_tiles,
        max_body_bytes_in_flight=int(max_body_mb_in_flight * 1024 * 1024), token=token,
        drain_timeout_s=drain_timeout, read_timeout_s=read_timeout,
    )
    app = create_app(served, config)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        click.echo(f"warning: listening on {host} without --token; anyone who can reach it can use it", err=True)
    run_server(app, host, port, log_level=log_level, access_log=access_log, drain_timeout_s=drain_timeout,
               header_timeout_s=header_timeout, keep_alive_s=keep_alive, max_connections=max_connections)


def check_options(**opts: Any) -> None:
    """Refuse option values that would start a server which then fails requests (one line each)."""
    o = opts
    for name, lo in (("max_batch", 1), ("queue_size", 1), ("max_pixels", 1), ("tile", 0), ("overlap", 0),
                     ("max_output_pixels", 1), ("max_connections", 1), ("keep_alive", 1)):
        if o[name] < lo:
            raise UserInputError(f"--{name.replace('_', '-')} must be >= {lo}, got {o[name]}")
    if not 0 <= o["port"] <= 65535:
        raise UserInputError(f"--port must be 0-65535 (0: any free port), got {o['port']}")
    if o["tile"] and o["tile"] <= 2 * o["overlap"]:
        # every tile would be all overlap: the feathered merge has no interior and requests fail
        raise UserInputError(f"--tile {o['tile']} must be larger than 2 x --overlap ({o['overlap']}); "
                             f"use e.g. --tile {max(64, 4 * o['overlap'])} or a smaller --overlap")
    for name in ("max_upload_mb", "read_timeout", "max_body_mb_in_flight", "header_timeout", "drain_timeout"):
        if o[name] <= 0:
            raise UserInputError(f"--{name.replace('_', '-')} must be > 0, got {o[name]}")
    if o["max_wait_ms"] < 0:
        raise UserInputError(f"--max-wait-ms must be >= 0, got {o['max_wait_ms']}")
    if o["max_body_mb_in_flight"] < o["max_upload_mb"]:
        raise UserInputError(f"--max-body-mb-in-flight ({o['max_body_mb_in_flight']:g}) must be at least "
                             f"--max-upload-mb ({o['max_upload_mb']:g}), or no full-size upload could be read")
    if o["max_aspect"] < 1:
        raise UserInputError(f"--max-aspect must be >= 1, got {o['max_aspect']}")
    for name in ("max_tiles", "max_queued_tiles"):
        if o[name] is not None and o[name] < 1:
            raise UserInputError(f"--{name.replace('_', '-')} must be >= 1, got {o[name]}")


def main(argv: list[str] | None = None) -> None:
    from ..cli import run_cli

    sys.exit(run_cli(command, argv))
