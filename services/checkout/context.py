"""What the checkout handlers share: the app's resources (typed AppKeys) and their
lifetimes, and the sandbox rail's callback task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.checkout import connectors, payments
from services.checkout.domain import Payment
from services.checkout.payment_writes import Shared
from services.checkout.ports import AUTH, FEES, AuthClient, FeesClient
from shared import principal as principal_mod
from shared.aio import cancel_and_wait, every
from shared.events import UnitOfWork, catalog
from shared.events.subscriber import Subscriber
from shared.http.app import BROKER, POOL, RELAY, TOPOLOGY
from shared.http.client import InternalClient
from shared.http.middleware import SETTINGS
from shared.logging import get_logger

log = get_logger(__name__)

CLIENT = web.AppKey("internal_client", InternalClient)
# Sandbox rail callbacks in flight.
TASKS = web.AppKey("background_tasks", set[asyncio.Task[None]])
# Creates, reads by id and the API's optimistic confirms, written together.
SHARED = web.AppKey("shared_payment_writes", Shared)


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
    in_flight: set[asyncio.Task[None]] = app[TASKS]
    for task in list(in_flight):
        await cancel_and_wait(task)
    await app[AUTH].close()
    await app[FEES].close()
    await app[CLIENT].close()


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="checkout", relay=request.app.get(RELAY))



async def creates_ctx(app: web.Application) -> AsyncIterator[None]:
    app[SHARED] = Shared(app[POOL], app.get(RELAY))
    yield


async def expiry_sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    task = every(payments.SWEEP_EVERY_SECONDS,
                 lambda: payments.sweep_expired(app[POOL], app.get(RELAY)),
                 name="payment-expiry-sweep")
    yield
    await cancel_and_wait(task)


async def rail_callback(settings: object, origin: str, payment_id: str,
                        delay: float) -> None:
    """The sandbox ECOCASH rail: a moment later it calls the service back over HTTP,
    at the callback path, as the real rail does."""
    await asyncio.sleep(delay)
    headers = {principal_mod.HEADER: principal_mod.sign(
        principal_mod.Principal(kind="service", subject="ecocash-sandbox"),
        settings, audience="checkout")}  # type: ignore[arg-type]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.post(origin + payments.CALLBACK_PATH,
                                 json={"paymentId": payment_id}, headers=headers) as resp:
                if resp.status != 200:
                    log.warning("rail_callback_refused", status=resp.status,
                                payment_id=payment_id)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("rail_callback_failed", payment_id=payment_id, error=str(exc))


def follow_rail(app: web.Application, request_origin: str, payment: Payment,
                outcome: connectors.Outcome) -> None:
    """Schedule the asynchronous rail's callback, when the outcome says one comes."""
    if outcome.callback_after is None:
        return
    task = asyncio.create_task(rail_callback(app[SETTINGS], request_origin,
                                             payment.payment_id, outcome.callback_after))
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)
