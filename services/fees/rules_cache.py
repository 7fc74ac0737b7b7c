"""Charge rules held in memory, so a quote needs no database round trip.

Read-your-writes across replicas (shared/lease.py): a quote is answered from the cache
only while its rules' version was confirmed against the database by a check that started
less than NORGATE_FEE_RULES_LEASE_SECONDS ago (renewed in the background, so a quote
does not wait for it under steady traffic), and a charge write answers its 2xx only once
that lease has passed since its commit. Once a write has answered, every fees replica's
next quote, and every checkout replica's (context.QuoteCache holds the same lease over
fees' answers), uses it.

The `charge.created|updated|deleted` events (a broadcast subscription every replica
hears) and every broker reconnection make a replica check at once, off the quote path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from services.fees import store
from services.fees.domain import Rule
from shared.events import Event, catalog
from shared.events.subscriber import Subscriber
from shared.http.app import BROKER, POOL, TOPOLOGY
from shared.http.middleware import SETTINGS
from shared.lease import VersionLease
from shared.logging import get_logger

log = get_logger(__name__)


class RuleCache:
    def __init__(self, pool: asyncpg.Pool, lease_seconds: float):
        self._pool = pool
        self.rules: list[Rule] = []
        self._by_key: dict[tuple[str, str], list[Rule]] = {}
        self.lease = VersionLease(lease_seconds, self._check, name="fee-rules")
        self._lock = asyncio.Lock()

    @property
    def version(self) -> int:
        return self.lease.version or 0

    async def _check(self) -> tuple[int, float]:
        """The database's version; the rules are reloaded first when it moved."""
        async with self._pool.acquire() as conn:
            version = await store.rules_version(conn)
            if version != self.lease.version:
                async with self._lock:
                    version, rules = await store.load_rules(conn)
                    by_key: dict[tuple[str, str], list[Rule]] = {}
                    for rule in rules:
                        by_key.setdefault((rule.currency, rule.category), []).append(rule)
                    # Swapped whole: a quote never sees a half-built list.
                    self.rules, self._by_key = rules, by_key
                    log.info("fee_rules_loaded", rules=len(rules), version=version)
        return version, 0.0

    async def current(self) -> None:
        """Before a quote: the cache holds every rule written before this call began."""
        await self.lease.current()

    def candidates(self, currency: str, category: str) -> list[Rule]:
        """The rules of one currency and category (the engine filters the rest)."""
        return self._by_key.get((currency, category), [])

    async def written(self) -> None:
        """After a rule write commits: this replica reloads at once, and the write's
        answer waits out the lease, by which time every replica's next quote has it."""
        committed = time.monotonic()
        await self.lease.refresh()
        # A little over the lease: the margin covers the reading of the clocks.
        await asyncio.sleep(max(0.0, self.lease.lease + 0.01 - (time.monotonic() - committed)))

    async def on_event(self, event: Event) -> None:
        await self.lease.refresh()
        log.info("fee_rules_checked", cause=event.type, version=self.version)

    async def on_resync(self) -> None:
        await self.lease.refresh()


RULES = web.AppKey("rules", RuleCache)


async def rules_ctx(app: web.Application) -> AsyncIterator[None]:
    cache = RuleCache(app[POOL], app[SETTINGS].fee_rules_lease_seconds)
    await cache.lease.refresh()
    app[RULES] = cache
    await Subscriber(app[BROKER], app[TOPOLOGY], keys=list(catalog.CHARGE_EVENTS),
                     on_event=cache.on_event, on_resync=cache.on_resync,
                     name="fee-rules").start()
    yield
    await cache.lease.close()
