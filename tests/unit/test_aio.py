"""shared.aio.Coalescer: many callers' statements as one batch."""

from __future__ import annotations

import asyncio

import pytest

from shared.aio import Coalescer

# Coalescer ---------------------------------------------------------------------------

async def test_callers_arriving_together_share_one_run_and_each_get_their_result():
    runs: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        runs.append(items)
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    batcher = Coalescer(run)
    first = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert first == [0, 10, 20, 30, 40] and runs == [[0, 1, 2, 3, 4]]
    # While a run is in flight, newcomers wait and go together in the next one.
    runs.clear()
    head = asyncio.create_task(batcher.submit(100))
    await asyncio.sleep(0.001)
    rest = await asyncio.gather(*(batcher.submit(i) for i in range(3)))
    assert await head == 1000 and rest == [0, 10, 20]
    assert runs == [[100], [0, 1, 2]]


async def test_items_with_one_key_never_share_a_run():
    runs: list[list[tuple[str, int]]] = []

    async def run(items):
        runs.append(items)
        return [n for _, n in items]

    batcher = Coalescer(run, key=lambda item: item[0])
    got = await asyncio.gather(*(batcher.submit(item) for item in
                                 [("a", 1), ("b", 2), ("a", 3), ("a", 4)]))
    assert got == [1, 2, 3, 4]
    assert runs == [[("a", 1), ("b", 2)], [("a", 3)], [("a", 4)]]


async def test_errors_reach_their_callers_and_nobody_waits_forever():
    async def run(items):
        if "all" in items:
            raise RuntimeError("the statement failed")
        if "short" in items:
            return []  # a run that answers fewer items than it got
        return [ValueError(i) if i == "bad" else i for i in items]

    batcher = Coalescer(run)
    good, bad = await asyncio.gather(batcher.submit("ok"), batcher.submit("bad"),
                                     return_exceptions=True)
    assert good == "ok" and isinstance(bad, ValueError)
    results = await asyncio.gather(batcher.submit("all"), batcher.submit("x"),
                                   return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        await asyncio.wait_for(batcher.submit("short"), timeout=2)
    assert await batcher.submit("after") == "after"  # still serving


async def test_a_cancelled_caller_does_not_cancel_the_run_others_wait_on():
    done: list[int] = []

    async def run(items):
        await asyncio.sleep(0.05)
        done.extend(items)
        return items

    batcher = Coalescer(run)
    gone = asyncio.create_task(batcher.submit(1))
    stays = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0.01)
    gone.cancel()
    assert await stays == 2
    assert done == [1, 2]  # the cancelled caller's item was still written
