"""Cross-request micro-batching of equal-sized tiles, fair between requests, with inference off the event loop.

Requests cut their images into tiles of one fixed size (``runtime/tiling.py``) and hand them to
the model's :class:`MicroBatcher`. One collector task per model fills each batch ROUND-ROBIN over
the waiting requests (one tile from each request whose next tile has the batch's shape, then
again), so a 64² request sent while a 1440² one runs waits for about one batch, not for the whole
large image. It waits up to ``max_wait`` for more tiles when a batch is not full, then runs it in
the model's single worker thread (a ``Runner`` may only be used by one thread at a time, and the
event loop must never block on inference).

A request that is cancelled (its client disconnected, or the server aborts it) has its queued
tiles dropped at once; only a batch already running finishes.

Admission is per request: at most ``queue_size`` requests and ``max_queued_tiles`` tiles may be
waiting or running per model; the next one is refused at once with 503 + Retry-After instead of
queueing without bound. Shutdown (:meth:`begin_drain`) refuses new requests, answers requests
none of whose tiles has run yet with 503 ``shutting_down`` and lets the started ones finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..runtime.base import Runner
from .limits import RequestError
from .metrics import ServerMetrics


@dataclass(eq=False)  # identity: requests are found in the line by `is`, not by value
class _Item:
    tile: np.ndarray  # (C, h, w) float32
    future: asyncio.Future[np.ndarray]


@dataclass(eq=False)
class _Request:
    items: deque[_Item] = field(default_factory=deque)
    started: bool = False  # some tile of it has been sent to the model


class MicroBatcher:
    """Batches tiles of concurrent requests for one model. Create and use inside one event loop."""

    def __init__(
        self,
        runner: Runner,
        name: str,
        max_batch: int = 8,
        max_wait_ms: float = 5.0,
        queue_size: int = 64,
        metrics: ServerMetrics | None = None,
        retry_after_s: int = 1,
        max_queued_tiles: int | None = None,
    ) -> None:
        if max_batch < 1 or queue_size < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and queue_size must be >= 1 and max_wait_ms >= 0")
        self.runner = runner
        self.name = name
        # never exceed what the engine accepts (TensorRT profiles, static batch)
        self.max_batch = max(1, min(max_batch, int(runner.info.max_batch or max_batch)))
        self.max_wait = max_wait_ms / 1000.0
        self.queue_size = queue_size
        self.max_queued_tiles = max_queued_tiles
        self.metrics = metrics
        self.retry_after_s = retry_after_s
        self._rr: deque[_Request] = deque()  # requests with tiles waiting, in round-robin order
        self._wake = asyncio.Event()
        self._admitted = 0
        self._admitted_tiles = 0
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sr-infer-{name}")
        self._idle = asyncio.Event()
        self._idle.set()
        self.batches_run = 0
        self.tiles_run = 0
        self._rate: float | None = None  # tiles/s, moving average over recent batches

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._collect(), name=f"batcher-{self.name}")

    def _shutting_down(self) -> RequestError:
        return RequestError(503, "shutting_down", "server is shutting down; retry on another replica",
                            {"Retry-After": str(self.retry_after_s)})

    def begin_drain(self) -> None:
        """Refuse new work; answer requests none of whose tiles ran yet with 503; started ones finish."""
        self._closing = True
        for req in [r for r in self._rr if not r.started]:
            self._fail(req, self._shutting_down())
        self._report_depth()

    def abort_all(self) -> None:
        """Answer every request still waiting for tiles with 503 (the drain deadline has come)."""
        self._closing = True
        for req in list(self._rr):
            self._fail(req, self._shutting_down())
        self._report_depth()

    async def drain(self, timeout: float = 30.0) -> None:
        """Refuse new requests, let admitted ones finish, then stop the collector and the thread."""
        self.begin_drain()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        self.abort_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._executor.shutdown(wait=True)

    @property
    def admitted(self) -> int:
        return self._admitted

    # -- request side ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def admit(self, n_tiles: int = 1) -> AsyncIterator[None]:
        """Hold one of ``queue_size`` request slots and ``n_tiles`` of the tile budget, or raise 503."""
        if self._closing:
            raise self._shutting_down()
        over_tiles = (self.max_queued_tiles is not None and self._admitted > 0
                      and self._admitted_tiles + n_tiles > self.max_queued_tiles)
        if self._admitted >= self.queue_size or over_tiles:
            what = (f"{self._admitted} requests queued or running; the limit is queue_size={self.queue_size} "
                    "(sr-serve --queue-size)") if not over_tiles else (
                    f"{self._admitted_tiles} tiles queued or running and this request needs {n_tiles}; the limit "
                    f"is max_queued_tiles={self.max_queued_tiles} (sr-serve --max-queued-tiles)")
            raise RequestError(503, "queue_full", f"model {self.name!r} has {what}; retry later",
                               {"Retry-After": str(self.retry_after())})
        self._admitted += 1
        self._admitted_tiles += n_tiles
        self._idle.clear()
        try:
            yield
        finally:
            self._admitted -= 1
            self._admitted_tiles -= n_tiles
            if self._admitted == 0:
                self._idle.set()

    def retry_after(self) -> int:
        """Seconds until the admitted tiles are likely done (at least ``retry_after_s``, at most 30).

        A fixed 1 s makes hundreds of refused clients come back every second and spend the CPU the
        model needs on 503s; the estimate spreads them over the time the queue needs.
        """
        if not self._rate:
            return self.retry_after_s
        return int(min(30, max(self.retry_after_s, np.ceil(self._admitted_tiles / self._rate))))

    async def submit(self, tiles: np.ndarray) -> list[np.ndarray]:
        """Queue (N, C, h, w) tiles and wait for their SR tiles (same order).

        Cancelling the caller drops the tiles not yet sent to the model.
        """
        if self._closing:
            raise self._shutting_down()
        if self._task is None:
            self.start()
        loop = asyncio.get_running_loop()
        req = _Request(deque(_Item(np.ascontiguousarray(t, dtype=np.float32), loop.create_future()) for t in tiles))
        futures = [it.future for it in req.items]
        if req.items:
            self._rr.append(req)
            self._wake.set()
        self._report_depth()
        try:
            return list(await asyncio.gather(*futures))
        finally:
            # cancelled or failed: its remaining tiles must not use the model
            self._remove(req)
            for f in futures:
                f.cancel()

    # -- collector ---------------------------------------------------------------------------
    def _remove(self, req: _Request) -> None:
        with contextlib.suppress(ValueError):
            self._rr.remove(req)
        req.items.clear()
        self._report_depth()

    def _fail(self, req: _Request, err: Exception) -> None:
        for it in req.items:
            if not it.future.done():
                it.future.set_exception(err)
        self._remove(req)

    def _report_depth(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.labels(model=self.name).set(sum(len(r.items) for r in self._rr))

    def _take(self, batch: list[_Item], shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """Add tiles round-robin (one per request per pass); requests served go to the back of the line."""
        served: list[_Request] = []
        progressed = True
        while len(batch) < self.max_batch and progressed:
            progressed = False
            for req in self._rr:
                if len(batch) >= self.max_batch:
                    break
                if not req.items:
                    continue
                head = req.items[0]
                if shape is None:
                    shape = head.tile.shape
                if head.tile.shape != shape:
                    continue
                batch.append(req.items.popleft())
                req.started = True
                if req not in served:
                    served.append(req)
                progressed = True
        if served:
            rest = [r for r in self._rr if r not in served]
            self._rr = deque(r for r in rest + served if r.items)
        return shape

    async def _gather_batch(self) -> list[_Item]:
        while not self._rr:
            self._wake.clear()
            await self._wake.wait()
        batch: list[_Item] = []
        shape = self._take(batch, None)
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                break
            shape = self._take(batch, shape)
        return batch

    def _infer(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.runner.run(x), dtype=np.float32)

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather_batch()
            batch = [it for it in batch if not it.future.done()]  # cancelled requests
            self._report_depth()
            if not batch:
                continue
            x = np.stack([it.tile for it in batch])
            t0 = time.perf_counter()
            try:
                y = await loop.run_in_executor(self._executor, self._infer, x)
                if y.shape[0] != len(batch):
                    raise RuntimeError(f"runner returned {y.shape[0]} outputs for a batch of {len(batch)}")
            except Exception as err:  # noqa: BLE001 - delivered to every waiting request
                for it in batch:
                    if not it.future.done():
                        it.future.set_exception(err)
                continue
            rate = len(batch) / max(1e-6, time.perf_counter() - t0)
            self._rate = rate if self._rate is None else 0.8 * self._rate + 0.2 * rate
            self.batches_run += 1
            self.tiles_run += len(batch)
            if self.metrics is not None:
                self.metrics.tiles.labels(model=self.name).inc(len(batch))
                self.metrics.batches.labels(model=self.name).observe(len(batch))
            for it, out in zip(batch, y):
                if not it.future.done():
                    it.future.set_result(out)
