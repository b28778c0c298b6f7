"""Prometheus text rendering of the server metrics."""

from __future__ import annotations

import re

from sr_compress.serve.metrics import Counter, Histogram, ServerMetrics


def test_counter_and_histogram_render_prometheus_text() -> None:
    c = Counter("x_total", "help", ("model", "status"))
    c.inc(model="a", status="200")
    c.inc(2, model="a", status="200")
    c.inc(model='we"ird', status="413")
    text = "\n".join(c.render())
    assert "# TYPE x_total counter" in text
    assert 'x_total{model="a",status="200"} 3' in text
    assert 'x_total{model="we\\"ird",status="413"} 1' in text

    h = Histogram("lat_seconds", "help", ("model",), buckets=(0.1, 1.0))
    for v in (0.05, 0.5, 5.0):
        h.observe(v, model="m")
    lines = h.render()
    assert 'lat_seconds_bucket{model="m",le="0.1"} 1' in lines
    assert 'lat_seconds_bucket{model="m",le="1"} 2' in lines
    assert 'lat_seconds_bucket{model="m",le="+Inf"} 3' in lines
    assert 'lat_seconds_count{model="m"} 3' in lines
    assert h.count(model="m") == 3


def test_server_metrics_every_sample_line_is_well_formed() -> None:
    m = ServerMetrics()
    m.requests.inc(model="m", status="200")
    m.latency.observe(0.2, model="m")
    m.errors.inc(type="too_many_pixels")
    m.tiles.inc(4, model="m")
    m.in_flight.inc()
    text = m.render()
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="[^"]*",?)*\})? [-+0-9.eInf]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert "sr_serve_in_flight_requests 1" in text
    assert 'sr_serve_tiles_processed_total{model="m"} 4' in text
