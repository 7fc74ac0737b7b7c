"""The embedded checkout: checkout.js, its frame script, and the widget's API.

  GET  /v1/checkout.js                  the current release (cached 5 minutes)
  GET  /v1/{version}/checkout.js        a pinned release, e.g. /v1/1.0.0/checkout.js
                                        (immutable, cached for a year)
  GET  /v1/checkout-frame.js            the script of an embedded checkout page
  GET  /v1/checkout-card.js             card entry on the checkout pages (grouping,
                                        brand, MM / YY, checks before submit)
  GET  /v1/checkout-wait.js             the phone step's quiet wait (fetches the page
                                        again, opens it once the payment moved on)
  POST /v1/widget/payments?key=nk_pub_  create a payment from the merchant's page
  GET  /v1/widget/payments/{id}?key=    read it back (status, for onSuccess/onCancel)

The gateway lets only a publishable key reach /v1/widget/, and only from one of
its allowed origins (services/gateway/cors.py), then forwards the Origin it
checked; the embed link of a new payment is signed for that origin
(pages.embed_query). The amount comes from the merchant's page, where a buyer can
change it: merchants check the paid amount server-side before they deliver.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field

from services.checkout import answers, domain, payments, store
from services.checkout.context import SHARED
from services.checkout.domain import Payment
from services.checkout.pages import embed_query
from services.checkout.payments import units
from services.checkout.payments_api import prepare_create
from services.checkout.ports import AUTH, FEES
from services.checkout.use_cases import create as create_uc
from shared.authz import require
from shared.http.app import POOL, RELAY
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.openapi import PUBLIC, PUBLISHABLE_KEY
from shared.http.routes import Routes, route
from shared.principal import Principal

VERSION = "1.0.0"  # must match `VERSION` in static/checkout.js
STATIC = Path(__file__).parent / "static"
PAYMENT = "Payment"
_ORIGIN = re.compile(r"^https?://[^/\s?#@]+$")


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str

    @classmethod
    def load(cls, name: str) -> Asset:
        body = (STATIC / name).read_bytes()
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


ASSETS = {name: Asset.load(name)
          for name in ("checkout.js", "checkout-frame.js", "checkout-card.js",
                       "checkout-wait.js")}
LATEST_CACHE = "public, max-age=300"
PINNED_CACHE = "public, max-age=31536000, immutable"


def _script(request: web.Request, asset: Asset, cache: str) -> web.Response:
    headers = {"Cache-Control": cache, "ETag": asset.etag,
               "X-Content-Type-Options": "nosniff",
               # Merchant pages load it from another origin.
               "Cross-Origin-Resource-Policy": "cross-origin",
               "Access-Control-Allow-Origin": "*"}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type="application/javascript",
                        charset="utf-8", headers=headers)


async def checkout_js(request: web.Request) -> web.Response:
    return _script(request, ASSETS["checkout.js"], LATEST_CACHE)


async def pinned_checkout_js(request: web.Request) -> web.Response:
    if request.match_info["version"] != VERSION:
        raise ApiError(Errors.NOT_FOUND, resource=f"checkout.js {request.match_info['version']}")
    return _script(request, ASSETS["checkout.js"], PINNED_CACHE)


async def frame_js(request: web.Request) -> web.Response:
    return _script(request, ASSETS["checkout-frame.js"], LATEST_CACHE)


async def card_js(request: web.Request) -> web.Response:
    return _script(request, ASSETS["checkout-card.js"], LATEST_CACHE)


async def wait_js(request: web.Request) -> web.Response:
    return _script(request, ASSETS["checkout-wait.js"], LATEST_CACHE)


class WidgetPayment(domain.PaymentIntent):
    """What checkout.js sends: the seed's options (apiKey travels as `?key=`), and
    `expiresAt` within the API create's bounds (payments_api.session_end)."""

    metadata: dict[str, Any] = Field(default_factory=dict, max_length=20)


def _widget_caller(request: web.Request) -> Principal:
    who = require(request, "MERCHANT", allow_keys=True)
    if who.kind != "api_key":  # the gateway sends only publishable keys here
        raise ApiError(Errors.SECRET_KEY_IN_BROWSER)
    return who


def _origin(request: web.Request) -> str:
    origin = request.headers.get("Origin", "").strip()
    if not _ORIGIN.match(origin):
        raise ApiError(Errors.ORIGIN_NOT_ALLOWED, origin=origin or "(none sent)")
    return origin


