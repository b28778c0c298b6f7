"""Pipeline stages prune -> recover -> qat on a tiny random SRVGG teacher, ending with the Pareto report.

One tiny run (teacher checkpoint -> prune -> recover -> qat -> eval -> export (+ QAT artifacts) ->
validate -> bench -> upscale -> gate) is shared by the tests; they check the report, the merged
manifest, stage reuse, invalidation of what follows a changed section, and bad config keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("nncf")
pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")

from sr_compress.cli import cli, run_cli  # noqa: E402
from sr_compress.export.manifest import read_manifest  # noqa: E402
from sr_compress.models.load import save_model  # noqa: E402
from sr_compress.models.students import build_student  # noqa: E402
from sr_compress.pipeline.runner import load_pipeline_config, run_pipeline  # noqa: E402

GATE = {
    "require": ["onnx-fp32", "openvino-int8-qat", "onnx-int8-qat"],
    "defaults": {"max_abs_error": 0.001, "allow_nonfinite": False},
    # fidelity of the QAT artifacts to their PyTorch reference (here the recovered pruned network)
    "artifacts": {"*-qat": {"max_abs_error": 1.0, "min_psnr_vs_reference": 10}},
}

TRAIN = {"train.checkpoint_every": 1, "train.val_every": 2, "data.batch_size": 2, "data.patch_size": 16,
         "train.ema_decay": 0.0, "train.iterations": 2}


def _config(teacher: Path) -> dict:
    return {
        "name": "tiny-compress",
        "scale": 4,
        "data": ["default"],
        "eval_data": ["default-benchmark"],
        "teacher": {"checkpoint": str(teacher)},
        "distill": {"enabled": False},
        "prune": {"channels": 0.5, "importance": "l1", "round_to": 4},
        "recover": {"method": "kd", "overrides": TRAIN},
        "qat": {"enabled": True, "iterations": 2, "batch_size": 2, "patch_size": 16, "calib_count": 2,
                "checkpoint_every": 1},
        "eval": {"niqe": False},
        "export": {"onnx": True, "openvino": [], "tile": 32},
        # no bench: its one subprocess per artifact dominates the cost (the integration test has it)
        "bench": {"enabled": False},
        "upscale": {"enabled": True},
        "gate": "gate.yaml",
    }


def _write(folder: Path, cfg: dict) -> Path:
    (folder / "gate.yaml").write_text(yaml.safe_dump(GATE))
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    folder = Path(tmp_path_factory.mktemp("pipe"))
    teacher = save_model(build_student("srvgg:c8b2", 4), folder / "teacher.pth")
    cfg_path = _write(folder, _config(teacher))
    run_dir = folder / "run"
    res = run_pipeline(load_pipeline_config(cfg_path), run_dir, log=lambda m: None)
    assert res.gate_passed is True
    return cfg_path, run_dir


def test_compression_stages_ran_and_report_ends_with_pareto(run: tuple[Path, Path]) -> None:
    _, run_dir = run
    rep = json.loads((run_dir / "report.json").read_text())
    status = {s["name"]: s["status"] for s in rep["stages"]}
    assert status == {"teacher": "ran", "datadistill": "skipped", "distill": "skipped", "prune": "ran",
                      "recover": "ran", "qat": "ran", "eval": "ran", "export": "ran", "validate": "ran",
                      "bench": "skipped", "upscale": "ran", "gate": "ran"}
    stages = {s["name"]: s["outputs"] for s in rep["stages"]}
    assert stages["prune"]["macs_after"] < stages["prune"]["macs_before"]
    rows = {r["model"]: r for r in stages["eval"]["rows"]}
    assert set(rows) == {"bicubic", "teacher", "pruned", "recovered", "qat"}
    assert rows["teacher"]["psnr_vs_teacher"] is None
    assert all(rows[m]["psnr_vs_teacher"] > 0 for m in ("pruned", "recovered", "qat"))
    md = (run_dir / "report.md").read_text()
    for section in ("## Summary", "## Pruning", "## Recovery", "## Quantization-aware training (INT8)",
                    "## Upscaled samples", "## Quality vs speed (Pareto)", "fidelity to teacher", "**Gate: PASSED**"):
        assert section in md, section
    assert md.index("## Quality vs speed (Pareto)") > md.index("## Gate")
    pareto = json.loads((run_dir / "pareto.json").read_text())
    kinds = {p["name"]: p["kind"] for p in pareto["points"]}
    assert kinds["bicubic"] == "bicubic" and kinds["teacher (pytorch fp32)"] == "reference"
    assert {"onnx-int8-qat", "openvino-int8-qat", "onnx-fp32"} <= set(kinds)
    assert (run_dir / "pareto.png").is_file() and (run_dir / "side_by_side.png").is_file()
    assert len(list((run_dir / "upscale" / "images").glob("*.png"))) == 2


def test_qat_artifacts_join_the_export_and_verify(run: tuple[Path, Path]) -> None:
    _, run_dir = run
    man = read_manifest(run_dir / "export" / "artifacts")
    assert not man.verify()
    names = {a.name: a for a in man.artifacts}
    assert names["openvino-int8-qat"].path.startswith("qat/")
    assert names["onnx-int8-qat"].provenance["quantized_by"] == "nncf-qat"
    val = json.loads((run_dir / "export" / "artifacts" / "validation.json").read_text())
    assert {a["name"] for a in val["artifacts"]} == set(names)


def test_rerun_reuses_and_a_changed_section_redoes_only_what_reads_it(run: tuple[Path, Path]) -> None:
    cfg_path, run_dir = run
    logs: list[str] = []
    run_pipeline(load_pipeline_config(cfg_path), run_dir, log=logs.append)
    assert not any(m.endswith("running ...") for m in logs), logs
    cfg = load_pipeline_config(cfg_path)
    cfg.upscale.tile = 16
    logs.clear()
    run_pipeline(cfg, run_dir, log=logs.append)
    ran = sorted(m.split("]")[0][1:] for m in logs if m.endswith("running ..."))
    assert ran == ["upscale"], logs


def test_stage_keys_chain_qat_to_everything_after_it(run: tuple[Path, Path]) -> None:
    """A changed qat section changes the keys of qat and every stage that reads it (not prune/recover)."""
    from sr_compress.pipeline.stages import stage_key

    _, run_dir = run
    stamps = {n: json.loads((run_dir / n / "stage.json").read_text()) for n in ("prune", "recover", "qat", "export")}
    settings = {**stamps["qat"]["settings"], "qat": {**stamps["qat"]["settings"]["qat"], "iterations": 3}}
    rep = {s["name"]: s["key"] for s in json.loads((run_dir / "report.json").read_text())["stages"]}
    upstream = [rep[n] for n in ("teacher", "datadistill", "distill", "prune", "recover")]
    assert stage_key(stamps["qat"]["settings"], upstream) == stamps["qat"]["key"]
    assert stage_key(settings, upstream) != stamps["qat"]["key"]


def test_fresh_or_resume_keeps_only_a_run_of_the_same_settings(tmp_path: Path) -> None:
    from sr_compress.pipeline.compress_steps import fresh_or_resume

    run_dir = tmp_path / "run"
    assert fresh_or_resume(run_dir, {"a": 1}) is False
    from sr_compress.compress.checkpoint import checkpoint_path

    (run_dir / "checkpoints").mkdir()
    torch.save({"iteration": 1}, checkpoint_path(run_dir / "checkpoints", 1))
    assert fresh_or_resume(run_dir, {"a": 1}) is True
    assert fresh_or_resume(run_dir, {"a": 2}) is False
    assert not (run_dir / "checkpoints").exists()


def test_wheel_teacher_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from sr_compress.errors import MissingDependency
    from sr_compress.models.ncnn import fixtures
    from sr_compress.pipeline.steps import wheel_model

    assert wheel_model("some/path.pth") is None
    monkeypatch.setattr(fixtures, "realesrgan_ncnn_models", lambda: {})
    with pytest.raises(MissingDependency, match="realesrgan"):
        wheel_model("realesr-animevideov3-x4")


@pytest.mark.parametrize("section, key", [("qat", "iters"), ("prune", "mac"), ("recover", "student"),
                                          ("upscale", "folder"), ("eval", "lpips")])
def test_unknown_key_in_a_new_section_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         section: str, key: str) -> None:
    cfg = _config(tmp_path / "teacher.pth")
    cfg[section] = {**cfg[section], key: 1}
    code = run_cli(cli, ["pipeline", str(_write(tmp_path, cfg)), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"{section}.{key}" in err and "Traceback" not in err, err
