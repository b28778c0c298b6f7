"""Write one section of ``benchmarks/RESULTS.md`` without touching the others.

Each benchmark script owns the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``
and rewrites only that, so scripts can be rerun in any order. JSON goes to
``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import json
import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_DIR = HERE / "results"


def machine_line() -> str:
    import os

    import torch

    return (
        f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {platform.python_version()}, "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d')}"
    )


def update_section(name: str, markdown: str, data: Any | None = None) -> None:
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Measured results\n\nEvery number here is written by a script in `benchmarks/`; rerun it to reproduce.\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    RESULTS_MD.write_text(text)
    if data is not None:
        RESULTS_DIR.mkdir(exist_ok=True)
        (RESULTS_DIR / f"{name}.json").write_text(json.dumps(data, indent=2, default=str))


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
        return str(v)

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(out)
