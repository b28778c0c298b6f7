"""A :class:`Runner` whose inference happens in an NVIDIA Triton server: ``sr-serve`` in front, Triton behind.

``sr-serve --model NAME=triton://HOST:PORT/MODEL`` keeps everything image-shaped in ``sr-serve``
(limits, decoding, tiling, feathered merge, encoding, micro-batching) and sends only batches of
equal LR tiles to Triton, which batches them again across all ``sr-serve`` replicas and runs them
on its GPUs. The repository Triton serves is the one ``sr-compress export --triton`` writes, whose
``config.pbtxt`` carries the scale and tile size this runner needs (``sr_compress.*`` parameters).

Protocol: KServe v2 over HTTP (Triton's port 8000) with Triton's binary tensor extension — JSON
header of ``Inference-Header-Content-Length`` bytes followed by raw little-endian tensor bytes —
so tiles travel as float32 bytes, not JSON numbers. Only ``httpx`` is needed (already a
dependency). ``tritonclient[http]`` was considered and not used (docs/triton.md, "Why not
tritonclient"): its HTTP client runs on gevent greenlets, is documented as not thread-safe, and
would replace only the ~40 lines of binary-tensor framing below, while the tests need a mockable
transport. Retry with backoff is ours: :meth:`TritonRunner._post`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ..errors import UserInputError
from ..models.registry import SizeRequirements
from ..runtime.base import Runner, RunnerInfo
from .limits import RequestError

SCHEME = "triton://"
HEADER_LEN = "Inference-Header-Content-Length"
_DTYPES = {"FP32": np.float32, "FP16": np.float16}
# Triton answers these when it is (temporarily) overloaded or restarting: worth another try
_RETRY_STATUS = {429, 502, 503, 504}
log = logging.getLogger("sr_compress.serve.triton")


def is_triton_url(path: str) -> bool:
    return path.startswith(SCHEME)


def _param(config: dict[str, Any], key: str) -> str | None:
    value = (config.get("parameters") or {}).get(key)
    return value.get("string_value") if isinstance(value, dict) else None


class TritonRunner(Runner):
    """LR tile batches → SR tile batches through a Triton model (``run`` is used by one thread)."""

    def __init__(self, url: str, timeout_s: float = 120.0, transport: Any = None, retries: int = 3,
                 backoff_s: float = 0.1) -> None:
        import httpx

        parts = urlsplit(url)
        model = parts.path.strip("/")
        if parts.scheme != "triton" or not parts.netloc or not model or "/" in model:
            raise UserInputError(f"--model {url}: expected triton://HOST:PORT/MODEL (Triton's HTTP port, "
                                 "usually 8000), e.g. triton://127.0.0.1:8000/edsr_x2")
        self.url, self.model = url, model
        self.retries, self.backoff_s = retries, backoff_s
        self.base = f"http://{parts.netloc}/v2/models/{model}"
        self.client = httpx.Client(timeout=timeout_s, transport=transport)  # transport: tests only
        try:
            meta = self._get_json(self.base)
            config = self._get_json(self.base + "/config")
        except Exception:
            self.client.close()
            raise
        if len(meta.get("inputs", [])) != 1 or len(meta.get("outputs", [])) != 1:
            raise UserInputError(f"--model {url}: Triton model {model!r} must have one input and one output")
        inp, out = meta["inputs"][0], meta["outputs"][0]
        if inp.get("datatype") not in _DTYPES:
            raise UserInputError(f"--model {url}: input datatype {inp.get('datatype')} is not FP32/FP16")
        self.input_name, self.output_name = inp["name"], out["name"]
        self.dtype = _DTYPES[inp["datatype"]]
        query = parse_qs(parts.query)
        scale_q = query.get("scale")
        scale_s = _param(config, "sr_compress.scale") or (scale_q[0] if scale_q else None)
        if scale_s is None:
            raise UserInputError(f"--model {url}: the Triton config has no sr_compress.scale parameter; write the "
                                 "repository with 'sr-compress export --triton' or add ?scale=N to the URL")
        max_batch = int(str(config.get("max_batch_size", 0)))
        shape = [int(str(d)) for d in inp.get("shape", [])]
        hw = shape[-2:] if len(shape) >= 2 else [-1, -1]
        multiple = int(_param(config, "sr_compress.multiple_of") or 1)
        self.arch = _param(config, "sr_compress.arch")
        tile = _param(config, "sr_compress.tile")
        self.tile = int(tile) if tile else None
        self.info = RunnerInfo(
            backend="triton",
            precision="fp16" if self.dtype is np.float16 else "fp32",
            scale=int(scale_s),
            size_requirements=SizeRequirements(minimum=1, multiple_of=multiple),
            fixed_shape=(hw[0], hw[1]) if min(hw) > 0 else None,
            # max_batch_size 0: the model takes no batch axis, so one tile per request
            max_batch=max(1, max_batch),
            artifact=url,
            extra={"triton_model": model, "triton_platform": meta.get("platform"), "batch_axis": max_batch > 0},
        )

    def _get_json(self, url: str) -> dict[str, Any]:
        import httpx

        try:
            r = self.client.get(url)
        except httpx.HTTPError as err:
            raise UserInputError(f"--model {self.url}: cannot reach Triton at {url} ({type(err).__name__}: {err}); "
                                 "start tritonserver on the repository written by 'sr-compress export --triton'"
                                 ) from None
        if r.status_code != 200:
            raise UserInputError(f"--model {self.url}: Triton answered {r.status_code} for {url}: {r.text[:200]}")
        return r.json()

    def run(self, batch: np.ndarray) -> np.ndarray:
        if not self.info.extra["batch_axis"]:
            return np.concatenate([self._infer(t) for t in batch]) if len(batch) else batch
        return self._infer(batch)

    def _infer(self, x: np.ndarray) -> np.ndarray:
        squeeze = not self.info.extra["batch_axis"]
        data = np.ascontiguousarray(x, dtype=self.dtype)
        raw = data.astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
        header = json.dumps({
            "inputs": [{"name": self.input_name, "shape": list(data.shape), "datatype":
                        "FP16" if self.dtype is np.float16 else "FP32", "parameters": {"binary_data_size": len(raw)}}],
            "outputs": [{"name": self.output_name, "parameters": {"binary_data": True}}],
        }).encode()
        r = self._post(header + raw, len(header))
        if r.status_code != 200:
            raise RequestError(502, "upstream_error", f"Triton answered {r.status_code}: {r.text[:200]}")
        y = self._decode(r)
        return y[None] if squeeze and y.ndim == 3 else y

    def _post(self, body: bytes, header_len: int) -> Any:
        """POST /infer, retried with exponential backoff on transport errors and 429/502/503/504.

        Inference is idempotent, so a retry is safe; the last failure becomes a 502 for the client.
        """
        import httpx

        headers = {"Content-Type": "application/octet-stream", HEADER_LEN: str(header_len)}
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                r = self.client.post(self.base + "/infer", content=body, headers=headers)
            except httpx.TransportError as err:
                if last:
                    raise RequestError(502, "upstream_unavailable", f"Triton at {self.base} did not answer "
                                       f"({type(err).__name__}) after {self.retries + 1} attempts") from None
                log.warning("Triton %s: %s, retrying (%d/%d)", self.base, type(err).__name__, attempt + 1,
                            self.retries)
            else:
                if r.status_code not in _RETRY_STATUS or last:
                    return r
                log.warning("Triton %s answered %d, retrying (%d/%d)", self.base, r.status_code, attempt + 1,
                            self.retries)
            time.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decode(self, r: Any) -> np.ndarray:
        body = r.content
        n = int(r.headers.get(HEADER_LEN, len(body)))
        head = json.loads(body[:n])
        out = next((o for o in head.get("outputs", []) if o.get("name") == self.output_name), None)
        if out is None:
            raise RequestError(502, "upstream_error", f"Triton response has no output {self.output_name!r}")
        dtype = _DTYPES.get(out.get("datatype", ""))
        if dtype is None:
            raise RequestError(502, "upstream_error", f"Triton output datatype {out.get('datatype')} is not FP32/FP16")
        shape = [int(d) for d in out["shape"]]
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:  # the server chose JSON numbers
            arr = np.asarray(out["data"], dtype=dtype)
        else:
            arr = np.frombuffer(body[n : n + int(size)], dtype=np.dtype(dtype).newbyteorder("<"))
        return arr.reshape(shape).astype(np.float32)

    def close(self) -> None:
        self.client.close()
