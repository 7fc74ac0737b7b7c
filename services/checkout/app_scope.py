"""Which app (auth's `app_...`) a Prices or Triggers route is about, and whether the
caller may see it: SUPER any; ADMIN its company's; a merchant or API key its
company's apps that are its own or shared; an app-scoped key only its app. An
unknown or invisible app is a 404 "App not found".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web

from services.checkout.context import CLIENT
from shared.http.client import ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.principal import Principal

APP = "App"
APP_ID = re.compile(r"^app_[A-Za-z0-9]{22}$")


def prices_time(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as the seed writes it: 2022-08-29T14:55:11.367Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _visible(who: Principal, app: dict) -> bool:
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


async def app_in_scope(request: web.Request, who: Principal) -> dict:
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
