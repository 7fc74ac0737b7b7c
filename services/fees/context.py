"""What the fees handlers share."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import BaseModel, Field

from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.middleware import SETTINGS
from shared.internal_answers import MerchantAccount, answer

CLIENT = web.AppKey("internal_client", InternalClient)


async def client_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = InternalClient(app[SETTINGS], caller="fees", timeout=3, retries=1)
    yield
    await app[CLIENT].close()


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="fees", relay=request.app.get(RELAY))


async def resolve_merchant(request: web.Request, user_name: str) -> MerchantAccount | None:
    """The merchant a `merchantUserName` names (via auth), or None when there is none.

    Any other answer from auth is an outage, not a missing merchant."""
    status, body = await request.app[CLIENT].request(
        "auth", "POST", "/internal/merchants/resolve", json={"merchantUserName": user_name})
    if status in (400, 404):  # a name auth cannot even look up names no merchant
        return None
    if status != 200 or not isinstance(body, dict):
        raise ServiceUnavailable("auth", f"merchant lookup answered {status}")
    return answer(MerchantAccount, body, "auth")


class Login(BaseModel):
    """auth's answer for a login that is not a merchant's (`/internal/users/resolve`)."""

    role: str
    company_id: str | None = Field(alias="companyId")


async def resolve_user(request: web.Request, email: str) -> Login | None:
    """The login an e-mail names (via auth), or None when there is none."""
    status, body = await request.app[CLIENT].request(
        "auth", "POST", "/internal/users/resolve", json={"email": email})
    if status in (400, 404):
        return None
    if status != 200 or not isinstance(body, dict):
        raise ServiceUnavailable("auth", f"user lookup answered {status}")
    return answer(Login, body, "auth")
