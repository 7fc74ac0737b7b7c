"""A price's card checkout (`/checkout/prices/{price_id}`, public): the Prices seed's
"Credit Card Widget".

Opening the link (GET) is safe: link previews, crawlers and prefetches open it too, so
it only shows the price (its `amount_total`: the amount plus the fees the payer bears,
from its `price_item`) and counts a view; it writes no payment and emits no event. The
page's form (POST, same URL) makes the payment and sends the payer (303) to its hosted
checkout; the merchant gets `amount_app + amount_seller`. The form carries a CSRF token
bound to the price, HMAC-SHA256(derive(settings, "price-checkout-csrf"), priceId), and a
POST a browser marks as coming from another site (`Sec-Fetch-Site`, else `Origin`) is
refused, as is one without the token (403 page).

A dynamic price has at most one payment waiting at a time (reopening the link, or
sending the form again, returns to it) and is used up once one succeeds; a static
price makes a new payment for each form sent. A deleted price is a 404 page; an
expired or used-up one a 410 page.

The link acts in the price's own mode (docs/modes.md), whoever opens it: a test price's
pages show the TEST MODE banner, and the payment its form makes is of the price's mode.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiohttp import web

from services.checkout import domain, html, payments, prices_store
from services.checkout.branding import Brand, brand_of
from services.checkout.context import uow
from services.checkout.domain import Payment
from services.checkout.ports import AUTH, MerchantAccount
from services.checkout.prices_api import PRICE_ID, expired
from shared.http.errors import ApiError
from shared.http.middleware import SETTINGS
from shared.http.routes import Routes, get, post
from shared.money import Money, format_display
from shared.settings import Settings


def _page(view: str, status: int, row: asyncpg.Record | None = None,
          price: dict[str, Any] | None = None, brand: Brand | None = None) -> web.Response:
    """The page of `view`, about the price `row` when one was found: a test one's shows
    the TEST MODE banner (the layout's); `brand`, its merchant's (None: the default)."""
    return html.render("price_checkout.html", status=status, view=view, price=price,
                       test_mode=row is not None and not row["livemode"], brand=brand)


def csrf_token(settings: Settings, price_id: str) -> str:
    return html.csrf(settings, "price-checkout-csrf", price_id)


async def _merchant(request: web.Request, price: asyncpg.Record) -> MerchantAccount:
    """The price's merchant from auth, as it is now (its name, ids and methods for the
    payment)."""
    try:
        account = await request.app[AUTH].find(price["merchant_id"])
    except ApiError:
        account = None
    if account is None:
        raise html.Answer(_page("unavailable", 503, price))
    if account.inactive:
        raise html.Answer(_page("inactive", 403, price))
    return account


async def _not_payable(conn: asyncpg.Connection,
                       price: asyncpg.Record | None) -> web.Response | None:
    """The answer for a price that cannot be paid now (a page), or for a dynamic price
    whose payment still waits (back to it); None when a payment may be made. Returned,
    not raised: the caller's transaction (the view count) commits."""
    if price is None:
        return _page("missing", 404)
    if expired(price):
        return _page("expired", 410, price)
    if price["merchant_id"] is None:
        return _page("no_merchant", 409, price)
    waiting = price["type"] == "dynamic" and await prices_store.open_price_payment(
        conn, price["price_id"], price["merchant_id"], price["livemode"])
    return _to(waiting) if waiting else None


@html.html_handler
async def show_price(request: web.Request) -> web.Response:
    price_id = request.match_info["priceId"]
    if not PRICE_ID.match(price_id):
        return _page("missing", 404)
    async with uow(request) as work:  # a short one: the view, and nothing else
        price = await prices_store.price_for_checkout(work.conn, price_id)
        if (answer := await _not_payable(work.conn, price)) is not None:
            return answer
    assert price is not None  # _not_payable answered a missing one
    merchant = await _merchant(request, price)
    total = domain.price_part(price, "amount_total")
    base = domain.price_part(price, "amount")
    fees = total.minor - base.minor
    return _page("offer", 200, price, brand=brand_of(merchant), price={
        "merchant": merchant.merchant_name or "Merchant", "name": price["name"],
        "total": format_display(total), "amount": format_display(base),
        "fees": format_display(Money(fees, total.currency)) if fees else None,
        "action": f"/checkout/prices/{price_id}",
        "csrf": csrf_token(request.app[SETTINGS], price_id)})


def _same_site(request: web.Request) -> bool:
    """Whether the browser says the form was sent from a page of ours. A client that
    sends neither header (not a browser, or an old one) still needs the token."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    # The host only: TLS may end before the gateway, so the scheme can differ.
    ours = {request.host, request.headers.get("X-Forwarded-Host"),
            urlsplit(request.app[SETTINGS].public_url).netloc}
    return urlsplit(origin).netloc in ours - {None, ""}


@html.html_handler
async def pay_price(request: web.Request) -> web.Response:
    price_id = request.match_info["priceId"]
    if not PRICE_ID.match(price_id):
        return _page("missing", 404)
    form = await request.post()
    expected = csrf_token(request.app[SETTINGS], price_id)
    if not _same_site(request) or not hmac.compare_digest(
            str(form.get("csrf", "")).encode(), expected.encode()):
        return _page("forbidden", 403)
    async with uow(request) as work:
        # Locked: the payments of one dynamic price are made one at a time.
        price = await prices_store.price_to_pay(work.conn, price_id)
        if (answer := await _not_payable(work.conn, price)) is not None:
            return answer
        assert price is not None  # _not_payable answered a missing one
        merchant = await _merchant(request, price)
        total = domain.price_part(price, "amount_total")
        net = (domain.price_part(price, "amount_app").minor
               + domain.price_part(price, "amount_seller").minor)
        base = domain.price_part(price, "amount").minor
        # payerFees: what the payer adds to the price (the page shows the breakdown).
        quote = {"source": "price_item", "priceId": price_id,
                 "charges": str(total.minor - net), "netAmount": str(net),
                 "priceAmount": str(base), "payerFees": str(total.minor - base)}
        body = domain.CreatePayment(
            amount=str(total.minor), currency=total.currency.code,
            description=price["name"] or None,
            metadata={"priceId": price_id, "appId": price["app_id"]})
        row = await payments.create(work, merchant=merchant, origin="prices",
                                    money=total, body=body, quote=quote,
                                    livemode=price["livemode"])  # the price's, not the payer's
    return _to(row)


def _to(payment: Payment | asyncpg.Record) -> web.Response:
    """303 to the payment's hosted checkout (a response, so the transaction commits)."""
    return web.Response(status=303, headers={"Location": f"/checkout/{payment['payment_id']}"})


# A price's payment link (a page): not part of the API.
ROUTES = Routes(
    get("/checkout/prices/{priceId}", show_price, None),
    post("/checkout/prices/{priceId}", pay_price, None),
)
