"""Prometheus metrics of ``sr-serve``, through ``prometheus_client`` (one registry per app).

A registry per app, not the library's global one, so several apps (tests, two servers in one
process) never share or double-register series.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# seconds; spans a tiny tile (ms) up to a multi-megapixel image on CPU (tens of s)
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServerMetrics:
    """Every metric ``sr-serve`` exports; one instance (and registry) per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter("sr_serve_requests", "Upscale requests by model and HTTP status.",
                                ("model", "status"), registry=reg)
        self.latency = Histogram("sr_serve_request_latency_seconds",
                                 "Upscale request latency (read to response), seconds.", ("model",),
                                 buckets=DEFAULT_BUCKETS, registry=reg)
        self.in_flight = Gauge("sr_serve_in_flight_requests", "Upscale requests being processed now.", registry=reg)
        self.errors = Counter("sr_serve_errors", "Rejected or failed requests by error type.", ("type",),
                              registry=reg)
        self.tiles = Counter("sr_serve_tiles_processed", "LR tiles run through a model.", ("model",), registry=reg)
        self.batches = Histogram("sr_serve_batch_size", "Tiles per inference call (micro-batching).", ("model",),
                                 buckets=(1, 2, 4, 8, 16, 32, 64), registry=reg)
        self.queue_depth = Gauge("sr_serve_queue_depth", "Tiles waiting for inference.", ("model",), registry=reg)
        self.body_bytes = Gauge("sr_serve_body_bytes_in_flight", "Request body bytes held (reserved) now.",
                                registry=reg)

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 when absent), e.g. ``value("sr_serve_in_flight_requests")``."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> str:
        return generate_latest(self.registry).decode()
