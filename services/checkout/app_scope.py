"""Which app (auth's `app_...`) a Prices or Triggers route is about, and whether the
caller may see it: SUPER any; ADMIN its company's; a merchant or API key its
company's apps that are its own or shared; an app-scoped key only its app. An
unknown or invisible app is a 404 "App not found".

A shared app is shared by the company's merchants, but each price and trigger on it
belongs to the merchant that made it (`merchant_id`; none for an ADMIN's on a shared
app): `Owner` is what a caller may read and change there. A MERCHANT (session or API
key) only its own merchant's, an ADMIN its company's, SUPER all; another merchant's
reads as missing (404), never as forbidden. Each price and trigger is also of one mode
(docs/modes.md), the creating principal's: every caller reaches only its own mode's, and
another mode's reads as missing too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.checkout.context import CLIENT
from shared.authz import company_scope, merchant_scope
from shared.http.client import ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.principal import Principal

APP = "App"
APP_ID = re.compile(r"^app_[A-Za-z0-9]{22}$")


def prices_time(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as the seed writes it: 2022-08-29T14:55:11.367Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Owner:
    """The prices and triggers a caller reaches: None = any (of the app in scope), and
    only those of the caller's mode."""

    company_id: int | None
    merchant_id: int | None
    livemode: bool

    def filters(self) -> dict[str, Any]:
        """The store's keyword filters (prices_store: company_id, merchant_id, livemode)."""
        return {"company_id": self.company_id, "merchant_id": self.merchant_id,
                "livemode": self.livemode}


def owner_of(who: Principal) -> Owner:
    return Owner(company_scope(who), merchant_scope(who), who.livemode)


def _visible(who: Principal, app: dict[str, Any]) -> bool:
    if who.role == "SUPER":
        return True
    if str(app.get("company_id")) != (who.company_id or ""):
        return False
    if who.app_id is not None and who.app_id != app.get("id"):
        return False  # an app-scoped key reaches its own app only
    if who.role == "ADMIN":
        return True
    owner = app.get("merchant_id")
    return who.role == "MERCHANT" and (owner is None or str(owner) == who.merchant_id)


async def app_in_scope(request: web.Request, who: Principal) -> dict[str, Any]:
    """The path's app from auth, if the caller may see it; else 404."""
    app_id = request.match_info["appId"]
    if not APP_ID.match(app_id):
        raise ApiError(Errors.NOT_FOUND, resource=APP)
    try:
        status, body = await request.app[CLIENT].request("auth", "GET",
                                                         f"/internal/apps/{app_id}")
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth") from None
    if status == 404:
        raise ApiError(Errors.NOT_FOUND, resource=APP)
    if status != 200 or not isinstance(body, dict):
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth")
    if not _visible(who, body):
        raise ApiError(Errors.NOT_FOUND, resource=APP)
    return body
