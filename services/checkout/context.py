"""What the checkout handlers share."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from functools import partial

from aiohttp import web

from shared.aio import cancel_and_wait
from shared.events import Event, UnitOfWork, catalog
from shared.events.subscriber import Subscriber
from shared.expiring import ExpiringCache
from shared.http.app import BROKER, POOL, RELAY, TOPOLOGY
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS
from shared.lease import VersionLease
from shared.logging import get_logger

log = get_logger(__name__)

CLIENT = web.AppKey("internal_client", InternalClient)
TASKS = web.AppKey("background_tasks", set)  # sandbox rail callbacks in flight


class QuoteCache:
    """Fee quotes from the fees service by (merchant, currency, amount), so a create
    with an amount seen lately needs no hop to fees.

    Read-your-writes: an entry is filed under the rules' version it was quoted with,
    and served only while that version is the current one, as confirmed within the
    fee-rules lease (shared/lease.py; renewed in the background from fees'
    `/internal/rules-version` and from every quote fees answers). A charge write
    answers only after the lease has passed since its commit, so once it has answered,
    no replica serves a quote made before it. Entries also live at most `ttl` seconds
    (NORGATE_API_KEY_CACHE_SECONDS, 0 turns the cache off). A `charge.*` event (heard
    by every replica through a broadcast subscription) or a broker reconnection makes
    the next create check the version at once.
    """

    def __init__(self, ttl: float, lease_seconds: float,
                 rules_version: Callable[[], Awaitable[dict]]) -> None:
        self._entries = ExpiringCache(ttl)
        self._ask_version = rules_version
        self.rules = VersionLease(lease_seconds, self._check, name="fee-quotes")

    async def _check(self) -> tuple[int, float]:
        answer = await self._ask_version()
        return int(answer["rulesVersion"]), float(answer["rulesAge"])

    async def fetch(self, key: Hashable, ask: Callable[[], Awaitable[dict]]) -> dict:
        """The cached quote of the current rules, else `ask()`'s (ExpiringCache.fetch:
        one question for concurrent callers, renewed before it runs out)."""
        if self._entries.ttl <= 0:
            return await ask()  # nothing cached, so nothing to check
        version = await self.rules.current()

        async def load() -> dict:
            asked = time.monotonic()
            quote = await ask()
            # Fees confirmed its version `rulesAge` before it answered, and it answered
            # after we asked: a lower bound on when that version was current.
            self.rules.saw(int(quote["rulesVersion"]), asked - float(quote["rulesAge"]))
            return quote

        return await self._entries.fetch(
            (version, key), load, keep=lambda quote: int(quote["rulesVersion"]) == version)

    async def close(self) -> None:
        await self._entries.close()
        await self.rules.close()

    def never(self) -> None:
        """Keep nothing (no events can tell of rule changes)."""
        self._entries.ttl = 0

    def invalidate(self) -> None:
        self.rules.expire()
        self._entries.clear()

    async def on_event(self, event: Event) -> None:
        self.invalidate()
        log.info("fee_quotes_dropped", cause=event.type)

    async def on_resync(self) -> None:
        self.invalidate()


QUOTES = web.AppKey("fee_quotes", QuoteCache)
MERCHANTS = web.AppKey("merchant_accounts", ExpiringCache)  # merchant id -> auth's account


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = InternalClient(app[SETTINGS], caller="checkout", timeout=5, retries=1)
    app[TASKS] = set()
    app[MERCHANTS] = ExpiringCache(app[SETTINGS].api_key_cache_seconds)
    settings = app[SETTINGS]
    quotes = QuoteCache(settings.api_key_cache_seconds, settings.fee_rules_lease_seconds,
                        partial(_rules_version, app[CLIENT]))
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


async def _rules_version(client: InternalClient) -> dict:
    """Fees' current rules version (QuoteCache's lease check)."""
    try:
        status, body = await client.request("fees", "GET", "/internal/rules-version")
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="fees") from None
    if status != 200 or not isinstance(body, dict):
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="fees")
    return body


async def merchant_account_by_id(app: web.Application, merchant_id: int) -> dict:
    """A merchant's account from auth (`/internal/merchants/{id}`), kept
    NORGATE_API_KEY_CACHE_SECONDS in MERCHANTS: the bound the gateway's key cache
    already puts on an account change reaching a create. Payments and the checkout
    pages' brand (branding.py) share it. An unknown merchant, like an auth that does
    not answer, is the caller's 502 `upstream_unavailable` (nothing is cached)."""
    async def ask_auth() -> dict:
        body = await app[CLIENT].get_json("auth", f"/internal/merchants/{merchant_id}")
        if body is None:
            raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth")
        return body

    return await app[MERCHANTS].fetch(merchant_id, ask_auth)


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="checkout", relay=request.app.get(RELAY))

