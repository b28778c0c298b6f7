"""Prometheus exposition of the server metrics (prometheus_client, one registry per app)."""

from __future__ import annotations

import re

from sr_compress.serve.metrics import ServerMetrics


def test_server_metrics_every_sample_line_is_well_formed() -> None:
    m = ServerMetrics()
    m.requests.labels(model="m", status="200").inc()
    m.requests.labels(model='we"ird', status="413").inc()
    m.latency.labels(model="m").observe(0.2)
    m.errors.labels(type="too_many_pixels").inc()
    m.tiles.labels(model="m").inc(4)
    m.in_flight.inc()
    text = m.render()
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="([^"\\]|\\.)*",?)*\})? [-+0-9.eInf]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert "sr_serve_in_flight_requests 1.0" in text
    assert 'sr_serve_tiles_processed_total{model="m"} 4.0' in text
    assert 'sr_serve_requests_total{model="we\\"ird",status="413"} 1.0' in text
    assert 'sr_serve_request_latency_seconds_bucket{le="0.25",model="m"} 1.0' in text
    assert m.value("sr_serve_request_latency_seconds_count", model="m") == 1
    assert ServerMetrics().value("sr_serve_in_flight_requests") == 0  # registries are per app
