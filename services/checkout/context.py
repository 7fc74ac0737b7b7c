"""What the checkout handlers share."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable

from aiohttp import web

from shared.aio import cancel_and_wait
from shared.events import Event, UnitOfWork, catalog
from shared.events.subscriber import Subscriber
from shared.expiring import ExpiringCache
from shared.http.app import BROKER, POOL, RELAY, TOPOLOGY
from shared.http.client import InternalClient
from shared.http.middleware import SETTINGS
from shared.logging import get_logger

log = get_logger(__name__)

CLIENT = web.AppKey("internal_client", InternalClient)
TASKS = web.AppKey("background_tasks", set)  # sandbox rail callbacks in flight


class QuoteCache:
    """Fee quotes from the fees service by (merchant, currency, amount), so a create
    with an amount seen lately needs no hop to fees.

    Bounds: an entry lives at most `ttl` seconds (NORGATE_API_KEY_CACHE_SECONDS, the
    bound on account changes reaching a create; 0 turns the cache off). A fee rule
    change (`charge.*`, heard by every replica through a broadcast subscription)
    drops every entry at once, and for `GRACE_SECONDS` after it nothing is cached,
    so a quote fees computed before it reloaded its own rules is not kept. A quote
    asked before a change and answered after it is not kept either (generation).
    After a broker (re)connection (events may have been missed) the cache is dropped.
    """

    GRACE_SECONDS = 2.0

    def __init__(self, ttl: float) -> None:
        self._entries = ExpiringCache(ttl)
        self.generation = 0
        self._quiet_until = 0.0

    async def fetch(self, key: Hashable, ask: Callable[[], Awaitable[dict]]) -> dict:
        """The cached quote, else `ask()`'s (ExpiringCache.fetch: one question for
        concurrent callers, renewed before it runs out), kept only if no rule change
        came since it was asked."""
        generation = self.generation
        return await self._entries.fetch(
            key, ask, keep=lambda: generation == self.generation
            and time.monotonic() >= self._quiet_until)

    async def close(self) -> None:
        await self._entries.close()

    def never(self) -> None:
        """Keep nothing (no events can tell of rule changes)."""
        self._entries.ttl = 0

    def invalidate(self, *, grace: bool = True) -> None:
        self.generation += 1
        self._entries.clear()
        if grace:
            self._quiet_until = time.monotonic() + self.GRACE_SECONDS

    async def on_event(self, event: Event) -> None:
        self.invalidate()
        log.info("fee_quotes_dropped", cause=event.type)

    async def on_resync(self) -> None:
        self.invalidate(grace=False)


QUOTES = web.AppKey("fee_quotes", QuoteCache)
MERCHANTS = web.AppKey("merchant_accounts", ExpiringCache)  # merchant id -> auth's account


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = InternalClient(app[SETTINGS], caller="checkout", timeout=5, retries=1)
    app[TASKS] = set()
    app[MERCHANTS] = ExpiringCache(app[SETTINGS].api_key_cache_seconds)
    quotes = QuoteCache(app[SETTINGS].api_key_cache_seconds)
    app[QUOTES] = quotes
    if app.get(BROKER) is not None:
        await Subscriber(app[BROKER], app[TOPOLOGY], keys=list(catalog.CHARGE_EVENTS),
                         on_event=quotes.on_event, on_resync=quotes.on_resync,
                         name="fee-quotes").start()
    else:  # no events to hear of rule changes: never cache
        quotes.never()
    yield
    for task in list(app[TASKS]):
        await cancel_and_wait(task)
    await app[MERCHANTS].close()
    await quotes.close()
    await app[CLIENT].close()


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="checkout", relay=request.app.get(RELAY))

