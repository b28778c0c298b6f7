"""The run directory's CSV logs (``log.csv``, ``val.csv``), kept consistent across resumes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class CsvLog:
    """Append-only CSV whose rows after the resume point are dropped on resume."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        self.fields: list[str] | None = None
        self.rows: list[dict[str, Any]] = []
        if start > 0 and path.exists():
            with open(path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.fields = list(reader.fieldnames or []) or None
                # rows are keyed by completed iterations; the checkpoint at ``start`` includes row ``start``
                self.rows = [r for r in reader if int(float(r["iteration"])) <= start]
        self._rewrite()

    def _rewrite(self) -> None:
        with open(self.path, "w", newline="") as fh:
            if self.fields:
                w = csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore")
                w.writeheader()
                w.writerows(self.rows)

    def write(self, row: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(row)
            self._rewrite()
        self.rows.append(row)
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore").writerow(row)


