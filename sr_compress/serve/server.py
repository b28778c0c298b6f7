"""uvicorn, hardened for sr-serve: connection cap, header deadline, JSON protocol errors, drain on SIGTERM.

What uvicorn's options give (set in :func:`run_server`): ``timeout_keep_alive`` (idle keep-alive
connections), ``h11_max_incomplete_event_size`` (request line + headers size), ``limit_concurrency``
(a backstop on connections + tasks; uvicorn answers it with a plain-text 503). What they do not, and
:func:`make_protocol` adds as a small subclass of uvicorn's h11 protocol:

* a HARD deadline for the request line and headers (uvicorn resets its timer on every byte, so a
  client sending one header byte a second held a connection indefinitely);
* a connection cap answered with our JSON 503 + ``Retry-After`` before anything is parsed;
* the 400 for a malformed request (``Content-Length: abc``, oversized headers) in our JSON error
  format instead of uvicorn's ``text/plain``.

:class:`DrainingServer` tells the app about SIGTERM when the signal arrives (uvicorn's lifespan
shutdown only runs after connections have closed, too late to answer queued work with 503).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_HEADER_BYTES = 16 * 1024


def log_config(level: str) -> dict[str, Any]:
    """One format for uvicorn's loggers (server + access log) and ours (``sr_compress.*``)."""
    handler = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            "uvicorn.access": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "sr_compress": {"handlers": ["stderr"], "level": lvl, "propagate": False},
        },
    }


def _raw_json_response(status: int, reason: str, code: str, message: str, extra: str = "") -> bytes:
    body = json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"{extra}connection: close\r\n\r\n")
    return head.encode("ascii") + body


def make_protocol(header_timeout_s: float, max_connections: int, retry_after_s: int = 1) -> type[H11Protocol]:
    """An h11 protocol class with a header deadline, a JSON connection cap and JSON 400s."""

    class SRH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                self.logger.warning("refused a connection: %d open, the limit is %d", len(self.connections) - 1,
                                    max_connections)
                transport.write(_raw_json_response(
                    503, "Service Unavailable", "too_many_connections",
                    f"the server has {max_connections} connections open (sr-serve --max-connections); retry later",
                    f"retry-after: {retry_after_s}\r\n"))
                transport.close()
                return
            self._arm(header_timeout_s)

        def _arm(self, delay: float) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(delay, self._header_deadline)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_deadline(self) -> None:
            self._header_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                # no complete request line + headers in time: a slow-loris client or an idle socket.
                # After an earlier response on this connection, just close (a second status line would
                # follow the first on the wire).
                if self.cycle is None:
                    self.transport.write(_raw_json_response(
                        408, "Request Timeout", "header_timeout",
                        f"request line and headers not received within {header_timeout_s:g} s "
                        "(sr-serve --header-timeout)"))
                self.transport.close()

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:
                self._disarm()  # a request's headers are complete; the body has its own timeout

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm(self.timeout_keep_alive + header_timeout_s)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self._disarm()
            self.transport.write(_raw_json_response(
                400, "Bad Request", "bad_request",
                "invalid HTTP request (malformed request line or headers, a non-numeric Content-Length, or headers "
                f"over {MAX_HEADER_BYTES // 1024} KiB)"))
            self.transport.close()

    return SRH11Protocol


class DrainingServer(uvicorn.Server):
    """uvicorn's server that calls ``on_exit`` when SIGTERM/SIGINT arrives (before connections drain)."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.on_exit is not None and not self.should_exit:
            self.on_exit()
        super().handle_exit(sig, frame)


def server_config(app: Any, host: str, port: int, *, log_level: str = "info", access_log: bool = True,
                  drain_timeout_s: float = 30.0, header_timeout_s: float = 10.0, keep_alive_s: int = 5,
                  max_connections: int = 512, retry_after_s: int = 1, configure_logging: bool = True) -> uvicorn.Config:
    """The uvicorn config sr-serve runs with (the integration tests use the same)."""
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=access_log,
        log_config=log_config(log_level) if configure_logging else None,
        http=make_protocol(header_timeout_s, max_connections, retry_after_s),
        timeout_keep_alive=keep_alive_s, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=max_connections + 64, timeout_graceful_shutdown=max(1, round(drain_timeout_s)),
        lifespan="on",
    )


def make_server(app: Any, config: uvicorn.Config) -> DrainingServer:
    server = getattr(getattr(app, "state", None), "server", None)
    return DrainingServer(config, on_exit=server.request_exit if server is not None else None)


def run_server(app: Any, host: str, port: int, **kwargs: Any) -> None:
    """Serve ``app`` until SIGTERM/SIGINT (see :func:`server_config` for the options)."""
    logging.getLogger("sr_compress.serve").debug("uvicorn options: %s", kwargs)
    make_server(app, server_config(app, host, port, **kwargs)).run()
