"""What the fees handlers share."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.middleware import SETTINGS

CLIENT = web.AppKey("internal_client", InternalClient)


async def client_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = InternalClient(app[SETTINGS], caller="fees", timeout=3, retries=1)
    yield
    await app[CLIENT].close()


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="fees", relay=request.app.get(RELAY))


async def resolve_merchant(request: web.Request, user_name: str) -> dict | None:
    """The merchant a `merchantUserName` names (via auth), or None when there is none.

    Any other answer from auth is an outage, not a missing merchant."""
    status, body = await request.app[CLIENT].request(
        "auth", "POST", "/internal/merchants/resolve", json={"merchantUserName": user_name})
    if status in (400, 404):  # a name auth cannot even look up names no merchant
        return None
    if status != 200 or not isinstance(body, dict):
        raise ServiceUnavailable("auth", f"merchant lookup answered {status}")
    return body
