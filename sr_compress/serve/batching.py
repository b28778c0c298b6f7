"""Cross-request micro-batching of equal-sized tiles, with inference off the event loop.

Requests cut their images into tiles of one fixed size (``runtime/tiling.py``) and hand them to
the model's :class:`MicroBatcher`. One collector task per model takes the first waiting tile,
then keeps taking tiles of the SAME shape until ``max_batch`` tiles are gathered or ``max_wait``
has passed, and runs them as one batch in the model's single worker thread (a ``Runner`` may
only be used by one thread at a time, and the event loop must never block on inference).

Admission is per request: at most ``queue_size`` requests may be waiting or running per model;
the next one is refused at once with 503 + Retry-After instead of queueing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..runtime.base import Runner
from .limits import RequestError
from .metrics import ServerMetrics


@dataclass
class _Item:
    tile: np.ndarray  # (C, h, w) float32
    future: asyncio.Future[np.ndarray]


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
    ) -> None:
        if max_batch < 1 or queue_size < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and queue_size must be >= 1 and max_wait_ms >= 0")
        self.runner = runner
        self.name = name
        # never exceed what the engine accepts (TensorRT profiles, static batch)
        self.max_batch = max(1, min(max_batch, int(runner.info.max_batch or max_batch)))
        self.max_wait = max_wait_ms / 1000.0
        self.queue_size = queue_size
        self.metrics = metrics
        self.retry_after_s = retry_after_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._pending: deque[_Item] = deque()  # taken from the queue but of another shape
        self._admitted = 0
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sr-infer-{name}")
        self._idle = asyncio.Event()
        self._idle.set()
        self.batches_run = 0
        self.tiles_run = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._collect(), name=f"batcher-{self.name}")

    async def drain(self, timeout: float = 30.0) -> None:
        """Refuse new requests, let admitted ones finish, then stop the collector and the thread."""
        self._closing = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for item in list(self._pending) + [self._queue.get_nowait() for _ in range(self._queue.qsize())]:
            if not item.future.done():
                item.future.set_exception(RequestError(503, "shutting_down", "server is shutting down"))
        self._pending.clear()
        self._executor.shutdown(wait=True)

    @property
    def admitted(self) -> int:
        return self._admitted

    # -- request side ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one of ``queue_size`` request slots, or raise 503 when none is free."""
        if self._closing:
            raise RequestError(503, "shutting_down", "server is shutting down; retry on another replica",
                               {"Retry-After": str(self.retry_after_s)})
        if self._admitted >= self.queue_size:
            raise RequestError(
                503, "queue_full",
                f"model {self.name!r} has {self._admitted} requests queued or running; the limit is "
                f"queue_size={self.queue_size} (sr-serve --queue-size); retry later",
                {"Retry-After": str(self.retry_after_s)},
            )
        self._admitted += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._admitted -= 1
            if self._admitted == 0:
                self._idle.set()

    async def submit(self, tiles: np.ndarray) -> list[np.ndarray]:
        """Queue (N, C, h, w) tiles and wait for their SR tiles (same order)."""
        if self._task is None:
            self.start()
        loop = asyncio.get_running_loop()
        items = [_Item(np.ascontiguousarray(t, dtype=np.float32), loop.create_future()) for t in tiles]
        for it in items:
            self._queue.put_nowait(it)
        self._report_depth()
        return list(await asyncio.gather(*(it.future for it in items)))

    # -- collector ---------------------------------------------------------------------------
    def _report_depth(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(self._queue.qsize() + len(self._pending), model=self.name)

    async def _next(self) -> _Item:
        if self._pending:
            return self._pending.popleft()
        return await self._queue.get()

    async def _gather_batch(self) -> list[_Item]:
        first = await self._next()
        shape = first.tile.shape
        batch = [first]
        # same-shaped tiles already set aside come first, in arrival order
        keep: deque[_Item] = deque()
        while self._pending and len(batch) < self.max_batch:
            it = self._pending.popleft()
            (batch if it.tile.shape == shape else keep).append(it)
        self._pending.extendleft(reversed(keep))
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                it = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    it = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            if it.tile.shape == shape:
                batch.append(it)
            else:
                self._pending.append(it)
                if len(self._pending) >= 4 * self.max_batch:
                    break  # many shapes waiting: serve what we have rather than hoard
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
            try:
                y = await loop.run_in_executor(self._executor, self._infer, x)
                if y.shape[0] != len(batch):
                    raise RuntimeError(f"runner returned {y.shape[0]} outputs for a batch of {len(batch)}")
            except Exception as err:  # noqa: BLE001 - delivered to every waiting request
                for it in batch:
                    if not it.future.done():
                        it.future.set_exception(err)
                continue
            self.batches_run += 1
            self.tiles_run += len(batch)
            if self.metrics is not None:
                self.metrics.tiles.inc(len(batch), model=self.name)
                self.metrics.batches.observe(len(batch), model=self.name)
            for it, out in zip(batch, y):
                if not it.future.done():
                    it.future.set_result(out)
