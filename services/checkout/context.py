"""What the checkout handlers share."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from shared.aio import cancel_and_wait
from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY
from shared.http.client import InternalClient
from shared.http.middleware import SETTINGS

CLIENT = web.AppKey("internal_client", InternalClient)
TASKS = web.AppKey("background_tasks", set)  # sandbox rail callbacks in flight


async def context_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = InternalClient(app[SETTINGS], caller="checkout", timeout=5, retries=1)
    app[TASKS] = set()
    yield
    for task in list(app[TASKS]):
        await cancel_and_wait(task)
    await app[CLIENT].close()


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="checkout", relay=request.app.get(RELAY))
