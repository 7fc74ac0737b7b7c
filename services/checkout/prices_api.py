"""Prices (`price_...`, /prices/{app_id}, Prices envelope `{data}`): a priced ticket
of an app, with the fee breakdown (`price_item`) the fees service computes.

The app lives in auth; every route looks it up there (services/checkout/app_scope.py)
and answers 404 "App not found" when it is unknown or outside the caller's scope.
On an app the company's merchants share, a MERCHANT caller reaches only its own
merchant's prices (another's is 404 "Price not found"), an ADMIN the company's.
A price may name a trigger (services/checkout/triggers.py), convert its amount with
the operator's rate table (`currency_conversion`), and expire (`expires_at`); it is
paid on its card checkout (services/checkout/price_checkout.py), whose openings
`views` counts. A dynamic price is `expired` once paid; a static one pays many times.
A price is of its creator's mode (`livemode`, docs/modes.md): only that mode's callers
reach it (another mode's is 404 "Price not found"), it may name only a trigger of its
mode, and its link makes payments of its mode.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Literal

import asyncpg
from aiohttp import web
from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field

from services.checkout import answers, triggers
from services.checkout import prices_store as store
from services.checkout.app_scope import Owner, app_in_scope, owner_of, prices_time
from services.checkout.context import CLIENT
from shared.authz import require
from shared.crypto import base62
from shared.http.app import POOL
from shared.http.client import ServiceUnavailable
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.pagination import page_of
from shared.http.routes import Routes, delete, get, post
from shared.money import MajorInput, get_currency, parse_major, to_major_decimal
from shared.settings import Settings

PRICE = "Price"
MIN_AMOUNT = Decimal(5)
PRICE_ID = re.compile(r"^price_[A-Za-z0-9]{22}$")
APP_FIELDS = ("id", "name", "type", "status", "use_explorer", "created_at", "updated_at",
              "kyc_return_url", "app_fee")
_T = ("prices",)


def new_price_id() -> str:
    return "price_" + base62(22)


class CreatePrice(BaseModel):
    """The seed's body: amount in major units (at least 5) of `currency`."""

    model_config = ConfigDict(extra="forbid")

    amount: MajorInput
    currency: str = Field(min_length=1, max_length=5)
    type: Literal["static", "dynamic"] = "dynamic"
    name: str | None = Field(default=None, max_length=256)
    metadata: dict[str, Any] | None = None
    trigger_id: str | None = Field(default=None, max_length=256)
    trigger_data: dict[str, Any] | None = None
    kyc_id: str | None = Field(default=None, max_length=256)
    currency_conversion: CurrencyConversion | None = None
    expires_at: AwareDatetime | None = None


