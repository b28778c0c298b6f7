"""Test helpers. Real data is found through ONE function: :func:`shared_data`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$SR_COMPRESS_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    env = os.environ.get("SR_COMPRESS_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def shared_data(*parts: str) -> Path:
    """Path inside the shared data folder, or skip the test saying what is missing."""
    base = shared_data_dir()
    if base is None:
        pytest.skip("shared data not found: set SR_COMPRESS_SHARED_DATA or place it at ../shared/data")
    p = base.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data item missing: {p}")
    return p
