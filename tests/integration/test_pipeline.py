"""``sr-compress pipeline`` end to end on the embedded default images (no shared data needed).

One tiny run (demo teacher → dukd → eval → export → validate → bench → gate) is shared by the
tests; they then check the report, stage reuse, invalidation and the gate's exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sr_compress.cli import cli, run_cli
from sr_compress.pipeline.runner import load_pipeline_config, run_pipeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

GATE = {
    "require": ["onnx-fp32", "openvino-fp32"],
    "defaults": {"max_drop_db": 0.001, "max_abs_error": 0.001, "allow_nonfinite": False},
}

TINY = {
    "name": "tiny",
    "scale": 4,
    "data": ["default"],
    "eval_data": ["default-benchmark"],
    "teacher": {"demo_spec": "edsr:c8b1", "demo_iterations": 6, "demo_patch_size": 16, "demo_batch_size": 2},
    "distill": {
        "config": str(ROOT / "configs" / "distill" / "dukd_x4.yaml"),
        "student": "edsr:c4b1",
        "overrides": {"train.iterations": 4, "train.checkpoint_every": 2, "train.val_every": 4,
                      "data.batch_size": 2, "data.patch_size": 16, "train.ema_decay": 0.0},
    },
    "export": {"onnx": True, "openvino": ["fp32"], "tile": 32},
    "bench": {"size": "32x32", "batch": [1], "runs": 1, "warmup": 1},
    "gate": "gate.yaml",  # relative: resolved from the config file's folder
}


def _write(folder: Path, cfg: dict, gate: dict) -> Path:
    (folder / "gate.yaml").write_text(yaml.safe_dump(gate))
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = Path(tmp_path_factory.mktemp("pipe"))
    cfg_path = _write(folder, TINY, GATE)
    run_dir = folder / "run"
    res = run_pipeline(load_pipeline_config(cfg_path), run_dir, log=lambda m: None)
    assert res.gate_passed is True
    return cfg_path, run_dir


def test_every_stage_ran_and_report_has_all_sections(run: tuple[Path, Path]) -> None:
    _, run_dir = run
    rep = json.loads((run_dir / "report.json").read_text())
    status = {s["name"]: s["status"] for s in rep["stages"]}
    assert status == {"teacher": "ran", "datadistill": "skipped", "distill": "ran", "prune": "skipped",
                      "recover": "skipped", "qat": "skipped", "eval": "ran", "export": "ran",
                      "validate": "ran", "bench": "ran", "upscale": "skipped", "gate": "ran"}
    assert rep["gate_passed"] is True
    md = (run_dir / "report.md").read_text()
    for section in ("DEMO TEACHER", "## Models", "## Quality", "## Distillation", "## Export fidelity",
                    "## Throughput", "## Gate", "**Gate: PASSED**"):
        assert section in md, section
    rows = {(r["model"], r["dataset"]) for r in next(s for s in rep["stages"] if s["name"] == "eval")["outputs"]["rows"]}
    assert rows == {(m, "skimage_val") for m in ("bicubic", "teacher", "student")}
    for f in ("report.html", "side_by_side.png", "curves.png", "export/artifacts/manifest.json",
              "export/artifacts/validation.json", "bench/bench.json", "gate/gate.json"):
        assert (run_dir / f).is_file(), f
    assert "<table>" in (run_dir / "report.html").read_text()


def test_rerun_reuses_finished_stages(run: tuple[Path, Path]) -> None:
    cfg_path, run_dir = run
    logs: list[str] = []
    run_pipeline(load_pipeline_config(cfg_path), run_dir, log=logs.append)
    assert sum("up to date" in m for m in logs) == 7, logs
    assert not any("running" in m for m in logs), logs


def test_changed_section_redoes_it_and_what_follows_only(run: tuple[Path, Path]) -> None:
    cfg_path, run_dir = run
    cfg = load_pipeline_config(cfg_path)
    cfg.bench.runs = 2
    logs: list[str] = []
    run_pipeline(cfg, run_dir, log=logs.append)
    ran = sorted(m.split("]")[0][1:] for m in logs if m.endswith("running ..."))
    assert ran == ["bench", "gate"], logs


def test_failing_gate_exits_1_and_says_so(run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path, run_dir = run
    strict = {**GATE, "defaults": {**GATE["defaults"], "min_psnr": {"skimage_val": 99.0}}}
    (cfg_path.parent / "gate.yaml").write_text(yaml.safe_dump(strict))
    try:
        code = run_cli(cli, ["pipeline", str(cfg_path), "--out", str(run_dir)])
    finally:
        (cfg_path.parent / "gate.yaml").write_text(yaml.safe_dump(GATE))
    assert code == 1
    err = capsys.readouterr().err
    assert "pipeline gate failed" in err
    assert "[distill] up to date" in err  # only the gate was redone
    assert "**Gate: FAILED**" in (run_dir / "report.md").read_text()


def test_missing_data_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = _write(tmp_path, {**TINY, "data": ["/nonexistent/images"]}, GATE)
    code = run_cli(cli, ["pipeline", str(cfg_path), "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "/nonexistent/images" in err and "Traceback" not in err
