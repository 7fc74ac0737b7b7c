"""A small in-process cache whose entries expire: lookups a service may answer from
memory for a bounded time (API keys at the gateway, merchant accounts and fee quotes
in checkout)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

MISSING: Any = object()  # get()'s answer for no live entry (None may be a cached value)

# An entry in the last quarter of its life is renewed in the background (fetch).
RENEW_AFTER = 0.75


class ExpiringCache:
    """Entries live `ttl` seconds (0 or less: nothing is kept); past `max_entries` the
    oldest go first.

    `fetch` is the way to use it: a missing entry is loaded once for every caller that
    asks for it meanwhile, and one read in the last quarter of its life is served as it
    is while one load in the background renews it. Under steady traffic an entry is then
    never missing, so no request waits for a lookup (a lookup in line made the slowest
    creates), and still none is served past its `ttl`: the bound on how long a change
    (a revoked key) takes to show stays the same.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Task[Any]] = {}  # what a fetch may join
        self._tasks: set[asyncio.Task[Any]] = set()  # every load running, for close()

    def get(self, key: Hashable) -> Any:
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return MISSING
        return hit[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry, and the loads in flight too: a fetch from now on loads
        afresh rather than join one that started before."""
        self._entries.clear()
        self._loading.clear()

    async def fetch(self, key: Hashable, load: Callable[[], Awaitable[Any]], *,
                    keep: Callable[[Any], bool] | None = None) -> Any:
        """The live entry for `key`, else what `load()` gives (kept unless `keep(value)`,
        asked when the load ends, says no). A load's exception reaches the callers
        waiting for it and nothing is kept."""
        hit = self._entries.get(key)
        if hit is not None:
            left = hit[0] - time.monotonic()
            if left > 0:
                if left < self.ttl * (1 - RENEW_AFTER) and key not in self._loading:
                    self._load(key, load, keep)
                return hit[1]
        task = self._loading.get(key) or self._load(key, load, keep)
        # Shielded: a caller that is cancelled does not cancel the others' load.
        return await asyncio.shield(task)

    def _load(self, key: Hashable, load: Callable[[], Awaitable[Any]],
              keep: Callable[[Any], bool] | None) -> asyncio.Task[Any]:
        async def run() -> Any:
            try:
                value = await load()
            finally:
                if self._loading.get(key) is task:  # not forgotten by clear()
                    del self._loading[key]
            if keep is None or keep(value):
                self.put(key, value)
            return value

        task = asyncio.get_running_loop().create_task(run(), name="cache-load")
        self._loading[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        # A renewal nobody waits for may fail: the entry then just runs out.
        task.cancelled() or task.exception()

    async def close(self) -> None:
        """Stop the loads in flight (at shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
