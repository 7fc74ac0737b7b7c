"""Charge rules held in memory, so a quote needs no database round trip.

Loaded at start-up; reloaded when any replica changes a rule (the
`charge.created|updated|deleted` events reach every replica through a
broadcast subscription), after every broker reconnection (events may have
been missed), and every minute as a last safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from services.fees import store
from services.fees.domain import Rule
from shared.aio import cancel_and_wait, every
from shared.events import Event, catalog
from shared.events.subscriber import Subscriber
from shared.http.app import BROKER, POOL, TOPOLOGY
from shared.logging import get_logger

log = get_logger(__name__)
SAFETY_RELOAD_SECONDS = 60


class RuleCache:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool
        self.rules: list[Rule] = []
        self._by_key: dict[tuple[str, str], list[Rule]] = {}
        self.version = 0
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        async with self._lock:
            async with self._pool.acquire() as conn:
                rules = await store.load_rules(conn)
            by_key: dict[tuple[str, str], list[Rule]] = {}
            for rule in rules:
                by_key.setdefault((rule.currency, rule.category), []).append(rule)
            # Swapped whole: a quote never sees a half-built list.
            self.rules, self._by_key = rules, by_key
            self.version += 1

    def candidates(self, currency: str, category: str) -> list[Rule]:
        """The rules of one currency and category (the engine filters the rest)."""
        return self._by_key.get((currency, category), [])

    async def on_event(self, event: Event) -> None:
        await self.reload()
        log.info("fee_rules_reloaded", cause=event.type, rules=len(self.rules),
                 version=self.version)


RULES = web.AppKey("rules", RuleCache)


async def rules_ctx(app: web.Application) -> AsyncIterator[None]:
    cache = RuleCache(app[POOL])
    await cache.reload()
    app[RULES] = cache
    subscriber = Subscriber(app[BROKER], app[TOPOLOGY], keys=list(catalog.CHARGE_EVENTS),
                            on_event=cache.on_event, on_resync=cache.reload, name="fee-rules")
    await subscriber.start()

    task = every(SAFETY_RELOAD_SECONDS, cache.reload, name="fee-rules-reload")
    yield
    await cancel_and_wait(task)
