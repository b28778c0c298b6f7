"""Bounded load test of ``sr-serve`` on loopback: micro-batching on vs off.

For each configuration a fresh ``sr-serve`` subprocess serves the same ONNX model; an asyncio
httpx client keeps ``--concurrency`` requests of 128x128 real photo crops in flight for
``--duration`` seconds (after a short warm-up that is not counted). Reported: throughput,
p50/p99 latency, errors (must be 0), mean tiles per inference call (from /metrics), and the
server's peak RSS (VmHWM). Client and server share this machine's cores, which is stated with
the results.

    flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/serve_load.py

Writes the ``serve_load`` section of benchmarks/RESULTS.md and benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._results import machine_line, md_table, update_section  # noqa: E402


def make_export(spec: str, scale: int, out: Path) -> Path:
    """A student with fixed seed exported to ONNX, plus the manifest sr-serve reads."""
    import torch

    from sr_compress.export.manifest import ArtifactEntry, Manifest, sha256_file
    from sr_compress.export.onnx import export_onnx
    from sr_compress.models.students import build_student

    torch.manual_seed(0)
    desc = build_student(spec, scale)
    settings = export_onnx(desc, out / "model.onnx")
    Manifest(arch=desc.arch, scale=scale, size_requirements={"minimum": 1, "multiple_of": 1},
             hyperparams=desc.hyperparams, params=desc.params, source=desc.source,
             artifacts=[ArtifactEntry("onnx-fp32", "model.onnx", "onnxruntime", "fp32",
                                      sha256_file(out / "model.onnx"), 17, settings)]).write(out)
    return out


def test_images(n: int, size: int) -> list[bytes]:
    """PNG crops of real photos embedded in scikit-image's wheel (no download)."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        y = int(rng.integers(0, img.shape[0] - size))
        x = int(rng.integers(0, img.shape[1] - size))
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img[y : y + size, x : x + size, :3])).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else float("nan")


def metric_sum(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def drive(url: str, images: list[bytes], concurrency: int, warmup: float, duration: float) -> dict:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker(k: int) -> None:
            i = k
            while time.perf_counter() < t_end:
                body = images[i % len(images)]
                i += concurrency
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/upscale", content=body, headers={"Content-Type": "image/png"})
                    status = r.status_code
                except httpx.HTTPError as err:
                    status = -1
                    errors.append(type(err).__name__)
                t1 = time.perf_counter()
                # completions inside the window count: with hundreds in flight, latency can exceed the
                # window, so "started and finished inside it" would keep only the lucky ones
                if t_measure <= t1 <= t_end:
                    latencies.append(t1 - t0)
                    statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        metrics = (await client.get("/metrics")).text
    ok = statuses.get(200, 0)
    lat = np.array(latencies) * 1000
    return {
        "requests": int(sum(statuses.values())),
        "ok": ok,
        "errors": int(sum(v for k, v in statuses.items() if k != 200)),
        "transport_errors": sorted(set(errors)),
        "statuses": statuses,
        "throughput_rps": ok / duration,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
        "mean_batch": metric_sum(metrics, "sr_serve_batch_size_sum") / max(1.0, metric_sum(metrics, "sr_serve_batch_size_count")),
    }


def run_config(export: Path, name: str, max_batch: int, max_wait_ms: float, args: argparse.Namespace,
               images: list[bytes]) -> dict:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-c", "from sr_compress.serve.cli import main; main()",
           "--model", f"bench={export}", "--port", str(port), "--max-batch", str(max_batch),
           "--max-wait-ms", str(max_wait_ms), "--queue-size", str(max(256, args.concurrency * 2)),
           "--tile", str(args.size), "--threads", str(args.threads), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sr-serve did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.2)
        res = asyncio.run(drive(url, images, args.concurrency, args.warmup, args.duration))
        res["peak_rss_mb"] = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    res.update({"config": name, "max_batch": max_batch, "max_wait_ms": max_wait_ms})
    print(f"{name}: {res['throughput_rps']:.1f} req/s  p50 {res['p50_ms']:.0f} ms  p99 {res['p99_ms']:.0f} ms  "
          f"errors {res['errors']}  mean batch {res['mean_batch']:.2f}  peak RSS {res['peak_rss_mb']:.0f} MB",
          flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default="edsr:c16b2", help="student spec exported to ONNX for the test")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--model", type=Path, default=None, help="serve this export dir instead of a fresh student")
    ap.add_argument("--size", type=int, default=128, help="LR image side (one tile per image)")
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds per configuration")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2, help="inference threads in the server")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args()
    wall0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="serve_load_"))
    export = args.model or make_export(args.student, args.scale, tmp)
    images = test_images(16, args.size)
    results = [
        run_config(export, "micro-batching on", args.max_batch, args.max_wait_ms, args, images),
        run_config(export, "micro-batching off", 1, 0.0, args, images),
    ]
    wall = time.perf_counter() - wall0
    model_desc = str(args.model) if args.model else f"{args.student} x{args.scale} (ONNX Runtime fp32, random init)"
    rows = [[r["config"], r["max_batch"], r["requests"], round(r["throughput_rps"], 2), round(r["p50_ms"], 1),
             round(r["p99_ms"], 1), r["errors"], round(r["mean_batch"], 2), round(r["peak_rss_mb"], 1)]
            for r in results]
    table = md_table(["config", "max batch", "requests", "req/s", "p50 ms", "p99 ms", "errors",
                      "tiles per call", "server peak RSS MB"], rows)
    cmd = "flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/serve_load.py " + " ".join(sys.argv[1:])
    md = (
        "## sr-serve load test (loopback)\n\n"
        f"{args.concurrency} concurrent clients, {args.size}x{args.size} PNG crops of real photos, "
        f"{args.duration:.0f} s measured per configuration after {args.warmup:.0f} s warm-up; model {model_desc}; "
        f"{args.threads} inference threads. Client and server share the machine "
        f"({os.cpu_count()} cores, also used by other jobs).\n\n"
        f"{table}\n\n"
        f"Machine: {machine_line()}. Wall time {wall:.0f} s. Command: `{cmd.strip()}`\n"
    )
    print(md)
    if not args.no_write:
        update_section("serve_load", md, {"results": results, "args": {k: str(v) for k, v in vars(args).items()},
                                          "wall_s": wall, "machine": machine_line()})


if __name__ == "__main__":
    main()