class CurrencyConversion(BaseModel):
    """Show the price in another currency too, at the operator's rate."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=5, validation_alias=AliasChoices("to", "currency"))


def rate(settings: Settings, base: str, quote: str) -> Decimal | None:
    """The operator's rate for one unit of `base` in `quote` (or the inverse pair's)."""
    if base == quote:
        return Decimal(1)
    if (direct := settings.fx_rates.get(f"{base}/{quote}")) is not None:
        return direct
    if (inverse := settings.fx_rates.get(f"{quote}/{base}")) is not None:
        return Decimal(1) / inverse
    return None


def convert(settings: Settings, *, amount: Decimal, currency: str, item: dict[str, Any],
            to: str) -> dict[str, Any]:
    """The `currency_conversion` shown on a price: its amount and total in `to`."""
    try:
        base, target = get_currency(currency), get_currency(to, "currency_conversion.to")
    except ValueError as exc:
        raise ApiError(Errors.VALIDATION, field="currency_conversion.to",
                       detail=f"currency_conversion.to: {exc}") from None
    found = rate(settings, base.code, target.code)
    if found is None:
        raise ApiError(Errors.VALIDATION, field="currency_conversion.to",
                       detail=f"currency_conversion.to: no exchange rate for {base.code} to "
                              f"{target.code} (the operator sets NORGATE_FX_RATES)")
    step = Decimal(1).scaleb(-target.exponent)

    def at_rate(value: Decimal | int | str) -> int | Decimal:
        # Amounts run to 78 digits: the default 28-digit context would round the product
        # and make quantize() raise (a 500).
        with localcontext() as ctx:
            ctx.prec = 200
            return _number((Decimal(str(value)) * found).quantize(step, ROUND_HALF_UP))

    return {"from": currency, "to": to.lower(), "rate": _number(found.quantize(
                Decimal("0.000001"), ROUND_HALF_UP)), "source": "operator",
            "amount": at_rate(amount), "amount_total": at_rate(item["amount_total"])}


def _number(value: Decimal) -> int | Decimal:
    """50 for 50.00, 51.7 for 51.70: a JSON number, never a float. Exact at any size:
    normalize() keeps 28 digits, and a NOR price has up to 78."""
    if value == value.to_integral_value():
        return int(value)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: a stored or computed amount
    while digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    return Decimal((sign, digits, exponent))


def expired(row: asyncpg.Record) -> bool:
    return row["expired"] or (row["expires_at"] is not None
                              and row["expires_at"] <= datetime.now(UTC))


def render(row: asyncpg.Record, app: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["price_id"], "amount": _number(row["amount"]), "currency": row["currency"],
        "currency_conversion": row["currency_conversion"], "type": row["type"],
        "kyc_id": row["kyc_id"], "metadata": row["metadata"], "deleted": row["deleted"],
        "expired": expired(row), "name": row["name"], "trigger_id": row["trigger_id"],
        "trigger_intent_id": row["trigger_intent_id"],
        "trigger_params_data_input": row["trigger_params_data_input"],
        "price_item": row["price_item"],
        "app": {name: app.get(name) for name in APP_FIELDS},
        "created_at": prices_time(row["created_at"]),
        "updated_at": prices_time(row["updated_at"]), "views": row["views"],
        "livemode": row["livemode"],  # additive, after the seed's fields
    }


async def _price_item(request: web.Request, payload: dict[str, Any]) -> dict[str, Any]:
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
    app = await app_in_scope(request, who)
    merchant_id = app.get("merchant_id") or (int(who.merchant_id) if who.merchant_id
                                             else None)
    currency = money.currency.code.lower()
    item = await _price_item(request, {
        "amount": str(amount), "currency": currency, "app_fee": str(app.get("app_fee", 0)),
        "app_type": app.get("type", "individual"), "merchantId": merchant_id})
    fields = body.model_dump(exclude={"amount", "currency", "currency_conversion"})
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise ApiError(Errors.VALIDATION, field="expires_at",
                       detail="expires_at: must be in the future")
    if body.currency_conversion is not None:
        fields["currency_conversion"] = convert(
            request.app[SETTINGS], amount=amount, currency=currency, item=item,
            to=body.currency_conversion.to)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        row = await store.insert_price(
            conn, price_id=new_price_id(), app_id=app["id"], company_id=int(app["company_id"]),
            merchant_id=merchant_id, livemode=who.livemode, amount=amount,
            currency=currency, fields=fields, price_item=item)
        if body.trigger_id is not None:  # only a trigger of the price's merchant and mode
            row = await triggers.attach(conn, app_id=app["id"], price_id=row["price_id"],
                                        merchant_id=merchant_id, livemode=who.livemode,
                                        trigger_id=body.trigger_id,
                                        trigger_data=body.trigger_data)
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
    app = await app_in_scope(request, who)
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await store.list_prices(
            conn, app["id"], **owner_of(who).filters(), include_deleted=include_deleted,
            limit=page.per_page, offset=page.offset)
    return ok(Family.PRICES, [render(r, app) for r in rows],
              pagination=page.envelope(total, total_is_estimate=estimated))


async def _in_scope(request: web.Request) -> tuple[dict[str, Any], str, Owner]:
    """The path's app (in the caller's scope), price id and the prices the caller
    reaches there; 404s otherwise."""
    who = require(request, allow_keys=True)
    app = await app_in_scope(request, who)
    price_id = request.match_info["priceId"]
    if not PRICE_ID.match(price_id):
        raise ApiError(Errors.NOT_FOUND, resource=PRICE)
    return app, price_id, owner_of(who)


def _found(row: asyncpg.Record | None) -> asyncpg.Record:
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=PRICE)
    return row


async def get_price(request: web.Request) -> web.Response:
    app, price_id, owner = await _in_scope(request)
    async with request.app[POOL].acquire() as conn:
        row = _found(await store.price(conn, app["id"], price_id, **owner.filters()))
    return ok(Family.PRICES, render(row, app))


async def delete_price(request: web.Request) -> web.Response:
    app, price_id, owner = await _in_scope(request)
    async with request.app[POOL].acquire() as conn:
        row = _found(await store.delete_price(conn, app["id"], price_id, **owner.filters()))
    return ok(Family.PRICES, render(row, app))


async def trigger_executions(request: web.Request) -> web.Response:
    app, price_id, owner = await _in_scope(request)
    async with request.app[POOL].acquire() as conn:
        row = _found(await store.price(conn, app["id"], price_id, **owner.filters()))
        rows = await store.executions(conn, row["trigger_intent_id"]) \
            if row["trigger_intent_id"] else []
    return ok(Family.PRICES, [triggers.render_execution(r) for r in rows])


ROUTES = Routes(
    post("/prices/{appId}", create_price, "Create a price (with its fee breakdown) for an app",
         _T, request=CreatePrice, status=201, response=answers.Price),
    get("/prices/{appId}", list_prices, "An app's prices, newest first "
        "(`?include_deleted=true` adds deleted ones)", _T, response=list[answers.Price]),
    get("/prices/{appId}/{priceId}", get_price, "A price (`views` counts the openings "
        "of its checkout, /checkout/prices/{priceId})", _T, response=answers.Price),
    get("/prices/{appId}/{priceId}/trigger-executions", trigger_executions, "The executions of the "
        "price's trigger, one per successful payment, with their delivery status", _T,
        response=list[answers.TriggerExecution]),
    delete("/prices/{appId}/{priceId}", delete_price, "Delete a price (soft: `deleted` true)",
           _T, response=answers.Price),
)
