"""NorPay payment routes (/api/v2/payments, NorPay envelope)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, get_args

import asyncpg
from aiohttp import web
from pydantic import BaseModel

from services.checkout import answers, domain, payments, store
from services.checkout.connectors import INSUFFICIENT, BadPaymentDetails, Outcome
from services.checkout.context import SHARED, follow_rail, uow
from services.checkout.domain import Payment
from services.checkout.errors import api_errors
from services.checkout.payment_writes import NeedsLock
from services.checkout.payments import units
from services.checkout.ports import AUTH, FEES, AuthClient, FeesClient, MerchantAccount, Quote
from services.checkout.use_cases import confirm as confirm_uc
from services.checkout.use_cases import create as create_uc
from shared.authz import company_scope, merchant_scope, require
from shared.db import Position
from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.pagination import keyset_page_of, query_choice, query_id
from shared.http.routes import Routes, get, post
from shared.money import Money, parse_minor_string
from shared.principal import Principal

PAYMENT = "Payment"

B_contra = TypeVar("B_contra", bound=BaseModel, contravariant=True)
B = TypeVar("B", bound=BaseModel)


class _LockedStep(Protocol[B_contra]):
    """payments.confirm or payments.act: a step on a payment read FOR UPDATE."""

    def __call__(self, work: UnitOfWork, payment: Payment, body: B_contra, *,
                 locked: bool = ..., retry: bool = ...) -> Awaitable[tuple[Payment, Outcome]]: ...


def _epoch(value: datetime | None) -> str | None:
    return None if value is None else str(int(value.timestamp()))


def render(row: Payment, request: web.Request) -> dict[str, Any]:
    """The seed's fields, plus what a merchant needs to follow the payment."""
    return {
        "paymentId": row.payment_id, "amount": units(row.amount),
        "currency": row.currency, "status": row.status,
        "description": row.description, "payer": row.payer,
        "transactionHash": row.transaction_hash, "metadata": row.metadata,
        "paymentMethod": row.payment_method, "nextAction": row.pending_action,
        "failureReason": row.failure_reason,
        # Declines a checkout page let the shopper retry (the payment stayed pending).
        "failedAttempts": row.failed_attempts,
        # "expired" when the session ran out (the expiry sweep), else null.
        "cancellationReason": row.cancellation_reason,
        "charges": units(row.charges),
        "netAmount": units(row.net_amount),
        "refundedAmount": units(row.refunded_amount),
        "checkoutUrl": f"{request.app[SETTINGS].public_url}/checkout/{row.payment_id}",
        "expiresAt": _epoch(row.expires_at), "createdAt": _epoch(row.created_at),
        "completedAt": _epoch(row.completed_at),
        "livemode": row.livemode,
    }


def session_end(body: domain.PaymentIntent) -> datetime | None:
    """When a public create's session ends, as it asked (None: the default length); a
    400 naming expiresAt outside the bounds (domain.session_end)."""
    if body.expires_at is None:
        return None
    try:
        return domain.session_end(body.expires_at, datetime.now(UTC))
    except domain.SessionEndOutOfRange as exc:
        raise ApiError(Errors.VALIDATION, field="expiresAt", detail=str(exc)) from None


async def prepare_create(auth: AuthClient, fees: FeesClient, who: Principal,
                         body: domain.PaymentIntent
                         ) -> tuple[MerchantAccount, Money, Quote, datetime | None]:
    """(merchant, money, quote, session end) for a public create (the API's or the
    widget's): its metadata free of the keys norgate's own flows set, its session within
    the bounds, its merchant active."""
    try:
        domain.check_public_metadata(body.metadata)
    except ValueError as exc:
        raise ApiError(Errors.VALIDATION, field="metadata", detail=str(exc)) from None
    money = parse_minor_string(body.amount, body.currency)
    expires_at = session_end(body)
    merchant = await auth.merchant(who.merchant_id)
    if merchant.inactive:
        raise ApiError(Errors.MERCHANT_INACTIVE)
    quote = await fees.quote(merchant.merchant_id, money.currency.code, money.minor)
    return merchant, money, quote, expires_at


