"""Prices (`price_...`, /prices/{app_id}, Prices envelope `{data}`): a priced ticket
of an app, with the fee breakdown (`price_item`) the fees service computes.

The app lives in auth; every route looks it up there and answers 404 "App not
found" when it is unknown or outside the caller's scope (SUPER any, ADMIN its
company, a merchant or API key its company's apps that are its own or shared,
an app-scoped key only its app).
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.checkout import prices_store as store
from services.checkout.context import CLIENT
from shared.authz import require
from shared.http.app import POOL
from shared.http.client import ServiceUnavailable
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import read_json
from shared.http.openapi import RouteDoc
from shared.http.pagination import page_of
from shared.money import parse_major, to_major_decimal
from shared.principal import Principal

APP = "App"
PRICE = "Price"
MIN_AMOUNT = Decimal(5)
APP_ID = re.compile(r"^app_[A-Za-z0-9]{22}$")
PRICE_ID = re.compile(r"^price_[A-Za-z0-9]{22}$")
APP_FIELDS = ("id", "name", "type", "status", "use_explorer", "created_at", "updated_at",
              "kyc_return_url", "app_fee")
_BASE62 = string.digits + string.ascii_letters
_T = ("prices",)


def new_price_id() -> str:
    return "price_" + "".join(secrets.choice(_BASE62) for _ in range(22))


class CreatePrice(BaseModel):
    """The seed's body: amount in major units (at least 5) of `currency`."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal | int | str
    currency: str = Field(min_length=1, max_length=5)
    type: Literal["static", "dynamic"] = "dynamic"
    name: str | None = Field(default=None, max_length=256)
    metadata: dict[str, Any] | None = None
    trigger_id: str | None = Field(default=None, max_length=256)
    trigger_data: dict[str, Any] | None = None
    kyc_id: str | None = Field(default=None, max_length=256)
    currency_conversion: dict[str, Any] | None = None


def prices_time(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as the seed writes it: 2022-08-29T14:55:11.367Z."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _number(value: Decimal) -> int | Decimal:
    """50 for 50.00, 51.7 for 51.70: a JSON number, never a float."""
    return int(value) if value == value.to_integral_value() else value.normalize()


def render(row, app: dict) -> dict:
    return {
        "id": row["price_id"], "amount": _number(row["amount"]), "currency": row["currency"],
        "currency_conversion": row["currency_conversion"], "type": row["type"],
        "kyc_id": row["kyc_id"], "metadata": row["metadata"], "deleted": row["deleted"],
        "expired": row["expired"], "name": row["name"], "trigger_id": row["trigger_id"],
        "trigger_intent_id": row["trigger_intent_id"],
        "trigger_params_data_input": row["trigger_params_data_input"],
        "price_item": row["price_item"],
        "app": {name: app.get(name) for name in APP_FIELDS},
        "created_at": prices_time(row["created_at"]),
        "updated_at": prices_time(row["updated_at"]), "views": row["views"],
    }


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


async def _app(request: web.Request, who: Principal) -> dict:
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


async def _price_item(request: web.Request, payload: dict) -> dict:
    try:
        status, body = await request.app[CLIENT].request("fees", "POST",
                                                         "/internal/price-items", json=payload)
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="fees") from None
    if status == 400 and isinstance(body, dict):
        problem = body.get("error") or {}
        raise ApiError(Errors.VALIDATION, field=problem.get("field") or "amount",
                       detail=problem.get("message") or "amount: invalid")
    if status != 200 or not isinstance(body, dict):
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="fees")
    return body


async def create_price(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, CreatePrice)
    money = parse_major(body.amount, body.currency)
    amount = to_major_decimal(money)
    if amount < MIN_AMOUNT:
        raise ApiError(Errors.PRICE_AMOUNT_TOO_LOW, field="amount", minimum=MIN_AMOUNT)
    app = await _app(request, who)
    merchant_id = app.get("merchant_id") or (int(who.merchant_id) if who.merchant_id
                                             else None)
    currency = money.currency.code.lower()
    item = await _price_item(request, {
        "amount": str(amount), "currency": currency, "app_fee": str(app.get("app_fee", 0)),
        "app_type": app.get("type", "individual"), "merchantId": merchant_id})
    fields = body.model_dump(exclude={"amount", "currency"})
    async with request.app[POOL].acquire() as conn:
        row = await store.insert_price(
            conn, price_id=new_price_id(), app_id=app["id"], company_id=int(app["company_id"]),
            merchant_id=merchant_id, amount=amount, currency=currency, fields=fields,
            price_item=item)
    return ok(Family.PRICES, render(row, app), status=201)


def _include_deleted(request: web.Request) -> bool:
    raw = request.query.get("include_deleted", "false").lower()
    if raw not in ("true", "false", "1", "0", ""):
        raise ApiError(Errors.VALIDATION, field="include_deleted",
                       detail="include_deleted: must be true or false")
    return raw in ("true", "1")


async def list_prices(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    page = page_of(request)
    include_deleted = _include_deleted(request)
    app = await _app(request, who)
    async with request.app[POOL].acquire() as conn:
        rows, total = await store.list_prices(conn, app["id"], include_deleted=include_deleted,
                                              limit=page.per_page, offset=page.offset)
    return ok(Family.PRICES, [render(r, app) for r in rows], pagination=page.envelope(total))


def _price_id(request: web.Request) -> str:
    price_id = request.match_info["priceId"]
    if not PRICE_ID.match(price_id):
        raise ApiError(Errors.NOT_FOUND, resource=PRICE)
    return price_id


async def get_price(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    app = await _app(request, who)
    price_id = _price_id(request)
    async with request.app[POOL].acquire() as conn:
        row = await store.view_price(conn, app["id"], price_id)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=PRICE)
    return ok(Family.PRICES, render(row, app))


async def delete_price(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    app = await _app(request, who)
    price_id = _price_id(request)
    async with request.app[POOL].acquire() as conn:
        row = await store.delete_price(conn, app["id"], price_id)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=PRICE)
    return ok(Family.PRICES, render(row, app))


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/prices/{appId}", create_price)
    app.router.add_get("/prices/{appId}", list_prices)
    app.router.add_get("/prices/{appId}/{priceId}", get_price)
    app.router.add_delete("/prices/{appId}/{priceId}", delete_price)


DOCS = [
    RouteDoc("POST", "/prices/{appId}", "Create a price (with its fee breakdown) for an app",
             _T, request=CreatePrice, status=201),
    RouteDoc("GET", "/prices/{appId}", "An app's prices, newest first "
             "(`?include_deleted=true` adds deleted ones)", _T),
    RouteDoc("GET", "/prices/{appId}/{priceId}", "A price (counts a view)", _T),
    RouteDoc("DELETE", "/prices/{appId}/{priceId}", "Delete a price (soft: `deleted` true)",
             _T),
]
