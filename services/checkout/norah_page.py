"""The hosted NORAH checkout page (`/check-out?token=...&type=u|m`, public).

NORAH's `/api/v1/transaction/{u,m}/generate` answers a URL to this page. The page
verifies the payment token, shows the amount and the fee quote, and offers a form per
NORAH method; paying creates a NORAH payment and confirms it as
`/api/v1/transactions/confirmation` does. Each token pays once: its jti is stored as
the payment's metadata `tokenJti`. A declined first attempt leaves the payment pending
(domain.may_retry): the shopper is sent to its own page, /checkout/{paymentId}, to try
another card or method, since the token is spent.

The payment is made in the token's mode (its `livemode` claim, transaction_tokens):
a test page shows the TEST MODE banner, and a live one offers only the methods a live
connector serves (none ships, so no form; a posted one is refused).

The forms post back to `/check-out` (the gateway treats only that exact path as
public); `/check-out/pay` answers the same. CSRF: HMAC-SHA256(derive(settings,
"norah-checkout-csrf"), jti). Card numbers are never echoed into a page.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from services.checkout import connectors, domain, html, payments, store
from services.checkout.branding import brand_of
from services.checkout.connectors import BadPaymentDetails
from services.checkout.context import CLIENT, follow_rail, uow
from services.checkout.errors import api_error
from services.checkout.pages import EXPIRY_FORMAT, card_from_form, page_scripts, with_payment
from services.checkout.pages import csrf_token as payment_csrf
from services.checkout.ports import AUTH, FEES, MerchantAccount
from services.checkout.transaction_tokens import verify_transaction_token
from services.checkout.transactions_api import Confirmation, _confirm_body
from shared.http.app import POOL
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS
from shared.http.routes import Routes, get, post
from shared.money import Money, format_display, parse_major, to_major_decimal
from shared.settings import Settings

_ECHOED = ("phone", "account", "card_exp")  # never the card number or cvc


def csrf_token(settings: Settings, jti: str) -> str:
    return html.csrf(settings, "norah-checkout-csrf", jti)


def _page(view: str, *, status: int = 200, **extra: Any) -> web.Response:
    context = {"view": view, "offer": None, "result": None, "error": None, "errors": {},
               "values": {}, "method": None, **extra}
    context["test_mode"] = context["offer"] is not None and not context["offer"]["livemode"]
    context["brand"] = (context["offer"] or {}).get("brand")  # the payee's, once known
    context["scripts"] = page_scripts(view, (context["offer"] or {}).get("methods", []))
    return html.render("norah_checkout.html", status=status, **context)


# A token lives 60 s, enough to open the page; the payer then has this long to fill in
# the form. The form's CSRF value is bound to the token's jti and only the page that
# was opened in time carries it, so the grace does not extend the link itself.
FORM_GRACE_SECONDS = 15 * 60


async def _claims(request: web.Request, token: str, kind: str, *,
                  leeway: int = 0) -> dict[str, Any]:
    """The verified claims of a payment token; a finished error page otherwise."""
    if kind not in ("u", "m") or not token:
        raise html.Answer(_page("invalid", status=400))
    try:
        claims = await verify_transaction_token(request.app[CLIENT], token,
                                                kind,  # type: ignore[arg-type]
                                                leeway=leeway)
    except ApiError as exc:
        if exc.kind is Errors.PAYMENT_TOKEN_EXPIRED:
            raise html.Answer(_page("expired", status=410)) from None
        if exc.kind is Errors.PAYMENT_TOKEN_INVALID:
            raise html.Answer(_page("invalid", status=400)) from None
        raise
    return claims


async def _payee(request: web.Request, claims: dict[str, Any], kind: str) -> MerchantAccount:
    """The merchant the token pays, within what its signer may pay (auth decides:
    AuthClient.payee); a finished error page otherwise."""
    mid = claims.get("mid")
    if mid is not None and not (isinstance(mid, str) and mid.isascii() and mid.isdigit()):
        raise html.Answer(_page("invalid", status=400))
    payee = await request.app[AUTH].payee(kind, claims["sub"], mid)  # type: ignore[arg-type]
    if payee.problem == "no_merchant":
        raise html.Answer(_page("no_merchant", status=409))
    if payee.merchant is None:  # a merchant outside the signer's scope, a disabled signer
        raise html.Answer(_page("invalid", status=400))
    return payee.merchant


async def _offer(request: web.Request, token: str, kind: str, *,
                 leeway: int = 0) -> tuple[dict[str, Any], MerchantAccount, dict[str, Any]]:
    """(claims, merchant, offer): the amount, fee and quote the page shows and charges."""
    claims = await _claims(request, token, kind, leeway=leeway)
    try:
        money = parse_major(claims["amount"], claims["currency"])
    except ApiError:
        raise html.Answer(_page("invalid", status=400)) from None
    merchant = await _payee(request, claims, kind)
    if merchant.inactive:
        raise html.Answer(_page("inactive", status=403))
    quote = await request.app[FEES].quote(merchant.merchant_id, money.currency.code,
                                          money.minor)
    fee = Money(quote.charges, money.currency)
    livemode = claims["livemode"]
    offer = {"merchant": merchant.merchant_name or "Merchant",
             "amount": format_display(money), "fee": format_display(fee),
             "token": token, "type": kind,
             "csrf": csrf_token(request.app[SETTINGS], claims["jti"]),
             "money": money, "charge": fee, "quote": quote, "livemode": livemode,
             "return_url": merchant.return_url, "brand": brand_of(merchant),
             # NORAH's methods (no NOR wallet), in the merchant's order
             "methods": [m for m in domain.page_methods(
                 merchant.payment_methods, money.currency.code,
                 connectors.for_mode(livemode)) if m != "NOR_WALLET"]}
    return claims, merchant, offer


@html.html_handler
async def page(request: web.Request) -> web.Response:
    claims, _, offer = await _offer(request, request.query.get("token", ""),
                                    request.query.get("type", ""))
    async with request.app[POOL].acquire() as conn:
        if await store.token_used(conn, claims["jti"]):
            return _page("used", status=409)
    return _page("pay", offer=offer)


def _confirmation(form: Mapping[str, object], offer: dict[str, Any],
                  merchant: MerchantAccount) -> tuple[Confirmation, dict[str, Any]]:
    method = str(form.get("method", ""))
    values = {k: str(form.get(k, "")).strip() for k in _ECHOED}
    raw: dict[str, Any] = {"amount": f"{to_major_decimal(offer['money']):f}",
                           "charge": f"{to_major_decimal(offer['charge']):f}",
                           "currency": offer["money"].currency.code, "paymentMethod": method,
                           "merchantUid": merchant.merchant_uid or str(merchant.merchant_id)}
    if values["phone"]:
        raw["phoneNumber"] = values["phone"]
    if values["account"]:
        raw["account"] = values["account"]
    if method == "VISA_MASTER":
        card = card_from_form(form)
        if card is None:
            raise ValueError(EXPIRY_FORMAT)
        raw["card"] = card
    return Confirmation.model_validate(raw), values


@html.html_handler
async def pay(request: web.Request) -> web.Response:
    form = await request.post()
    claims, merchant, offer = await _offer(request, str(form.get("token", "")),
                                           str(form.get("type", "")),
                                           leeway=FORM_GRACE_SECONDS)
    if not hmac.compare_digest(str(form.get("csrf", "")).encode(), offer["csrf"].encode()):
        return _page("forbidden", status=403)
    method = str(form.get("method", ""))
    try:
        body, values = _confirmation(form, offer, merchant)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        return _page("pay", status=400, offer=offer, method=method, error=msg,
                     values={k: str(form.get(k, "")).strip() for k in _ECHOED})
    except ValueError as exc:  # the card's expiry (card_from_form)
        return _page("pay", status=400, offer=offer, method=method,
                     errors={"card_exp": str(exc).removeprefix("card_exp: ")},
                     values={k: str(form.get(k, "")).strip() for k in _ECHOED})
    money = offer["money"]
    create = domain.CreatePayment(amount=str(money.minor), currency=money.currency.code,
                                  metadata={"tokenJti": claims["jti"]})
    try:
        async with uow(request) as work:
            if await store.token_used(work.conn, claims["jti"]):
                return _page("used", status=409)
            row = await payments.create(work, merchant=merchant, origin="norah",
                                        money=money, body=create, quote=offer["quote"],
                                        livemode=offer["livemode"])
            if merchant.return_url:  # the customer goes back there, with the trace
                back = with_payment(merchant.return_url, row)
                row = await store.update_payment(work.conn, row["id"], {
                    "success_url": back, "cancel_url": back})
            row, outcome = await payments.confirm(work, row, _confirm_body(body), retry=True)
    except BadPaymentDetails as exc:
        return _page("pay", status=400, offer=offer, method=method, error=str(exc),
                     values=values)
    except (domain.MethodUnavailableLive, domain.MethodNotEnabled) as exc:
        # Refused before any rail: nothing was made (rolled back).
        return _page("pay", status=400, offer=offer, method=method,
                     error=api_error(exc).message, values=values)
    except domain.PaymentRefused as exc:  # not on a payment made just now; as the API
        raise api_error(exc) from None
    follow_rail(request.app, str(request.url.origin()), row, outcome)
    pid = row["payment_id"]
    result = {"id": pid, "trace": str(row["trace"]), "action": row["pending_action"],
              "failure": row["failure_reason"],
              "csrf": payment_csrf(request.app[SETTINGS], pid)}
    if row["status"] == "completed":
        if row["success_url"]:  # the merchant's returnUrl; steps (OTP, 3-D Secure) end there too
            raise web.HTTPSeeOther(row["success_url"])
        return _page("completed", offer=offer, result=result)
    if row["status"] == "processing":
        view = "step" if row["pending_action"] in ("otp", "3ds") else "phone"
        return _page(view, offer=offer, result=result)
    if row["status"] == "pending":  # declined, and the shopper may try again: the
        # token is spent, so the payment's own page takes the next attempt
        raise web.HTTPSeeOther(f"/checkout/{pid}")
    return _page("failed", status=402, offer=offer, result=result,
                 error=row["failure_reason"] or "The payment was declined")


# The NORAH payer's page: not part of the API.
ROUTES = Routes(
    get("/check-out", page, None),
    post("/check-out", pay, None),
    post("/check-out/pay", pay, None),
)
