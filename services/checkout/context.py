"""What the checkout handlers share."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.checkout.ports import AUTH, FEES, AuthClient, FeesClient
from shared.aio import cancel_and_wait
from shared.events import UnitOfWork, catalog
from shared.events.subscriber import Subscriber
from shared.http.app import BROKER, POOL, RELAY, TOPOLOGY
from shared.http.client import InternalClient
from shared.http.middleware import SETTINGS
from shared.logging import get_logger

log = get_logger(__name__)

CLIENT = web.AppKey("internal_client", InternalClient)
TASKS = web.AppKey("background_tasks", set)  # sandbox rail callbacks in flight


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = InternalClient(app[SETTINGS], caller="checkout", timeout=5, retries=1)
    app[TASKS] = set()
    settings = app[SETTINGS]
    app[AUTH] = AuthClient(app[CLIENT], settings.api_key_cache_seconds)
    app[FEES] = FeesClient(app[CLIENT], settings.api_key_cache_seconds,
                           settings.fee_rules_lease_seconds)
    quotes = app[FEES].cache
    if app.get(BROKER) is not None:
        await Subscriber(app[BROKER], app[TOPOLOGY], keys=list(catalog.CHARGE_EVENTS),
                         on_event=quotes.on_event, on_resync=quotes.on_resync,
                         name="fee-quotes").start()
    else:  # no events to hear of rule changes: never cache
        quotes.never()
    yield
    for task in list(app[TASKS]):
        await cancel_and_wait(task)
    await app[AUTH].close()
    await app[FEES].close()
    await app[CLIENT].close()


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="checkout", relay=request.app.get(RELAY))

