"""A price's card checkout (`/checkout/prices/{price_id}`, public): the Prices seed's
"Credit Card Widget".

Opening it counts a view of the price and sends the payer (303) to the hosted
checkout of a payment for the price's `amount_total` (the amount plus the fees the
payer bears, from its `price_item`); the merchant gets `amount_app + amount_seller`.
A dynamic price has at most one payment waiting at a time (reopening the link
returns to it) and is used up once one succeeds; a static price opens a new payment
each time. A deleted price is a 404 page; an expired or used-up one a 410 page.
"""

from __future__ import annotations

from aiohttp import web

from services.checkout import domain, html, payments, prices_store
from services.checkout.context import CLIENT, uow
from services.checkout.prices_api import PRICE_ID, expired
from shared.http.errors import ApiError


def _page(view: str, status: int) -> web.Response:
    return html.render("price_checkout.html", status=status, view=view)


async def _merchant(request: web.Request, merchant_id: int) -> dict:
    try:
        body = await request.app[CLIENT].get_json("auth", f"/internal/merchants/{merchant_id}")
    except ApiError:
        body = None
    if not isinstance(body, dict):
        raise html.Answer(_page("unavailable", 503))
    if body["status"] == "INACTIVE":
        raise html.Answer(_page("inactive", 403))
    return body


@html.html_handler
async def open_price(request: web.Request) -> web.Response:
    price_id = request.match_info["priceId"]
    if not PRICE_ID.match(price_id):
        return _page("missing", 404)
    async with uow(request) as work:
        price = await prices_store.price_for_checkout(work.conn, price_id)
        if price is None:
            return _page("missing", 404)
        if expired(price):
            return _page("expired", 410)
        if price["merchant_id"] is None:
            return _page("no_merchant", 409)
        waiting = price["type"] == "dynamic" and \
            await prices_store.open_price_payment(work.conn, price_id, price["merchant_id"])
        if waiting:
            return _to(waiting)
        merchant = await _merchant(request, price["merchant_id"])
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
                                    money=total, body=body, quote=quote)
    return _to(row)


def _to(payment) -> web.Response:
    """303 to the payment's hosted checkout (a response, so the view count commits)."""
    return web.Response(status=303, headers={"Location": f"/checkout/{payment['payment_id']}"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/checkout/prices/{priceId}", open_price)


DOCS: list = []
