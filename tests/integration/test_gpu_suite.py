"""benchmarks/gpu_suite.py: the --smoke run of the whole GPU suite on CPU, and its statistics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gpu_suite  # benchmarks/ is on sys.path (tests/conftest.py), as for a script run from there
import pytest

ROOT = Path(__file__).resolve().parents[2]

ROWS = {"scratch 1x", "scratch 2x", "kd 1x", "kd 2x", "dukd 1x", "datafree gan", "datafree frozen"}


@pytest.mark.integration
def test_smoke_runs_every_row_and_writes_only_under_out(tmp_path: Path) -> None:
    results_md = ROOT / "benchmarks" / "RESULTS.md"
    before = results_md.read_text() if results_md.exists() else None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads((tmp_path / "results" / "gpu_suite_smoke.json").read_text())
    an = data["analysis"]
    assert set(an["rows"]) == ROWS and all(r["n"] == 2 for r in an["rows"].values())
    assert len(data["runs"]) == 2 * len(ROWS)
    for run in data["runs"]:
        want = run["iters"]
        assert run["val_curve"] and run["val_curve"][-1][0] == want, run["name"]
    c = an["comparisons"]
    assert c["dukd − kd 2N (equal optimiser steps)"] is not None
    assert c["datafree: trained − frozen generator"] is not None
    assert set(an["per_iteration_s"]) == {"scratch", "kd", "dukd"}
    md = (tmp_path / "RESULTS.md").read_text()
    assert "<!-- BEGIN gpu_suite_smoke -->" in md and "Discrimination check" in md
    assert (results_md.read_text() if results_md.exists() else None) == before


def test_paired_differences_and_the_2_std_flag() -> None:
    def run(row: str, seed: int, psnr: float) -> dict:
        method, tag = row.split()
        r = {"method": method, "seed": seed, "final": {"Set5": {"psnr": psnr}}, "train_time_s": 1.0,
             "val_curve": [[5, psnr - 1], [10, psnr]]}
        return r | ({"generator": tag, "mult": 1} if method == "datafree" else {"mult": int(tag[0])})

    runs = [run("kd 1x", s, 30.0 + 0.1 * s + 0.5) for s in range(3)] + \
        [run("scratch 1x", s, 30.0 + 0.1 * s) for s in range(3)] + \
        [run("dukd 1x", s, 30.0 + (0.3 if s == 0 else -0.3)) for s in range(3)]
    res = gpu_suite.by_name(runs)
    same = gpu_suite.paired(res, [0, 1, 2], "kd 1x", "scratch 1x", ["Set5"])["Set5"]
    assert same["mean"] == pytest.approx(0.5) and same["std"] == pytest.approx(0.0, abs=1e-9) and same["exceeds_2std"]
    noisy = gpu_suite.paired(res, [0, 1, 2], "dukd 1x", "scratch 1x", ["Set5"])["Set5"]
    assert not noisy["exceeds_2std"]
    assert gpu_suite.paired(res, [0, 1, 2], "kd 2x", "scratch 1x", ["Set5"]) is None  # missing runs
    assert gpu_suite._at([(5, 29.0), (10, 30.0)], 7.5) == pytest.approx(29.5)
    assert gpu_suite._at([(5, 29.0), (10, 30.0)], 11) is None


def test_budget_is_reduced_only_when_the_probe_says_it_cannot_finish() -> None:
    cfg = gpu_suite.settings(gpu_suite.argparse.Namespace(smoke=False, iters=None, seeds=None, jobs=None,
                                                          df_iters=None))
    cfg["jobs"] = 21
    fast = {"scratch": 1e-4, "kd": 1e-4, "dukd": 2e-4}
    note = gpu_suite.fit_budget(cfg, fast, 400.0)
    assert cfg["iters"] == 20000 and "as asked" in note
    slow = {"scratch": 0.01, "kd": 0.02, "dukd": 0.05}
    note = gpu_suite.fit_budget(cfg, slow, 400.0)
    assert 100 <= cfg["iters"] < 20000 and cfg["df_iters"] < 20000 and "reduced" in note
    # the reduced budget fits by the same estimate
    assert "as asked" in gpu_suite.fit_budget(cfg, slow, 400.0)