async def create_payment(request: web.Request) -> web.Response:
    who = require(request, "MERCHANT", allow_keys=True)
    body = await read_json(request, domain.CreatePayment)
    merchant, money, quote, expires_at = await prepare_create(
        request.app[AUTH], request.app[FEES], who, body)
    row = await create_uc.create(
        request.app[SHARED], merchant=merchant, origin="norpay", money=money, body=body,
        quote=quote, expires_at=expires_at, livemode=who.livemode)
    data = render(row, request)
    return ok(Family.NORPAY, {k: data[k] for k in ("paymentId", "amount", "currency", "status",
                                                   "checkoutUrl", "expiresAt", "createdAt",
                                                   "livemode")},
              status=201)


async def _load(request: web.Request, conn: asyncpg.Connection, who: Principal, *,
                for_update: bool = False) -> Payment:
    row = await store.payment(conn, request.match_info["paymentId"],
                              company_id=company_scope(who), merchant_id=merchant_scope(who),
                              livemode=who.livemode, for_update=for_update)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=PAYMENT)
    return row


async def get_payment(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    row = await payments.settle_if_timed_out(request.app[POOL], request.app.get(RELAY),
                                             await _read(request, who))
    return ok(Family.NORPAY, render(row, request))


async def list_payments(request: web.Request) -> web.Response:
    """The caller's payments in its mode, newest first ({payments, pagination}, as
    NorPay's other lists): a merchant's own, or a company's (?merchantId= narrows it to
    one of its merchants); ?status=; by page, or by the cursor a page gave (keyset:
    store.list_transactions walks the owner's index, whatever its history)."""
    who = require(request, allow_keys=True)
    page = keyset_page_of(request)
    status = query_choice(request, "status", get_args(domain.Status))
    asked = query_id(request, "merchantId")
    merchant_id = merchant_scope(who) or asked
    if merchant_scope(who) is not None and asked not in (None, merchant_scope(who)):
        merchant_id = -1  # another merchant's: nothing, as for any merchant out of scope
    after = None if page.after is None else (page.after.key, page.after.id)
    async with request.app[POOL].acquire() as conn:
        found = await store.list_transactions(
            conn, company_id=company_scope(who), merchant_id=merchant_id,
            livemode=who.livemode, status=status, limit=page.per_page, offset=page.offset,
            after=after)
    last = None if found.last is None else Position(*found.last)
    return ok(Family.NORPAY, {
        "payments": [render(r, request) for r in found.rows],
        "pagination": page.envelope(found.total, last=last,
                                    total_is_estimate=found.total_is_estimate)})


def _settle(request: web.Request, row: Payment, outcome: Outcome) -> web.Response:
    follow_rail(request.app, str(request.url.origin()), row, outcome)
    if outcome.status == "failed":
        kind = Errors.INSUFFICIENT_BALANCE if outcome.reason == INSUFFICIENT \
            else Errors.PAYMENT_FAILED
        raise ApiError(kind, reason=outcome.reason)
    return ok(Family.NORPAY, render(row, request))


@contextmanager
def _details_checked() -> Iterator[None]:
    """Payment details a rail refuses are a 400 naming the field."""
    try:
        yield
    except BadPaymentDetails as exc:
        raise ApiError(Errors.VALIDATION, field=exc.field, detail=str(exc)) from None


async def _step(request: web.Request, model: type[B], use_case: _LockedStep[B]) -> web.Response:
    """Confirm, or answer a pending action: the same lock-charge-record path."""
    who = require(request, allow_keys=True)
    return await _locked(request, who, await read_json(request, model), use_case)


async def _locked(request: web.Request, who: Principal, body: B,
                  use_case: _LockedStep[B]) -> web.Response:
    with _details_checked(), api_errors():
        async with uow(request) as work:
            row = await _load(request, work.conn, who, for_update=True)
            row, outcome = await use_case(work, row, body, locked=True)
    return _settle(request, row, outcome)


async def confirm_payment(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, domain.ConfirmPayment)
    row = await _read(request, who)
    with _details_checked(), api_errors():
        try:  # unlocked, written only if the payment is still as read (payment_writes)
            done = await confirm_uc.confirm(request.app[SHARED], row, body)
        except NeedsLock:
            done = None
    if done is None:  # the rail needs the database, or the payment changed meanwhile
        return await _locked(request, who, body, payments.confirm)
    return _settle(request, *done)


async def _read(request: web.Request, who: Principal) -> Payment:
    """The payment of the path, read with the others that arrive together
    (payment_writes.Shared), within the caller's scope and mode (store.payment's rule)."""
    row = await request.app[SHARED].payment(request.match_info["paymentId"])
    company, merchant = company_scope(who), merchant_scope(who)
    if row is None or (company is not None and row["company_id"] != company) \
            or (merchant is not None and row["merchant_id"] != merchant) \
            or row["livemode"] != who.livemode:
        raise ApiError(Errors.NOT_FOUND, resource=PAYMENT)
    return row


async def payment_action(request: web.Request) -> web.Response:
    return await _step(request, domain.PaymentAction, payments.act)


async def cancel_payment(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    with api_errors():
        async with uow(request) as work:
            row = await payments.cancel(work, await _load(request, work.conn, who))
    return ok(Family.NORPAY, render(row, request), message="Payment canceled")


async def refund_payment(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, domain.RefundPayment)
    with api_errors():
        async with uow(request) as work:
            row, refund = await payments.refund(work, await _load(request, work.conn, who),
                                                body)
    data = render(row, request)
    data["refund"] = {"refundId": refund["refund_id"], "amount": units(refund["amount"]),
                      "reason": refund["reason"]}
    return ok(Family.NORPAY, data, message="Refund issued")


async def ecocash_callback(request: web.Request) -> web.Response:
    """Where the ECOCASH rail calls back (internal: never routed by the gateway)."""
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)
    body = await read_json(request)
    payment_id = body.get("paymentId")
    if not isinstance(payment_id, str):
        raise ApiError(Errors.VALIDATION, field="paymentId", detail="paymentId: required")
    async with uow(request) as work:
        # The rail acts on the payment's own mode.
        row = await store.payment(work.conn, payment_id, company_id=None, merchant_id=None,
                                  livemode=None)
        if row is None:
            raise ApiError(Errors.NOT_FOUND, resource=PAYMENT)
        row = await payments.rail_answered(work, row)
    return ok(Family.PLAIN, {"paymentId": row["payment_id"], "status": row["status"]})


ROUTES = Routes(
    post("/api/v2/payments/create", create_payment, "Create a payment intent", ("payments",),
         request=domain.CreatePayment, status=201, response=answers.Payment),
    get("/api/v2/payments", list_payments,
        "Your payments, newest first (?status=&merchantId=&page=&per_page=&cursor=)",
        ("payments",), response=answers.PaymentList),
    get("/api/v2/payments/{paymentId}", get_payment, "Get a payment", ("payments",),
        response=answers.Payment),
    post("/api/v2/payments/{paymentId}/confirm", confirm_payment,
         "Confirm a payment with a payment method (sandbox test data in docs/payments.md)",
         ("payments",), request=domain.ConfirmPayment, response=answers.Payment),
    post("/api/v2/payments/{paymentId}/action", payment_action,
         "Answer a pending step: an OMARI OTP or a 3-D Secure challenge", ("payments",),
         request=domain.PaymentAction, response=answers.Payment),
    post("/api/v2/payments/{paymentId}/cancel", cancel_payment, "Cancel a pending payment",
         ("payments",), response=answers.Payment),
    post("/api/v2/payments/{paymentId}/refund", refund_payment, "Refund all or part of a payment",
         ("payments",), request=domain.RefundPayment, response=answers.Refund),
    post(payments.CALLBACK_PATH, ecocash_callback, None),
)
