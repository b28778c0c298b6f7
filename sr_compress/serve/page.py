"""The ``/docs`` HTML page: the endpoint list and the spec, self-contained (no CDN)."""

from __future__ import annotations

import html
import json
from typing import Any


def docs_html(spec: dict[str, Any], base_url: str = "http://127.0.0.1:8000/") -> str:
    """A small self-contained page (no CDN: the server may run offline); examples use ``base_url``."""
    base = base_url.rstrip("/")
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
        f"'{html.escape(base)}/v1/upscale?format=png' -o out.png</code></p>"
        f"<details><summary>spec</summary><pre>{html.escape(json.dumps(spec, indent=2))}</pre></details>"
        "</body></html>"
    )
