"""Cross-request micro-batching: batches form across requests, shapes never mix, full queue is 503."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from sr_compress.runtime.base import Runner, RunnerInfo
from sr_compress.serve.batching import MicroBatcher
from sr_compress.serve.limits import RequestError


class NearestX2(Runner):
    """Deterministic stand-in: nearest-neighbour x2, optionally slow; records batch shapes and threads."""

    def __init__(self, delay: float = 0.0) -> None:
        self.info = RunnerInfo(backend="fake", precision="fp32", scale=2)
        self.delay = delay
        self.shapes: list[tuple[int, ...]] = []
        self.threads: set[str] = set()

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.shapes.append(batch.shape)
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return batch.repeat(2, axis=2).repeat(2, axis=3)


def _tiles(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, size, size), dtype=np.float32)


def test_tiles_of_concurrent_requests_share_batches_and_results_stay_in_order() -> None:
    runner = NearestX2(delay=0.02)

    async def main() -> None:
        b = MicroBatcher(runner, "m", max_batch=8, max_wait_ms=50, queue_size=16)
        b.start()
        reqs = [_tiles(2, 8, s) for s in range(4)] + [_tiles(3, 12, 9)]
        outs = await asyncio.gather(*(b.submit(t) for t in reqs))
        for tiles, out in zip(reqs, outs):
            assert len(out) == len(tiles)
            for t, o in zip(tiles, out):
                np.testing.assert_array_equal(o, t.repeat(2, axis=1).repeat(2, axis=2))
        await b.drain()

    asyncio.run(main())
    # the 8 tiles of size 8 from four requests ran together; size-12 tiles never joined them
    assert (8, 3, 8, 8) in runner.shapes
    assert all(s[2] in (8, 12) and (s[2] == 8 or s[0] <= 3) for s in runner.shapes)
    assert sum(s[0] for s in runner.shapes) == 11
    assert all(name.startswith("sr-infer-m") for name in runner.threads)  # never on the event loop


def test_max_batch_one_turns_batching_off() -> None:
    runner = NearestX2()

    async def main() -> None:
        b = MicroBatcher(runner, "m", max_batch=1, max_wait_ms=20, queue_size=8)
        await asyncio.gather(*(b.submit(_tiles(2, 4, s)) for s in range(3)))
        await b.drain()

    asyncio.run(main())
    assert [s[0] for s in runner.shapes] == [1] * 6


def test_full_queue_answers_503_with_retry_after_and_drain_finishes_admitted_work() -> None:
    runner = NearestX2(delay=0.3)

    async def one(b: MicroBatcher) -> str:
        try:
            async with b.admit():
                await b.submit(_tiles(1, 4, 0))
                return "ok"
        except RequestError as err:
            assert err.status == 503 and err.headers.get("Retry-After") == "1"
            assert err.code == "shutting_down" or "queue_size=1" in err.message
            return err.code

    async def main() -> tuple[list[str], str]:
        b = MicroBatcher(runner, "m", max_batch=4, max_wait_ms=1, queue_size=1)
        b.start()
        results = await asyncio.gather(*(one(b) for _ in range(3)))
        running = asyncio.ensure_future(one(b))
        await asyncio.sleep(0.05)
        await b.drain(timeout=5)  # waits for the admitted request
        late = await one(b)
        return list(results) + [await running], late

    results, late = asyncio.run(main())
    assert results.count("ok") == 2 and results.count("queue_full") == 2
    assert late == "shutting_down"


def test_runner_failure_reaches_every_waiting_request() -> None:
    class Broken(NearestX2):
        def run(self, batch: np.ndarray) -> np.ndarray:
            raise RuntimeError("engine exploded")

    async def main() -> None:
        b = MicroBatcher(Broken(), "m", max_batch=4, max_wait_ms=5, queue_size=4)
        with pytest.raises(RuntimeError, match="engine exploded"):
            await b.submit(_tiles(3, 4, 0))
        await b.drain()

    asyncio.run(main())


def test_queue_full_retry_after_follows_the_admitted_work() -> None:
    runner = NearestX2(delay=0.05)

    async def main() -> str:
        b = MicroBatcher(runner, "m", max_batch=1, max_wait_ms=0, queue_size=1)
        await b.submit(_tiles(3, 4, 0))  # learns ~20 tiles/s
        async with b.admit(200):
            with pytest.raises(RequestError) as info:
                async with b.admit(1):
                    pass
        await b.drain()
        return info.value.headers["Retry-After"]

    retry = int(asyncio.run(main()))
    assert 3 <= retry <= 30  # ~200 tiles / ~20 tiles/s, not a fixed 1 s
