"""shared.expiring.ExpiringCache.fetch: one load for concurrent callers, entries renewed
in the background before they run out, and never one served past its time."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.expiring import ExpiringCache
from tests.support.poll import poll_until


class Loader:
    """Counts its loads; each waits for `gate` when one is given."""

    def __init__(self, gate: asyncio.Event | None = None, fail: bool = False) -> None:
        self.calls = 0
        self.gate = gate
        self.fail = fail

    async def __call__(self) -> str:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("lookup failed")
        return f"value {self.calls}"


def _age(cache: ExpiringCache, key: str, seconds_left: float) -> None:
    """Make the entry run out in `seconds_left` (negative: already expired)."""
    _, value = cache._entries[key]
    cache._entries[key] = (time.monotonic() + seconds_left, value)


async def _fetched_together(cache: ExpiringCache, callers: int) -> tuple[list, Loader]:
    """`callers` fetches of one missing key, all in before its load ends."""
    gate = asyncio.Event()
    load = Loader(gate)
    waiting = [asyncio.create_task(cache.fetch("k", load)) for _ in range(callers)]
    await poll_until(lambda: load.calls == 1, what="the first load")
    gate.set()
    return await asyncio.gather(*waiting), load


async def test_concurrent_misses_share_one_load():
    cache = ExpiringCache(60)
    results, load = await _fetched_together(cache, 20)
    assert results == ["value 1"] * 20
    assert load.calls == 1
    assert await cache.fetch("k", load) == "value 1"  # kept
    assert load.calls == 1


async def test_an_entry_near_its_end_is_served_and_renewed_in_the_background():
    cache = ExpiringCache(60)
    load = Loader()
    assert await cache.fetch("k", load) == "value 1"
    _age(cache, "k", 60 * 0.2)  # in its last quarter
    # Served at once, as it is, while one load renews it.
    assert await cache.fetch("k", load) == "value 1"
    assert await cache.fetch("k", load) == "value 1"
    await poll_until(lambda: cache.get("k") == "value 2", what="the renewal")
    assert load.calls == 2  # one renewal for both reads
    assert await cache.fetch("k", load) == "value 2"
    assert load.calls == 2  # fresh again: no more loads


async def test_an_entry_past_its_time_is_never_served():
    cache = ExpiringCache(60)
    load = Loader()
    await cache.fetch("k", load)
    _age(cache, "k", -0.001)
    assert await cache.fetch("k", load) == "value 2"


async def test_a_failed_load_fails_its_waiters_and_keeps_nothing():
    cache = ExpiringCache(60)
    gate = asyncio.Event()
    failing = Loader(gate, fail=True)
    waiting = [asyncio.create_task(cache.fetch("k", failing)) for _ in range(3)]
    await poll_until(lambda: failing.calls == 1, what="the load")
    gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results), results
    assert failing.calls == 1
    assert await cache.fetch("k", Loader()) == "value 1"  # the next caller loads again


async def test_a_failed_renewal_leaves_the_entry_to_run_out():
    cache = ExpiringCache(60)
    await cache.fetch("k", Loader())
    _age(cache, "k", 5)
    failing = Loader(fail=True)
    assert await cache.fetch("k", failing) == "value 1"
    await poll_until(lambda: not cache._loading, what="the renewal to end")
    assert failing.calls == 1 and cache.get("k") == "value 1"


async def test_keep_decides_whether_a_load_is_kept():
    cache = ExpiringCache(60)
    load = Loader()
    assert await cache.fetch("k", load, keep=lambda value: value != "value 1") == "value 1"
    assert await cache.fetch("k", load) == "value 2"
    assert await cache.fetch("k", load) == "value 2"


async def test_a_cancelled_caller_does_not_cancel_the_others_load():
    cache = ExpiringCache(60)
    gate = asyncio.Event()
    load = Loader(gate)
    first = asyncio.create_task(cache.fetch("k", load))
    second = asyncio.create_task(cache.fetch("k", load))
    await poll_until(lambda: load.calls == 1, what="the load")
    first.cancel()
    gate.set()
    assert await second == "value 1"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_without_a_ttl_nothing_is_kept_but_concurrent_callers_still_share():
    cache = ExpiringCache(0)
    results, load = await _fetched_together(cache, 2)
    assert results == ["value 1", "value 1"] and load.calls == 1
    again = Loader()
    assert await cache.fetch("k", again) == "value 1" and again.calls == 1  # nothing kept


async def test_close_stops_the_loads_in_flight():
    cache = ExpiringCache(60)
    waiting = asyncio.create_task(cache.fetch("k", Loader(asyncio.Event())))
    await poll_until(lambda: cache._loading, what="the load")
    await cache.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_after_clear_a_fetch_loads_afresh_instead_of_joining_an_older_load():
    cache = ExpiringCache(60)
    old_gate = asyncio.Event()
    before = asyncio.create_task(cache.fetch("k", Loader(old_gate)))
    await poll_until(lambda: cache._loading, what="the older load")
    cache.clear()  # e.g. a fee rule changed meanwhile
    fresh = Loader()
    # Its own load, answered while the older one still waits.
    assert await asyncio.wait_for(cache.fetch("k", fresh), 5) == "value 1"
    assert fresh.calls == 1 and not before.done()
    old_gate.set()
    assert await before == "value 1"
    await cache.close()
