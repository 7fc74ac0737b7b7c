"""The hosted checkout page for a NorPay payment (`/checkout/{paymentId}`, public).

Server-rendered with jinja2 (autoescaped), no JavaScript. Every form carries a CSRF
token bound to the payment: HMAC-SHA256(derive(settings, "checkout-csrf"), paymentId).
Card numbers are never echoed into a page, a URL or a log line.

A page answers for the payment in its own mode (docs/modes.md): a test payment's page
shows the TEST MODE banner; a live one's offers only the methods a live connector
serves (connectors.for_mode; none ships, so no form, and a posted one is refused).

Embed mode (checkout.js): `?embed=1&origin=<merchant origin>&sig=<HMAC>` shows the
same page inside the merchant's iframe. The signature, made when the widget created
the payment from an origin the gateway allowed, binds the payment to that origin, so
only that origin may frame it (`frame-ancestors`; every other page is
`X-Frame-Options: DENY`). Instead of redirecting to the success or cancel URL, an
embedded page shows the outcome, and its one script (/v1/checkout-frame.js) posts it
to that origin only. A missing or wrong signature gives the ordinary, unframeable page.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from pydantic import ValidationError

from services.checkout import connectors, domain, html, payments, store
from services.checkout.branding import BRAND, brand_for
from services.checkout.connectors import BadPaymentDetails
from services.checkout.context import follow_rail, uow
from services.checkout.domain import Payment
from services.checkout.errors import api_error
from shared.http.app import POOL, RELAY
from shared.http.middleware import SETTINGS
from shared.http.routes import Routes, get, post
from shared.money import Money, format_display, get_currency
from shared.settings import Settings

# The form's field names -> the API field names connectors and pydantic report.
_FIELDS = {"card.number": "card_number", "card.expMonth": "card_exp",
           "card.expYear": "card_exp", "card.cvc": "cvc", "card": "card_number",
           "payer": "payer", "phoneNumber": "phone", "account": "account",
           "paymentMethod": "method", "otp": "otp", "threeDSecure": "otp"}
_ECHOED = ("card_exp", "payer", "phone", "account")  # never the card number or cvc
# An expiry as shoppers write it: MM / YY, MM/YYYY, MM-YY ...
_EXPIRY = re.compile(r"^([0-9]{1,2}) *[/.\- ] *([0-9]{2}|[0-9]{4})$")
EXPIRY_FORMAT = "card_exp: enter the expiry date as MM / YY"


def card_from_form(form: Mapping[str, object]) -> dict[str, Any] | None:
    """The API's `card` from a checkout card form (card_number, card_exp, cvc), the
    expiry split into expMonth and expYear (YY is 20YY); None when the expiry does not
    read as a month and a year (EXPIRY_FORMAT says so). A form of a page opened before
    the expiry was one field (a session lasts up to a day) sends exp_month and
    exp_year, taken as they are."""
    card = {"number": str(form.get("card_number", "")).strip(),
            "cvc": str(form.get("cvc", "")).strip()}
    if "card_exp" not in form and "exp_month" in form:
        return {**card, "expMonth": str(form.get("exp_month", "")).strip(),
                "expYear": str(form.get("exp_year", "")).strip()}
    found = _EXPIRY.match(str(form.get("card_exp", "")).strip())
    if found is None:
        return None
    year = found[2] if len(found[2]) == 4 else "20" + found[2]
    return {**card, "expMonth": found[1], "expYear": year}


def csrf_token(settings: Settings, payment_id: str) -> str:
    return html.csrf(settings, "checkout-csrf", payment_id)


def embed_signature(settings: Settings, payment_id: str, origin: str) -> str:
    return html.csrf(settings, "checkout-embed", f"{payment_id}\n{origin}")


def embed_query(settings: Settings, payment_id: str, origin: str) -> str:
    return "?" + urlencode({"embed": "1", "origin": origin,
                            "sig": embed_signature(settings, payment_id, origin)})


def _embed_origin(request: web.Request) -> str | None:
    """The merchant origin an embedded page may talk to, when its signature holds."""
    query = request.query
    origin, sig = query.get("origin", ""), query.get("sig", "")
    if query.get("embed") != "1" or not origin or not sig:
        return None
    expected = embed_signature(request.app[SETTINGS], request.match_info["paymentId"], origin)
    return origin if hmac.compare_digest(sig.encode(), expected.encode()) else None


def _embed_q(request: web.Request) -> str:
    origin = _embed_origin(request)
    return embed_query(request.app[SETTINGS], request.match_info["paymentId"], origin) \
        if origin else ""


# What an embedded page tells checkout.js about the payment's outcome.
_EMBED_STATE = {"paid": "success", "canceled": "cancel", "failed": "failed",
                "expired": "failed"}


def _breakdown(row: Payment, total: Money) -> dict[str, Any] | None:
    """Price, fees and total, when the payer bears the fees (a price's payment)."""
    quote = row["quote"] or {}
    if "payerFees" not in quote or not int(quote["payerFees"]):
        return None
    return {"price": format_display(Money(int(quote["priceAmount"]), total.currency)),
            "fees": format_display(Money(int(quote["payerFees"]), total.currency)),
            "total": format_display(total)}


def page_scripts(view: str, methods: list[str]) -> list[str]:
    """The page's scripts (html._page_policy allows them): card entry on a card form,
    the quiet wait while the shopper's phone is asked."""
    if view == "pay" and "VISA_MASTER" in methods:
        return ["checkout-card.js"]
    return ["checkout-wait.js"] if view == "phone" else []


def _page(request: web.Request, row: Payment | None, view: str, *, status: int = 200,
          **extra: Any) -> web.Response:
    pid: str = row["payment_id"] if row is not None else ""  # read only with a row
    origin = _embed_origin(request) if row is not None else None
    context = {"view": view, "payment": None, "errors": {}, "values": {}, "error": None,
               "method": None, "embed": None, "test_mode": False,
               "brand": request.get(BRAND), **extra}
    if origin and row is not None:
        context["embed"] = {"origin": origin, "q": embed_query(request.app[SETTINGS], pid,
                                                               origin),
                            "state": _EMBED_STATE.get(view, ""), "status": row["status"]}
    if row is not None:
        money = Money(int(row["amount"]), get_currency(row["currency"]))
        rails = connectors.for_mode(row["livemode"])
        context["test_mode"] = not row["livemode"]
        context["payment"] = {
            "id": pid, "merchant": row["merchant_name"] or "Merchant",
            "amount": format_display(money), "description": row["description"],
            "currency": row["currency"],
            "success_url": row["success_url"] and with_payment(row["success_url"], row),
            "cancel_url": row["cancel_url"] and with_payment(row["cancel_url"], row),
            "action": row["pending_action"],
            "failure": row["failure_reason"], "breakdown": _breakdown(row, money),
            "failed_attempts": row["failed_attempts"],
            "attempts_left": domain.attempts_left(row),
            "methods": domain.page_methods(row["methods"], row["currency"], rails),
            "csrf": csrf_token(request.app[SETTINGS], pid)}
        context["scripts"] = page_scripts(view, context["payment"]["methods"])
    response = html.render("checkout.html", status=status, **context)
    if origin:  # only the merchant's page that created the payment may frame it
        # (html.render's policy names that origin in frame-ancestors)
        del response.headers["X-Frame-Options"]
    return response


def _state_page(request: web.Request, row: Payment) -> web.Response:
    """The page for the payment as it stands."""
    status = row["status"]
    if domain.expired(row, datetime.now(UTC)):  # swept or not yet: the same page
        return _page(request, row, "expired", status=410)
    if status == "pending":
        return _page(request, row, "pay")
    if status == "processing":
        if row["pending_action"] in ("otp", "3ds"):
            return _page(request, row, "step")
        return _page(request, row, "phone")
    if status in ("completed", "refunded"):
        return _page(request, row, "paid")
    if status == "canceled":
        return _page(request, row, "canceled")
    return _page(request, row, "failed", error=row["failure_reason"])


async def _row(request: web.Request) -> Payment:
    async with request.app[POOL].acquire() as conn:
        # Public: whoever holds the link, in the payment's own mode.
        row = await store.payment(conn, request.match_info["paymentId"],
                                  company_id=None, merchant_id=None, livemode=None)
    if row is None:
        raise html.Answer(_page(request, None, "missing", status=404))
    request[BRAND] = await brand_for(request.app, row["merchant_id"],
                                     name=row["merchant_name"])
    return row


async def _form(request: web.Request, row: Payment) -> Mapping[str, object]:
    form = await request.post()
    expected = csrf_token(request.app[SETTINGS], row["payment_id"])
    if not hmac.compare_digest(str(form.get("csrf", "")).encode(), expected.encode()):
        raise html.Answer(_page(request, None, "forbidden", status=403))
    return form


def _back(request: web.Request, row: Payment) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/checkout/{row['payment_id']}{_embed_q(request)}")


def with_payment(url: str, row: Payment) -> str:
    """The merchant's success or cancel URL with the payment it is about: `paymentId`
    (and a NORAH payment's `trace`) added to its query, so the shop can look the payment
    up (and must: a redirect is a hint, the webhook or a GET is the truth)."""
    parts = urlsplit(url)
    ours = {"paymentId": row["payment_id"]}
    if row["origin"] == "norah":
        ours["trace"] = str(row["trace"])
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in ours] + list(ours.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _done(request: web.Request, row: Payment, url: str | None) -> web.HTTPSeeOther:
    """After success or cancel: the merchant's URL, or this page when there is none
    or the page is embedded (checkout.js tells the merchant's page instead)."""
    if url and not _embed_origin(request):
        return web.HTTPSeeOther(with_payment(url, row))
    return _back(request, row)


def _after(request: web.Request, row: Payment, outcome: connectors.Outcome, *,
           view_on_error: str, method: str | None = None,
           values: dict[str, str] | None = None) -> web.Response:
    follow_rail(request.app, str(request.url.origin()), row, outcome)
    if outcome.status == "completed":
        raise _done(request, row, row["success_url"])
    if outcome.status == "failed":
        if row["status"] == "pending":  # a declined attempt: the shopper tries again
            return _page(request, row, "pay", status=402, method=method,
                         values=values or {})
        return _page(request, row, view_on_error, status=402, error=outcome.reason,
                     method=method, values=values or {})
    return _state_page(request, row)


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    api_field = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    return _FIELDS.get(api_field, "method"), msg


@html.html_handler
async def page(request: web.Request) -> web.Response:
    row = await _row(request)
    row = await payments.settle_if_timed_out(request.app[POOL], request.app.get(RELAY), row)
    return _state_page(request, row)


@html.html_handler
async def pay(request: web.Request) -> web.Response:
    row = await _row(request)
    form = await _form(request, row)
    method = str(form.get("method", ""))
    values = {k: str(form.get(k, "")).strip() for k in _ECHOED}
    raw: dict[str, Any] = {"paymentMethod": method}
    if method == "VISA_MASTER":
        card = card_from_form(form)
        if card is None:
            return _page(request, row, "pay", status=400, method=method, values=values,
                         errors={"card_exp": EXPIRY_FORMAT.removeprefix("card_exp: ")})
        raw["card"] = card
    elif method == "NOR_WALLET":
        raw["payer"] = values["payer"]
    elif method in ("OMARI", "ECOCASH"):
        raw["phoneNumber"] = values["phone"]
    elif method in ("ZIMSWITCH", "INNBUCKS"):
        raw["account"] = values["account"]
    try:
        body = domain.ConfirmPayment.model_validate(raw)
    except ValidationError as exc:
        name, msg = _first_error(exc)
        return _page(request, row, "pay", status=400, method=method, values=values,
                     errors={name: msg})
    try:
        async with uow(request) as work:
            row, outcome = await payments.confirm(work, row, body, retry=True)
    except BadPaymentDetails as exc:
        return _page(request, row, "pay", status=400, method=method, values=values,
                     errors={_FIELDS.get(exc.field, "method"): str(exc)})
    except domain.SessionExpired:
        return _page(request, row, "expired", status=410)
    except domain.WrongState:
        raise _back(request, row) from None
    except (domain.MethodUnavailableLive, domain.MethodNotEnabled) as exc:
        # Still pending: say why, as the API would.
        return _page(request, row, "pay", status=400, method=method, values=values,
                     errors={"method": api_error(exc).message})
    return _after(request, row, outcome, view_on_error="failed", method=method, values=values)


@html.html_handler
async def action(request: web.Request) -> web.Response:
    row = await _row(request)
    form = await _form(request, row)
    raw = {k: str(form[f]) for k, f in (("otp", "otp"), ("threeDSecure", "three_d_secure"))
           if form.get(f)}
    try:
        body = domain.PaymentAction.model_validate(raw)
        async with uow(request) as work:
            row, outcome = await payments.act(work, row, body, retry=True)
    except ValidationError as exc:
        name, msg = _first_error(exc)
        return _page(request, row, "step", status=400, errors={name: msg})
    except BadPaymentDetails as exc:
        return _page(request, row, "step", status=400,
                     errors={_FIELDS.get(exc.field, "otp"): str(exc)})
    except domain.WrongState:
        raise _back(request, row) from None
    return _after(request, row, outcome, view_on_error="failed")


@html.html_handler
async def cancel(request: web.Request) -> web.Response:
    row = await _row(request)
    await _form(request, row)
    try:
        async with uow(request) as work:
            row = await payments.cancel(work, row)
    except domain.WrongState:
        raise _back(request, row) from None
    raise _done(request, row, row["cancel_url"])


# The hosted checkout's pages and forms: not part of the API.
ROUTES = Routes(
    get("/checkout/{paymentId}", page, None),
    post("/checkout/{paymentId}/pay", pay, None),
    post("/checkout/{paymentId}/action", action, None),
    post("/checkout/{paymentId}/cancel", cancel, None),
)
