"""A small in-process cache whose entries expire: lookups a service may answer from
memory for a bounded time (API keys at the gateway, merchant accounts and fee quotes
in checkout)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

MISSING: Any = object()  # get()'s answer for no live entry (None may be a cached value)


class ExpiringCache:
    """Entries live `ttl` seconds (0 or less: nothing is kept); past `max_entries` the
    oldest go first."""

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

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
        self._entries.clear()
