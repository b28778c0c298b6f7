"""``sr-serve``: serve one or more exported models over HTTP (Starlette on uvicorn)."""

from __future__ import annotations

import logging
import os
import sys

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
def command(
    models: tuple[str, ...], backend: str | None, precision: str | None, device: str, threads: int | None,
    host: str, port: int, token: str | None, max_upload_mb: float, max_pixels: int, max_batch: int,
    max_wait_ms: float, queue_size: int, tile: int, overlap: int, drain_timeout: float, read_timeout: float,
    log_level: str,
) -> None:
    """Serve super-resolution models: POST /v1/upscale, GET /v1/models, /healthz, /readyz, /metrics, /docs."""
    import uvicorn

    from .app import ServeConfig, create_app
    from .limits import Limits
    from .models import load_served_model

    for opt, val, lo in (("--max-batch", max_batch, 1), ("--queue-size", queue_size, 1), ("--max-pixels", max_pixels, 1),
                         ("--tile", tile, 0), ("--overlap", overlap, 0), ("--port", port, 0)):
        if val < lo:
            raise UserInputError(f"{opt} must be >= {lo}, got {val}")
    if max_upload_mb <= 0 or max_wait_ms < 0 or read_timeout <= 0:
        raise UserInputError("--max-upload-mb and --read-timeout must be > 0, --max-wait-ms >= 0")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = token or os.environ.get(ENV_TOKEN) or None
    served = []
    for spec in models:
        m = load_served_model(spec, backend, precision, tile or None, overlap, device, threads)
        click.echo(f"model {m.name}: x{m.scale} {m.backend}/{m.precision} from {m.source}", err=True)
        served.append(m)
    config = ServeConfig(
        limits=Limits(max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels),
        max_batch=max_batch, max_wait_ms=max_wait_ms, queue_size=queue_size, token=token,
        drain_timeout_s=drain_timeout, read_timeout_s=read_timeout,
    )
    app = create_app(served, config)
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        click.echo(f"warning: listening on {host} without --token; anyone who can reach it can use it", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=int(drain_timeout),
                access_log=log_level == "debug")


def main(argv: list[str] | None = None) -> None:
    from ..cli import run_cli

    sys.exit(run_cli(command, argv))
