"""Bounded load test of ``sr-serve`` on loopback: micro-batching on vs off.

For each backend and configuration a fresh ``sr-serve`` subprocess serves the same model; an asyncio
httpx client keeps ``--concurrency`` requests of 128x128 real photo crops in flight for
``--duration`` seconds (after a short warm-up that is not counted). Reported: throughput,
p50/p99 latency, errors (must be 0), mean tiles per inference call (from /metrics), and the
server's peak RSS (VmHWM). Client and server share this machine's cores, which is stated with
the results.

    flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/serve_load.py

Also measures the bare runner at batch 1 vs max batch (no HTTP), which bounds what batching can
gain. Writes the ``serve_load`` section of benchmarks/RESULTS.md and benchmarks/results/serve_load.json.
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
    """A student with fixed seed exported like ``sr-compress export --openvino`` (ONNX + OpenVINO fp32)."""
    import torch

    from sr_compress.export import ExportOptions, export_model
    from sr_compress.models.students import build_student

    torch.manual_seed(0)
    desc = build_student(spec, scale)
    export_model(desc, out, ExportOptions(onnx=True, openvino=True, precisions=["fp32"]))
    return out


def runner_probe(export: Path, backends: list[str], size: int, batches: list[int], threads: int,
                 seconds: float) -> list[dict]:
    """Tiles/s of the bare runner (no HTTP) per backend and batch size: what batching can gain at most."""
    from sr_compress.export.manifest import read_manifest
    from sr_compress.runtime.runners import make_runner
    from sr_compress.serve.models import choose_artifact

    manifest = read_manifest(export)
    out = []
    for backend in backends:
        runner = make_runner(choose_artifact(manifest, backend, "fp32"), manifest=manifest, threads=threads)
        for b in batches:
            x = np.random.default_rng(0).random((b, 3, size, size), dtype=np.float32)
            runner.run(x)  # warm-up (first call allocates)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                runner.run(x)
                n += b
            dt = time.perf_counter() - t0
            out.append({"backend": backend, "batch": b, "tiles_per_s": n / dt, "ms_per_tile": dt / n * 1000})
            print(f"runner {backend} batch {b}: {n / dt:.1f} tiles/s", flush=True)
        runner.close()
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


def run_config(export: Path, backend: str, name: str, max_batch: int, max_wait_ms: float,
               args: argparse.Namespace, images: list[bytes]) -> dict:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-c", "from sr_compress.serve.cli import main; main()",
           "--model", f"bench={export}", "--backend", backend, "--port", str(port), "--max-batch", str(max_batch),
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
    res.update({"backend": backend, "config": name, "max_batch": max_batch, "max_wait_ms": max_wait_ms})
    print(f"{backend} {name}: {res['throughput_rps']:.1f} req/s  p50 {res['p50_ms']:.0f} ms  p99 {res['p99_ms']:.0f} ms  "
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
    ap.add_argument("--duration", type=float, default=15.0, help="measured seconds per configuration")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2, help="inference threads in the server")
    ap.add_argument("--backends", default="onnxruntime,openvino", help="comma list; each is run on and off")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--probe-seconds", type=float, default=3.0, help="per backend and batch size (0: skip)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args()
    wall0 = time.perf_counter()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="serve_load_"))
    export = args.model or make_export(args.student, args.scale, tmp / "export")
    images = test_images(16, args.size)
    probe = (runner_probe(export, backends, args.size, [1, args.max_batch], args.threads, args.probe_seconds)
             if args.probe_seconds > 0 else [])
    results = []
    for backend in backends:
        results.append(run_config(export, backend, "micro-batching on", args.max_batch, args.max_wait_ms, args,
                                  images))
        results.append(run_config(export, backend, "micro-batching off", 1, 0.0, args, images))
    wall = time.perf_counter() - wall0
    model_desc = str(args.model) if args.model else f"{args.student} x{args.scale} (fp32, random init)"
    rows = [[r["backend"], r["config"], r["max_batch"], r["requests"], round(r["throughput_rps"], 2),
             round(r["p50_ms"], 1), round(r["p99_ms"], 1), r["errors"], round(r["mean_batch"], 2),
             round(r["peak_rss_mb"], 1)] for r in results]
    table = md_table(["backend", "config", "max batch", "requests", "req/s", "p50 ms", "p99 ms", "errors",
                      "tiles per call", "server peak RSS MB"], rows)
    probe_md = ""
    if probe:
        prow = [[p["backend"], p["batch"], round(p["tiles_per_s"], 1), round(p["ms_per_tile"], 2)] for p in probe]
        probe_md = ("Bare runner, same model and threads, no HTTP (the most batching could gain here):\n\n"
                    + md_table(["backend", "batch", "tiles/s", "ms per tile"], prow) + "\n\n")
    cmd = "flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python benchmarks/serve_load.py " + " ".join(sys.argv[1:])
    md = (
        "## sr-serve load test (loopback)\n\n"
        f"{args.concurrency} concurrent clients, {args.size}x{args.size} PNG crops of real photos (one tile per "
        f"request), {args.duration:.0f} s measured per configuration after {args.warmup:.0f} s warm-up; model "
        f"{model_desc}; {args.threads} inference threads; queue size {max(256, args.concurrency * 2)}. Client and "
        f"server share the machine ({os.cpu_count()} cores, also used by other jobs).\n\n"
        f"{table}\n\n{probe_md}"
        f"Machine: {machine_line()}. Wall time {wall:.0f} s. Command: `{cmd.strip()}`\n"
    )
    print(md)
    if not args.no_write:
        update_section("serve_load", md, {"results": results, "runner_probe": probe,
                                          "args": {k: str(v) for k, v in vars(args).items()},
                                          "wall_s": wall, "machine": machine_line()})


if __name__ == "__main__":
    main()
