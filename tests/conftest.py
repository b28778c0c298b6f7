from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# benchmark scripts import their siblings (_results, _common) as top-level modules, as they do when
# run as `python benchmarks/X.py`; tests that import a script see the same names
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
