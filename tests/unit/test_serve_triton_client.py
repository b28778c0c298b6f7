"""TritonRunner against a mocked Triton HTTP endpoint: URL checks, FP16, no batch axis, errors."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from sr_compress.errors import UserInputError
from sr_compress.serve.limits import RequestError
from sr_compress.serve.triton_client import TritonRunner


def fake_triton(max_batch: int, dtype: str = "FP32", params: dict | None = None, binary: bool = True,
                fail: bool = False) -> tuple[httpx.MockTransport, list[list[int]]]:
    """x2 nearest-neighbour 'model' named m; records the input shapes it was sent."""
    seen: list[list[int]] = []
    np_dt = {"FP32": "<f4", "FP16": "<f2"}[dtype]
    batch = [-1] if max_batch else []

    def handler(req: httpx.Request) -> httpx.Response:
        path = req.url.path
        if path == "/v2/models/m":
            t = {"datatype": dtype, "shape": batch + [3, -1, -1]}
            return httpx.Response(200, json={"name": "m", "platform": "onnxruntime_onnx",
                                             "inputs": [{"name": "lr", **t}], "outputs": [{"name": "sr", **t}]})
        if path == "/v2/models/m/config":
            p = {k: {"string_value": v} for k, v in (params or {}).items()}
            return httpx.Response(200, json={"name": "m", "max_batch_size": max_batch, "parameters": p})
        if path == "/v2/models/m/infer" and not fail:
            n = int(req.headers["inference-header-content-length"])
            head = json.loads(req.content[:n])
            inp = head["inputs"][0]
            assert inp["datatype"] == dtype and head["outputs"][0]["parameters"]["binary_data"] is True
            seen.append(inp["shape"])
            x = np.frombuffer(req.content[n:], np_dt).reshape(inp["shape"])
            y = np.ascontiguousarray(x.repeat(2, -1).repeat(2, -2), dtype=np_dt)
            out = {"name": "sr", "datatype": dtype, "shape": list(y.shape)}
            if not binary:
                return httpx.Response(200, json={"outputs": [{**out, "data": y.ravel().tolist()}]})
            h = json.dumps({"outputs": [{**out, "parameters": {"binary_data_size": y.nbytes}}]}).encode()
            return httpx.Response(200, content=h + y.tobytes(), headers={"Inference-Header-Content-Length": str(len(h))})
        return httpx.Response(500, json={"error": "boom"})

    return httpx.MockTransport(handler), seen


def test_batched_fp32_runner_reads_scale_and_tile_from_the_config() -> None:
    transport, seen = fake_triton(8, params={"sr_compress.scale": "2", "sr_compress.tile": "96",
                                             "sr_compress.arch": "edsr", "sr_compress.multiple_of": "4"})
    r = TritonRunner("triton://triton:8000/m", transport=transport)
    assert (r.info.backend, r.info.precision, r.info.scale, r.info.max_batch, r.tile, r.arch) == (
        "triton", "fp32", 2, 8, 96, "edsr")
    assert r.info.size_requirements.multiple_of == 4 and r.info.fixed_shape is None
    x = np.random.default_rng(0).random((3, 3, 5, 4), dtype=np.float32)
    y = r.run(x)
    assert seen == [[3, 3, 5, 4]] and y.dtype == np.float32
    assert np.array_equal(y, x.repeat(2, -1).repeat(2, -2))


def test_unbatched_fp16_model_gets_one_tile_per_call_and_json_outputs_work() -> None:
    transport, seen = fake_triton(0, "FP16", binary=False)
    r = TritonRunner("triton://triton:8000/m?scale=2", transport=transport)
    assert (r.info.precision, r.info.max_batch, r.tile) == ("fp16", 1, None)
    x = np.random.default_rng(1).random((2, 3, 4, 4), dtype=np.float32)
    y = r.run(x)
    assert seen == [[3, 4, 4], [3, 4, 4]] and y.shape == (2, 3, 8, 8)
    assert np.abs(y - x.repeat(2, -1).repeat(2, -2)).max() < 1e-3  # FP16 on the wire


def test_errors_are_clear() -> None:
    transport, _ = fake_triton(8)
    with pytest.raises(UserInputError, match="no sr_compress.scale"):
        TritonRunner("triton://triton:8000/m", transport=transport)
    for bad in ("triton://triton:8000/", "triton://triton:8000/a/b", "http://triton:8000/m"):
        with pytest.raises(UserInputError, match="triton://HOST:PORT/MODEL"):
            TritonRunner(bad, transport=transport)
    with pytest.raises(UserInputError, match="answered 500"):
        TritonRunner("triton://triton:8000/other", transport=transport)
    transport, _ = fake_triton(8, params={"sr_compress.scale": "2"}, fail=True)
    r = TritonRunner("triton://triton:8000/m", transport=transport)
    with pytest.raises(RequestError) as info:
        r.run(np.zeros((1, 3, 4, 4), np.float32))
    assert (info.value.status, info.value.code) == (502, "upstream_error")


def test_transient_failures_are_retried_with_backoff_then_502() -> None:
    inner, seen = fake_triton(8, params={"sr_compress.scale": "2"})
    failures = {"left": 2}

    def flaky(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/infer") and failures["left"] > 0:
            failures["left"] -= 1
            if failures["left"] == 1:
                raise httpx.ConnectError("connection refused", request=req)
            return httpx.Response(503, json={"error": "busy"})
        return inner.handle_request(req)

    r = TritonRunner("triton://triton:8000/m", transport=httpx.MockTransport(flaky), backoff_s=0.001)
    x = np.ones((1, 3, 4, 4), np.float32)
    assert r.run(x).shape == (1, 3, 8, 8) and len(seen) == 1 and failures["left"] == 0
    failures["left"] = 10
    with pytest.raises(RequestError) as info:
        r.run(x)
    assert info.value.status == 502 and failures["left"] == 10 - 4  # 1 try + 3 retries
