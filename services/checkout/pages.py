"""The hosted checkout page for a NorPay payment (`/checkout/{paymentId}`, public).

Server-rendered with jinja2 (autoescaped), no JavaScript. Every form carries a CSRF
token bound to the payment: HMAC-SHA256(derive(settings, "checkout-csrf"), paymentId).
Card numbers are never echoed into a page, a URL or a log line.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from aiohttp import web
from pydantic import ValidationError

from services.checkout import domain, html, payments, store
from services.checkout.connectors import BadPaymentDetails
from services.checkout.context import uow
from shared.http.app import POOL, RELAY
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS
from shared.money import Money, format_display, get_currency

# The form's field names -> the API field names connectors and pydantic report.
_FIELDS = {"card.number": "card_number", "card.expMonth": "exp_month",
           "card.expYear": "exp_year", "card.cvc": "cvc", "card": "card_number",
           "payer": "payer", "phoneNumber": "phone", "account": "account",
           "paymentMethod": "method", "otp": "otp", "threeDSecure": "otp"}
_ECHOED = ("exp_month", "exp_year", "payer", "phone", "account")  # never the card or cvc


def csrf_token(settings, payment_id: str) -> str:
    return html.csrf(settings, "checkout-csrf", payment_id)


def _page(request: web.Request, row, view: str, *, status: int = 200, **extra) -> web.Response:
    pid = row["payment_id"] if row is not None else None
    context = {"view": view, "payment": None, "errors": {}, "values": {}, "error": None,
               "method": None, **extra}
    if row is not None:
        money = Money(int(row["amount"]), get_currency(row["currency"]))
        context["payment"] = {
            "id": pid, "merchant": row["merchant_name"] or "Merchant",
            "amount": format_display(money), "description": row["description"],
            "currency": row["currency"], "success_url": row["success_url"],
            "cancel_url": row["cancel_url"], "action": row["pending_action"],
            "failure": row["failure_reason"],
            "csrf": csrf_token(request.app[SETTINGS], pid)}
    return html.render("checkout.html", status=status, **context)


def _expired(row) -> bool:
    return row["status"] == "pending" and row["expires_at"] <= datetime.now(UTC)


def _state_page(request: web.Request, row) -> web.Response:
    """The page for the payment as it stands."""
    status = row["status"]
    if _expired(row):
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


async def _row(request: web.Request):
    async with request.app[POOL].acquire() as conn:
        row = await store.payment(conn, request.match_info["paymentId"],
                                  company_id=None, merchant_id=None)
    if row is None:
        raise html.Answer(_page(request, None, "missing", status=404))
    return row


async def _form(request: web.Request, row):
    form = await request.post()
    expected = csrf_token(request.app[SETTINGS], row["payment_id"])
    if not hmac.compare_digest(str(form.get("csrf", "")).encode(), expected.encode()):
        raise html.Answer(_page(request, None, "forbidden", status=403))
    return form


def _back(row) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/checkout/{row['payment_id']}")


def _after(request: web.Request, row, outcome, *, view_on_error: str, method=None,
           values=None) -> web.Response:
    payments.follow_rail(request.app, str(request.url.origin()), row, outcome)
    if outcome.status == "completed":
        raise web.HTTPSeeOther(row["success_url"] or f"/checkout/{row['payment_id']}")
    if outcome.status == "failed":
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
    raw: dict = {"paymentMethod": method}
    if method == "VISA_MASTER":
        raw["card"] = {"number": str(form.get("card_number", "")).strip(),
                       "expMonth": values["exp_month"], "expYear": values["exp_year"],
                       "cvc": str(form.get("cvc", "")).strip()}
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
            row, outcome = await payments.confirm(work, row, body)
    except BadPaymentDetails as exc:
        return _page(request, row, "pay", status=400, method=method, values=values,
                     errors={_FIELDS.get(exc.field, "method"): str(exc)})
    except ApiError as exc:
        if exc.kind is Errors.PAYMENT_EXPIRED:
            return _page(request, row, "expired", status=410)
        if exc.kind is Errors.PAYMENT_STATE:
            raise _back(row) from None
        raise
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
            row, outcome = await payments.act(work, row, body)
    except ValidationError as exc:
        name, msg = _first_error(exc)
        return _page(request, row, "step", status=400, errors={name: msg})
    except BadPaymentDetails as exc:
        return _page(request, row, "step", status=400,
                     errors={_FIELDS.get(exc.field, "otp"): str(exc)})
    except ApiError as exc:
        if exc.kind is Errors.PAYMENT_STATE:
            raise _back(row) from None
        raise
    return _after(request, row, outcome, view_on_error="failed")


@html.html_handler
async def cancel(request: web.Request) -> web.Response:
    row = await _row(request)
    await _form(request, row)
    try:
        async with uow(request) as work:
            row = await payments.cancel(work, row)
    except ApiError as exc:
        if exc.kind is Errors.PAYMENT_STATE:
            raise _back(row) from None
        raise
    raise web.HTTPSeeOther(row["cancel_url"] or f"/checkout/{row['payment_id']}")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/checkout/{paymentId}", page)
    app.router.add_post("/checkout/{paymentId}/pay", pay)
    app.router.add_post("/checkout/{paymentId}/action", action)
    app.router.add_post("/checkout/{paymentId}/cancel", cancel)


DOCS: list = []