def _epoch(value: datetime | None) -> str | None:
    return None if value is None else str(int(value.timestamp()))


def render(row: Payment) -> dict[str, Any]:
    """What a merchant's page may learn about a widget payment (no payer details)."""
    return {
        "paymentId": row["payment_id"], "amount": units(row["amount"]),
        "currency": row["currency"], "status": row["status"],
        "description": row["description"], "paymentMethod": row["payment_method"],
        "transactionHash": row["transaction_hash"], "failureReason": row["failure_reason"],
        "createdAt": _epoch(row["created_at"]),
        "completedAt": _epoch(row["completed_at"]),
        "livemode": row["livemode"],
    }


async def create(request: web.Request) -> web.Response:
    who = _widget_caller(request)
    origin = _origin(request)
    body = await read_json(request, WidgetPayment)
    merchant, money, quote, expires_at = await prepare_create(
        request.app[AUTH], request.app[FEES], who, body)
    intent = domain.CreatePayment(
        amount=body.amount, currency=body.currency, description=body.description,
        metadata={**body.metadata, "widget": {"origin": origin, "keyId": who.subject}})
    row = await create_uc.create(
        request.app[SHARED], merchant=merchant, origin="norpay", money=money, body=intent,
        quote=quote,
        expires_at=expires_at, livemode=who.livemode)  # the publishable key's mode
    settings = request.app[SETTINGS]
    data = render(row)
    data["expiresAt"] = _epoch(row["expires_at"])
    data["checkoutUrl"] = f"{settings.public_url}/checkout/{row['payment_id']}"
    data["embedPath"] = (f"/checkout/{row['payment_id']}"
                         + embed_query(settings, row["payment_id"], origin))
    return ok(Family.PLAIN, data, status=201)


async def get(request: web.Request) -> web.Response:
    who = _widget_caller(request)
    async with request.app[POOL].acquire() as conn:
        row = await store.payment(conn, request.match_info["paymentId"],
                                  company_id=int(who.company_id or 0),
                                  merchant_id=int(who.merchant_id or 0),
                                  livemode=who.livemode)
    # Only payments made through the widget: a publishable key is public, so it
    # must not read the merchant's other payments even by id.
    if row is None or not isinstance((row["metadata"] or {}).get("widget"), dict):
        raise ApiError(Errors.NOT_FOUND, resource=PAYMENT)
    row = await payments.settle_if_timed_out(request.app[POOL], request.app.get(RELAY), row)
    return ok(Family.PLAIN, render(row))


_TAGS = ("checkout widget",)
_JS = {"responses": {
    "200": {"description": "The script", "content": {"application/javascript": {
        "schema": {"type": "string"}}}},
    "304": {"description": "Not modified (If-None-Match)"}}}
_KEY = {"name": "key", "in": "query", "required": True, "schema": {"type": "string"},
        "description": "A publishable key (nk_pub_...), from one of its allowed origins"}
_ID = {"name": "paymentId", "in": "path", "required": True, "schema": {"type": "string"}}
# `get` is this module's handler: routes are declared with route(method, ...).
ROUTES = Routes(
    route("GET", "/v1/checkout.js", checkout_js,
          "The checkout widget script (NorPay.Checkout)", _TAGS, auth=PUBLIC, extra=_JS),
    # The frame's, the card form's and the phone step's scripts: the widget's own.
    route("GET", "/v1/checkout-frame.js", frame_js, None),
    route("GET", "/v1/checkout-card.js", card_js, None),
    route("GET", "/v1/checkout-wait.js", wait_js, None),
    route("GET", "/v1/{version}/checkout.js", pinned_checkout_js,
          f"A pinned release of the checkout widget script (current: {VERSION})", _TAGS,
          auth=PUBLIC, extra={**_JS, "parameters": [
              {"name": "version", "in": "path", "required": True,
               "schema": {"type": "string"}}]}),
    route("POST", "/v1/widget/payments", create,
          "Create a payment from a merchant's page (publishable key as ?key=, from one "
          "of its allowed origins)", _TAGS, request=WidgetPayment, status=201,
          extra={"parameters": [_KEY]}, response=answers.EmbeddedPayment,
          auth=PUBLISHABLE_KEY),
    route("GET", "/v1/widget/payments/{paymentId}", get,
          "Status of a widget payment (publishable key as ?key=)", _TAGS,
          extra={"parameters": [_ID, _KEY]}, response=answers.EmbeddedPayment,
          auth=PUBLISHABLE_KEY),
)
