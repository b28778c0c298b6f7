"""evaluate.bench.interleaved_times: the call order that makes side-by-side latency ratios fair."""

from __future__ import annotations

from sr_compress.evaluate.bench import interleaved_times


def test_rounds_alternate_direction_after_the_warmup() -> None:
    calls: list[str] = []
    times = interleaved_times([lambda: calls.append("a"), lambda: calls.append("b"), lambda: calls.append("c")],
                              rounds=3, warmup=1)
    assert "".join(calls) == "abc" + "abc" + "cba" + "abc"
    assert [len(t) for t in times] == [3, 3, 3]
    assert all(s >= 0 for t in times for s in t)
