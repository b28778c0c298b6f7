"""Bounded load test of ``sr-serve`` on loopback with a REAL model (issue 14 acceptance).

The model is exported first with the project's own CLI (``sr-compress export CHECKPOINT --out TMP``,
default RLFN x4 from ../shared/data/weights), then each phase starts a fresh ``sr-serve`` subprocess
on 127.0.0.1 and drives it with asyncio httpx clients; every loop stops by itself.

(a) saturation: ``2 x max-batch`` clients of one-tile images for ``--sat-seconds``; sustained tiles/s
    vs the bare runner (same export, tile size, threads, batch = max-batch, no HTTP), measured in
    this run just before and just after the phase (mean of the two, because the machine is shared).
(b) 200 clients, mixed sizes (one client sends large images back to back, a quarter medium, the rest
    small), ``--mixed-seconds``: every answer must be 200 or 503 + Retry-After (clients honour it),
    no 5xx; p99 of the small 200s completed while a large request was in flight must stay under
    ``--small-p99-bound``.
(d) SIGTERM at the end of (b) while the load continues: zero 500s (200, 503 or refused only).
(c) hostile inputs: a 1 x 2,097,152 px PNG (6 kB) and 150 connections that send 18 MiB of a larger
    declared body and stall; server RSS sampled all along (must stay under ``--rss-bound-mb``) and a
    concurrent small request must answer in < 5 s.

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
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    add_data_args,
    add_run_args,
    command_line,
    machine_line,
    md_table,
    render,
    shared,
    start,
    write_results,
)

DEFAULT_CKPT = "RLFN/rlfn_x4.pth"  # under shared/data/weights


def export_with_cli(ckpt: Path, out: Path) -> Path:
    """ONNX export through ``sr-compress export`` (the project's CLI), into a temp dir."""
    cmd = [sys.executable, "-c", "from sr_compress.cli import main; main()", "export", str(ckpt), "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    return out


def runner_rate(export: Path, tile: int, batch: int, threads: int, seconds: float) -> float:
    """Tiles/s of the bare ONNX Runtime runner (no HTTP) at ``batch`` tiles of ``tile``²."""
    from sr_compress.runtime.manifest import read_manifest
    from sr_compress.runtime.runners import make_runner
    from sr_compress.serve.models import choose_artifact

    manifest = read_manifest(export)
    runner = make_runner(choose_artifact(manifest, "onnxruntime", "fp32"), manifest=manifest, threads=threads)
    x = np.random.default_rng(0).random((batch, 3, tile, tile), dtype=np.float32)
    runner.run(x)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        runner.run(x)
        n += batch
    rate = n / (time.perf_counter() - t0)
    runner.close()
    return rate


def photo_pngs(n: int, size: int, seed: int = 0) -> list[bytes]:
    """PNG crops of real photos embedded in scikit-image's wheel (no download)."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        y, x = int(rng.integers(0, img.shape[0] - size)), int(rng.integers(0, img.shape[1] - size))
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img[y : y + size, x : x + size, :3])).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def thin_png(width: int = 2_097_152, height: int = 1) -> bytes:
    """The issue's 6 kB PNG: 1 x 2 M gray pixels (within --max-pixels, ~18 000 tiles once padded)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    raw = zlib.compress(b"\x00" * ((width + 1) * height), 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        m = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return float("nan")
    return int(m.group(1)) / 1024 if m else float("nan")


def metric_sum(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


class Server:
    """One ``sr-serve`` subprocess on a free loopback port (stderr to a file: never a full pipe)."""

    def __init__(self, export: Path, args: argparse.Namespace, log: Path, *extra: str, threads: int = 0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-c", "from sr_compress.serve.cli import main; main()", "--model", f"bench={export}",
               "--backend", "onnxruntime", "--port", str(self.port), "--tile", str(args.tile),
               "--threads", str(threads or args.threads), "--max-batch", str(args.max_batch), "--queue-size",
               str(args.queue_size), "--drain-timeout", str(args.drain_timeout), "--log-level", "warning",
               "--no-access-log", *extra]
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"sr-serve did not start (see {self.log.name})")
            time.sleep(0.3)

    def warm(self, body: bytes) -> None:
        """One request first: the runtime's first call at a shape allocates (not what we measure)."""
        import httpx

        httpx.post(self.url + "/v1/upscale", content=body, headers={"Content-Type": "image/png"}, timeout=300)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


async def closed_loop(url: str, clients: list[tuple[str, list[bytes]]], t_end: float, stop_on_refused: bool = False,
                      timeout: float = 300.0, fmt: str = "png") -> list[dict[str, Any]]:
    """Each client sends its images back to back until ``t_end``; 503 → sleep Retry-After (bounded)."""
    import httpx

    records: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=len(clients) + 4, max_keepalive_connections=len(clients) + 4)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def worker(k: int, kind: str, bodies: list[bytes]) -> None:
            i = k
            while time.monotonic() < t_end:
                body = bodies[i % len(bodies)]
                i += 1
                t0 = time.monotonic()
                rec: dict[str, Any] = {"kind": kind, "t0": t0}
                try:
                    r = await client.post(f"/v1/upscale?format={fmt}", content=body,
                                          headers={"Content-Type": "image/png"})
                    rec.update(status=r.status_code, retry_after=r.headers.get("retry-after"),
                               code=r.json()["error"]["code"] if r.status_code != 200 else None)
                except httpx.TransportError as err:
                    rec.update(status=-1, code=type(err).__name__, retry_after=None)
                rec["t1"] = time.monotonic()
                records.append(rec)
                if rec["status"] == -1:
                    if stop_on_refused:
                        return
                    await asyncio.sleep(0.5)
                elif rec["status"] == 503:
                    await asyncio.sleep(min(30.0, float(rec["retry_after"] or 1)))

        await asyncio.gather(*(worker(k, kind, bodies) for k, (kind, bodies) in enumerate(clients)))
    return records


def phase_saturation(export: Path, args: argparse.Namespace, tmp: Path, threads: int, fmt: str) -> dict[str, Any]:
    """(a) 2 x max-batch clients of one-tile images: sustained tiles/s vs the bare runner."""
    import httpx

    before = runner_rate(export, args.tile, args.max_batch, threads, args.probe_seconds)
    srv = Server(export, args, tmp / f"a{threads}{fmt}.log", threads=threads)
    try:
        srv.wait_ready()
        small = photo_pngs(16, args.tile, seed=1)
        srv.warm(small[0])
        n = 2 * args.max_batch
        asyncio.run(closed_loop(srv.url, [("small", small)] * n, time.monotonic() + args.warmup, fmt=fmt))
        m0 = httpx.get(srv.url + "/metrics").text
        t0 = time.monotonic()
        recs = asyncio.run(closed_loop(srv.url, [("small", small)] * n, t0 + args.sat_seconds, fmt=fmt))
        dt = max(r["t1"] for r in recs) - t0
        m1 = httpx.get(srv.url + "/metrics").text
    finally:
        srv.stop()
    after = runner_rate(export, args.tile, args.max_batch, threads, args.probe_seconds)
    tiles = metric_sum(m1, "sr_serve_tiles_processed_total") - metric_sum(m0, "sr_serve_tiles_processed_total")
    calls = metric_sum(m1, "sr_serve_batch_size_count") - metric_sum(m0, "sr_serve_batch_size_count")
    bare = (before + after) / 2
    served = tiles / dt
    statuses = sorted({r["status"] for r in recs})
    return {"threads": threads, "format": fmt, "clients": n, "served_tiles_per_s": served, "bare_tiles_per_s_before": before,
            "bare_tiles_per_s_after": after, "ratio": served / bare, "mean_batch": tiles / max(1.0, calls),
            "statuses": statuses, "seconds": dt, "pass": served / bare >= 0.9 and statuses == [200]}


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def phase_mixed_and_sigterm(export: Path, args: argparse.Namespace, tmp: Path, bare_rate: float) -> dict[str, Any]:
    """(b) 200 mixed clients for --mixed-seconds, then (d) SIGTERM while they keep sending.

    The p99 bound for small requests (unless --small-p99-bound): two round-robin rounds over every
    admitted request plus the running batch, at the bare runner's speed.
    """
    import httpx

    bound = args.small_p99_bound or 2 * (args.queue_size + args.max_batch) / bare_rate
    srv = Server(export, args, tmp / "b.log")
    try:
        srv.wait_ready()
        small, medium, large = (photo_pngs(16, args.tile, 2), photo_pngs(8, 2 * args.tile, 3),
                                photo_pngs(4, 4 * args.tile, 4))
        srv.warm(small[0])
        clients = [("large", large)] + [("medium" if k % 4 == 1 else "small", medium if k % 4 == 1 else small)
                                        for k in range(1, args.clients)]
        peak = [0.0]
        tiles_per_s = [0.0]

        async def run() -> tuple[list[dict[str, Any]], float]:
            t0 = time.monotonic()
            t_sigterm = t0 + args.mixed_seconds
            load = asyncio.ensure_future(closed_loop(srv.url, clients, t_sigterm + args.after_sigterm, True))
            async with httpx.AsyncClient(base_url=srv.url, timeout=30) as mc:
                m0 = metric_sum((await mc.get("/metrics")).text, "sr_serve_tiles_processed_total")
                while time.monotonic() < t_sigterm:
                    peak[0] = max(peak[0], rss_mb(srv.proc.pid))
                    await asyncio.sleep(0.5)
                m1 = metric_sum((await mc.get("/metrics")).text, "sr_serve_tiles_processed_total")
            tiles_per_s[0] = (m1 - m0) / (time.monotonic() - t0)
            srv.proc.send_signal(signal.SIGTERM)
            return await load, t_sigterm

        recs, t_sig = asyncio.run(run())
        code = srv.stop()
    finally:
        srv.stop()
    # the machine is shared: the bare runner again right after, to see how much the contention drifted
    bare_after = runner_rate(export, args.tile, args.max_batch, args.threads, args.probe_seconds)
    before = [r for r in recs if r["t1"] <= t_sig]
    after = [r for r in recs if r["t1"] > t_sig]
    large_runs = [(r["t0"], r["t1"]) for r in before if r["kind"] == "large" and r["status"] == 200]
    large_running = [(r["t0"], r["t1"]) for r in recs if r["kind"] == "large"]
    small_ok = [r["t1"] - r["t0"] for r in before if r["kind"] == "small" and r["status"] == 200]
    small_during = [r["t1"] - r["t0"] for r in before if r["kind"] == "small" and r["status"] == 200
                    and any(a < r["t1"] and r["t0"] < b for a, b in large_running)]
    bad = [r for r in before if not (r["status"] == 200 or (r["status"] == 503 and r["retry_after"]))]

    def counts(rs: list[dict[str, Any]]) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in rs:
            key = str(r["status"]) + (f" {r['code']}" if r["code"] else "")
            out[key] = out.get(key, 0) + 1
        return out

    p99 = _p(small_during, 99)
    return {
        "clients": args.clients, "seconds": args.mixed_seconds, "counts": counts(before),
        "five_xx": sum(1 for r in before if r["status"] >= 500 and r["status"] != 503),
        "not_200_or_503_retry_after": len(bad), "small_ok": len(small_ok), "small_p50_s": _p(small_ok, 50),
        "small_p99_s": _p(small_ok, 99), "small_during_large": len(small_during), "small_during_large_p99_s": p99,
        "large_ok": len(large_runs), "large_mean_s": float(np.mean([b - a for a, b in large_runs])) if large_runs
        else float("nan"), "bound_s": bound, "peak_rss_mb": peak[0],
        "served_tiles_per_s": tiles_per_s[0], "bare_tiles_per_s_used": bare_rate, "bare_tiles_per_s_after": bare_after,
        "pass_b": len(bad) == 0 and p99 <= bound and len(small_during) > 0,
        "sigterm_counts": counts(after), "sigterm_500s": sum(1 for r in after if r["status"] == 500),
        "exit_code": code, "pass_d": not any(r["status"] == 500 for r in after),
    }


async def _stalled_upload(port: int, size: int, buf: bytes, hold_s: float) -> str:
    """Send headers declaring size+1 bytes, then ``size`` bytes, then stall; return what came back.

    The answer is read while sending: a refused upload is answered (and closed) before its body is read.
    """
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as err:
        return f"connect {type(err).__name__}"
    answer = asyncio.ensure_future(reader.read(200))
    try:
        writer.write(b"POST /v1/upscale HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                     b"Content-Length: %d\r\n\r\n" % (size + 1))
        sent = 0
        while sent < size and not answer.done():
            n = min(len(buf), size - sent)
            writer.write(buf[:n])
            await writer.drain()
            sent += n
    except OSError:
        pass
    try:
        head = await asyncio.wait_for(answer, hold_s)
        return head.split(b"\r\n", 1)[0].decode(errors="replace") or "closed"
    except asyncio.TimeoutError:
        return "held (being read, within the budget)"
    except OSError as err:
        return type(err).__name__
    finally:
        writer.close()


def phase_hostile(export: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """(c) the thin PNG and 150 stalled 18 MiB uploads, with a small request alongside."""
    import httpx

    srv = Server(export, args, tmp / "c.log")
    try:
        srv.wait_ready()
        srv.warm(photo_pngs(1, args.tile, seed=6)[0])
        base = rss_mb(srv.proc.pid)
        t = time.monotonic()
        r = httpx.post(srv.url + "/v1/upscale", content=thin_png(), headers={"Content-Type": "image/png"}, timeout=60)
        thin = {"status": r.status_code, "code": r.json()["error"]["code"] if r.status_code != 200 else None,
                "seconds": time.monotonic() - t, "bytes": len(thin_png())}
        small = photo_pngs(4, args.tile, seed=5)
        samples: list[float] = []
        small_lat: list[tuple[int, float]] = []

        async def run() -> list[str]:
            buf = b"\0" * (1 << 20)
            uploads = [asyncio.ensure_future(_stalled_upload(srv.port, args.stall_mib << 20, buf,
                                                             args.hostile_seconds + 5)) for _ in range(args.stalled)]
            async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
                t_end = time.monotonic() + args.hostile_seconds
                i = 0
                while time.monotonic() < t_end:
                    samples.append(rss_mb(srv.proc.pid))
                    t0 = time.monotonic()
                    try:
                        rr = await client.post("/v1/upscale", content=small[i % len(small)],
                                               headers={"Content-Type": "image/png"})
                        small_lat.append((rr.status_code, time.monotonic() - t0))
                    except httpx.TransportError:
                        small_lat.append((-1, time.monotonic() - t0))
                    i += 1
                    await asyncio.sleep(0.5)
            # uploads still being read (inside the body budget) are held until --read-timeout; they
            # report "held" after hold_s
            return list(await asyncio.gather(*uploads))

        outcomes = asyncio.run(run())
        peak = rss_mb(srv.proc.pid, "VmHWM")
    finally:
        srv.stop()
    summary: dict[str, int] = {}
    for o in outcomes:
        summary[o] = summary.get(o, 0) + 1
    worst_small = max((lat for _, lat in small_lat), default=float("nan"))
    return {"thin_png": thin, "stalled": args.stalled, "stall_mib": args.stall_mib, "upload_outcomes": summary,
            "rss_base_mb": base, "rss_max_sampled_mb": max(samples, default=float("nan")), "peak_rss_mb": peak,
            "rss_bound_mb": args.rss_bound_mb, "small_statuses": sorted({s for s, _ in small_lat}),
            "small_worst_s": worst_small, "small_count": len(small_lat),
            "pass": (thin["status"] == 413 and peak <= args.rss_bound_mb and worst_small < 5.0
                     and all(s == 200 for s, _ in small_lat))}


def report(args: argparse.Namespace, model: str, sat: list[dict], b: dict, c: dict, wall: float) -> str:
    rows = [
        [f"(a) saturation, {a['threads']} thread(s), {a['format']} answers", f"{a['clients']} clients x 1-tile images, {a['seconds']:.0f} s",
         f"served {a['served_tiles_per_s']:.2f} tiles/s vs bare runner {a['bare_tiles_per_s_before']:.2f} / "
         f"{a['bare_tiles_per_s_after']:.2f} (before/after) = {a['ratio']:.2f}x; mean batch {a['mean_batch']:.2f}; "
         f"statuses {a['statuses']}", "≥ 0.9x", "PASS" if a["pass"] else "FAIL"] for a in sat
    ] + [
        ["(b) 200 mixed clients", f"{b['clients']} clients, {b['seconds']:.0f} s",
         f"{b['counts']}; 5xx {b['five_xx']}; small p50 {b['small_p50_s']:.2f} s, p99 {b['small_p99_s']:.2f} s; "
         f"small while a large runs: n={b['small_during_large']}, p99 {b['small_during_large_p99_s']:.2f} s; "
         f"large done {b['large_ok']} (mean {b['large_mean_s']:.1f} s); served {b['served_tiles_per_s']:.2f} tiles/s "
         f"(bare runner {b['bare_tiles_per_s_used']:.2f} before, {b['bare_tiles_per_s_after']:.2f} right after); "
         f"peak RSS {b['peak_rss_mb']:.0f} MB",
         f"0 5xx; 200 or 503+Retry-After; p99 ≤ {b['bound_s']:.1f} s", "PASS" if b["pass_b"] else "FAIL"],
        ["(d) SIGTERM under (b)", f"after {b['seconds']:.0f} s, load continues",
         f"{b['sigterm_counts']} (-1 = connection refused after close); exit {b['exit_code']}", "0 x 500",
         "PASS" if b["pass_d"] else "FAIL"],
        ["(c) hostile", f"1x2,097,152 PNG ({c['thin_png']['bytes']} B) + {c['stalled']} x {c['stall_mib']} MiB stalled",
         f"thin PNG → {c['thin_png']['status']} {c['thin_png']['code']} in {c['thin_png']['seconds']:.2f} s; uploads "
         f"{c['upload_outcomes']}; RSS base {c['rss_base_mb']:.0f} MB, max sampled {c['rss_max_sampled_mb']:.0f} MB, "
         f"peak (VmHWM) {c['peak_rss_mb']:.0f} MB; small requests {c['small_statuses']} x{c['small_count']}, "
         f"worst {c['small_worst_s']:.2f} s", f"RSS ≤ {c['rss_bound_mb']:g} MB, small < 5 s",
         "PASS" if c["pass"] else "FAIL"],
    ]
    return render("serve_load", model=model, a=args, medium=2 * args.tile, large=4 * args.tile, cores=os.cpu_count(),
                  table=md_table(["phase", "load", "measured", "target", "result"], rows), machine=machine_line(),
                  wall=wall, cmd=command_line("serve_load.py", "flock /tmp/sr_heavy.lock nice -n 5 .venv/bin/python"))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("model")
    g.add_argument("--checkpoint", type=Path, default=None,
                   help=f"exported first with sr-compress export (default: {DEFAULT_CKPT} under the weights folder)")
    g.add_argument("--model", type=Path, default=None, help="serve this export dir instead (skips the export)")
    g = ap.add_argument_group("server")
    g.add_argument("--tile", type=int, default=64)
    g.add_argument("--max-batch", type=int, default=4)
    g.add_argument("--queue-size", type=int, default=8)
    g.add_argument("--drain-timeout", type=float, default=10.0)
    g = ap.add_argument_group("phases")
    g.add_argument("--sat-runs", default="2:png,2:jpeg",
                   help="(a) is run for each THREADS:FORMAT (the response format the clients ask for)")
    g.add_argument("--probe-seconds", type=float, default=8.0)
    g.add_argument("--warmup", type=float, default=4.0)
    g.add_argument("--sat-seconds", type=float, default=30.0)
    g.add_argument("--clients", type=int, default=200)
    g.add_argument("--mixed-seconds", type=float, default=60.0)
    g.add_argument("--after-sigterm", type=float, default=15.0, help="load keeps running this long after SIGTERM")
    g.add_argument("--small-p99-bound", type=float, default=0.0,
                   help="seconds (b) must meet (0: 2 x (queue-size + max-batch) / bare tiles/s from (a))")
    g.add_argument("--stalled", type=int, default=150)
    g.add_argument("--stall-mib", type=int, default=18)
    g.add_argument("--hostile-seconds", type=float, default=20.0)
    g.add_argument("--rss-bound-mb", type=float, default=1024.0)
    add_run_args(ap, "serve_load", budget=False)
    ap.add_argument("--no-write", dest="no_update", action="store_true", help=argparse.SUPPRESS)  # old name
    add_data_args(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    budget = start(args)
    tmp = Path(tempfile.mkdtemp(prefix="serve_load_"))
    ckpt = args.checkpoint or shared("weights", DEFAULT_CKPT)
    export = args.model or export_with_cli(ckpt, tmp / "export")
    model = str(args.model) if args.model else f"{ckpt.name} (real pretrained weights)"
    sat = [phase_saturation(export, args, tmp, int(t), f)
           for t, f in (run.split(":") for run in args.sat_runs.split(","))]
    print("(a)", sat, flush=True)
    bare = (sat[0]["bare_tiles_per_s_before"] + sat[0]["bare_tiles_per_s_after"]) / 2
    b = phase_mixed_and_sigterm(export, args, tmp, bare)
    print("(b)/(d)", b, flush=True)
    c = phase_hostile(export, args, tmp)
    print("(c)", c, flush=True)
    write_results(args, report(args, model, sat, b, c, budget.elapsed()), {
        "saturation": sat, "mixed_and_sigterm": b, "hostile": c,
        "args": {k: str(v) for k, v in vars(args).items()}, "machine": machine_line()})


if __name__ == "__main__":
    main()
