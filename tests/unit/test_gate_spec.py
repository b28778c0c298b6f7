"""Gate spec parsing and threshold resolution (no data, no runtimes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sr_compress.errors import ConfigError
from sr_compress.evaluate.gate import load_spec, parse_spec, render_checks, thresholds_for

ROOT = Path(__file__).resolve().parents[2]


def test_default_spec_parses_and_resolves_patterns() -> None:
    spec = load_spec(ROOT / "configs" / "gates" / "default.yaml")
    assert spec.require == ["onnx-fp32"]
    fp32 = thresholds_for(spec, "openvino-fp32")
    int8 = thresholds_for(spec, "openvino-int8")
    assert fp32.max_drop_db == 0.001 and fp32.min_throughput_ratio is None
    assert int8.max_drop_db == 0.15 and int8.min_throughput_ratio == 0.8
    assert int8.min_psnr_vs_reference == 30  # override wins over defaults
    assert thresholds_for(spec, "onnx-fp16").max_drop_db == 0.02


def test_later_patterns_override_earlier() -> None:
    spec = parse_spec({"defaults": {"max_drop_db": 1.0},
                       "artifacts": {"onnx-*": {"max_drop_db": 0.5}, "onnx-int8": {"max_abs_error": 0.2}}})
    t = thresholds_for(spec, "onnx-int8")
    assert (t.max_drop_db, t.max_abs_error) == (0.5, 0.2)
    assert thresholds_for(spec, "openvino-fp32").max_drop_db == 1.0


@pytest.mark.parametrize(
    "data,key",
    [
        ({"defaults": {"max_dropp_db": 0.1}}, "defaults.max_dropp_db"),
        ({"artifacts": {"*-int8": {"min_psnr_vs_ref": 3}}}, "artifacts.*-int8.min_psnr_vs_ref"),
        ({"defaults": {"max_drop_db": "a lot"}}, "defaults.max_drop_db"),
        ({"defaults": {"max_abs_error": -1}}, "defaults.max_abs_error"),
        ({"bench": {"size": "big"}}, "bench.size"),
        ({"artifacts": {"x": 3}}, "artifacts.x"),
        ({"datasets": ["Set5"]}, "datasets"),
        ({"defaults": {"min_psnr": {"Set5": "high"}}}, "min_psnr.Set5"),
    ],
)
def test_bad_specs_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("*", r"\*")):
        parse_spec(data, src="g.yaml")


def test_missing_spec_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "nope.yaml")


def test_render_reports_failures() -> None:
    text = render_checks({"passed": False, "checks": [
        {"artifact": "onnx-fp32", "check": "max abs error", "measured": 0.5, "threshold": "<= 0.001", "ok": False},
        {"artifact": "onnx-fp32", "check": "NaN/Inf values", "measured": 0, "threshold": "== 0", "ok": True}]})
    assert "FAIL" in text and "PASS" in text and "gate FAILED: 1/2" in text


def test_bench_settings_parsing_and_int8_peak() -> None:
    from sr_compress.errors import UserInputError
    from sr_compress.evaluate.bench import CpuPeak, parse_batches, parse_size

    assert parse_size("96x128") == (96, 128) and parse_batches("1, 4") == [1, 4]
    for bad in ("96", "0x5", "axb"):
        with pytest.raises(UserInputError, match="--size"):
            parse_size(bad)
    with pytest.raises(UserInputError, match="--batch"):
        parse_batches("0")
    peak = CpuPeak(cores=2, ghz=2.5, lanes=8, fma_units=2, isa="AVX2+FMA + VNNI", model="x", int8_factor=4)
    assert peak.gflops == 2 * 2.5 * 2 * 8 * 2
    assert peak.peak_for("int8") == 4 * peak.gflops and peak.peak_for("fp16") == peak.gflops
