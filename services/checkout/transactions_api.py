"""NORAH transaction routes (/api/v1/transactions, /api/v1/dashboard) on the Payment
aggregate: amounts in major units as exact Decimals, statuses upper-case.

Tenancy: SUPER sees every payment, ADMIN its company's, a MERCHANT user or API key its
merchant's. Another tenant's payment or merchant answers 404, as a missing one does.
Mode (docs/modes.md): every read and list is of the caller's mode only; a payment of
the other mode answers 404 too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.checkout import answers, domain, payments, store
from services.checkout.connectors import BadPaymentDetails, Outcome
from services.checkout.context import follow_rail, uow
from services.checkout.domain import Payment
from services.checkout.errors import api_errors
from services.checkout.ports import AUTH, FEES, AuthClient, MerchantAccount
from shared.authz import company_scope, merchant_scope, require
from shared.db import Position
from shared.http.app import POOL, RELAY
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import read_json
from shared.http.pagination import keyset_page_of, query_text
from shared.http.routes import Routes, get, post
from shared.money import MajorInput, Money, get_currency, parse_major, to_major_decimal
from shared.principal import Principal

TRANSACTION = "Transaction"
MERCHANT = "Merchant"
STATUS_OF_NORAH = {v: k for k, v in domain.NORAH_STATUS.items()}


# Request bodies -------------------------------------------------------------------

class Confirmation(BaseModel):
    """The seed's confirmation body; `card` (VISA_MASTER) and `account` (ZIMSWITCH,
    INNBUCKS; the phone number stands in when absent) are norgate's additions."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    user: str | None = Field(default=None, max_length=254)
    amount: MajorInput
    charge: MajorInput
    currency: str = Field(min_length=2, max_length=5)
    payment_method: Literal["ZIMSWITCH", "OMARI", "INNBUCKS", "ECOCASH", "VISA_MASTER"] = \
        Field(alias="paymentMethod")
    phone_number: str | None = Field(default=None, alias="phoneNumber",
                                     pattern=r"^\+?[0-9]{9,15}$")
    merchant_uid: str = Field(alias="merchantUid", min_length=1, max_length=64)
    card: domain.Card | None = None
    account: str | None = Field(default=None, max_length=40)


class TraceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace: str = Field(min_length=1, max_length=64)


# Rendering ------------------------------------------------------------------------

def major(row: Payment, column: str) -> Decimal | None:
    value = row[column]
    if value is None:
        return None
    return to_major_decimal(Money(int(value), get_currency(row["currency"])))


def timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def breakdown(row: Payment) -> list[dict[str, Any]]:
    """The stored quote's lines: value as quoted (2.5 for 2.5 %), amount in major units."""
    currency = get_currency(row["currency"])
    return [{"type": line["type"], "value": Decimal(str(line["value"])),
             "amount": to_major_decimal(Money(int(line["amount"]), currency))}
            for line in (row["quote"] or {}).get("breakdown", [])]


def summary(row: Payment) -> dict[str, Any]:
    return {"transactionId": row["payment_id"], "trace": str(row["trace"]),
            "merchantId": row["merchant_id"], "merchant": row["merchant_name"],
            "amount": major(row, "amount"), "currency": row["currency"],
            "status": domain.NORAH_STATUS[row["status"]],
            "paymentMethod": row["payment_method"],
            "charges": major(row, "charges"), "netAmount": major(row, "net_amount"),
            "timestamp": timestamp(row["created_at"]), "livemode": row["livemode"]}


def details(row: Payment) -> dict[str, Any]:
    return {**summary(row), "chargesBreakdown": breakdown(row),
            "refundedAmount": major(row, "refunded_amount"),
            "failureReason": row["failure_reason"], "nextAction": row["pending_action"],
            "completedAt": timestamp(row["completed_at"])}


# Lookups --------------------------------------------------------------------------

def _visible(who: Principal, merchant: MerchantAccount) -> bool:
    scope_company, scope_merchant = company_scope(who), merchant_scope(who)
    return ((scope_company is None or merchant.company_id == scope_company)
            and (scope_merchant is None or merchant.merchant_id == scope_merchant))


async def merchant_in_scope(auth: AuthClient, who: Principal, *, uid: str | None = None,
                            merchant_id: str | None = None) -> MerchantAccount:
    """auth's view of a merchant the caller may see; 404 for a missing or foreign one."""
    found = None
    if uid is not None:
        parsed = uuid_or_none(uid)
        found = await auth.find_by_uid(parsed) if parsed else None
    elif merchant_id is not None and merchant_id.isascii() and merchant_id.isdigit() \
            and len(merchant_id) <= 18:
        found = await auth.find(merchant_id)
    if found is None or not _visible(who, found):
        raise ApiError(Errors.NOT_FOUND, resource=MERCHANT)
    return found


def uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _by_trace(conn: asyncpg.Connection, who: Principal, raw: str, *,
                    for_update: bool = False) -> Payment:
    trace = uuid_or_none(raw)
    row = None if trace is None else await store.payment_by_trace(
        conn, trace, company_id=company_scope(who), merchant_id=merchant_scope(who),
        livemode=who.livemode, for_update=for_update)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=TRANSACTION)
    return row


# Confirmation, status, cancel ------------------------------------------------------

def _confirm_body(body: Confirmation) -> domain.ConfirmPayment:
    account = body.account
    if body.payment_method in ("ZIMSWITCH", "INNBUCKS") and not account:
        account = (body.phone_number or "").lstrip("+") or None
    return domain.ConfirmPayment(payment_method=body.payment_method, card=body.card,
                                 phone_number=body.phone_number, account=account)


def _follow_rail(request: web.Request, row: Payment, outcome: Outcome) -> None:
    """An asynchronous rail (ECOCASH) answers later, as payments_api does for NorPay."""
    follow_rail(request.app, str(request.url.origin()), row, outcome)


async def confirmation(request: web.Request) -> web.Response:
    """Create the payment for a merchant and charge it with the payer's method at once.
    The caller states the charge it showed the payer; it must equal the fee quote."""
    who = require(request, allow_keys=True)
    body = await read_json(request, Confirmation)
    money = parse_major(body.amount, body.currency)
    charge = parse_major(body.charge, money.currency, "charge", allow_zero=True)
    merchant = await merchant_in_scope(request.app[AUTH], who, uid=body.merchant_uid)
    if merchant.inactive:
        raise ApiError(Errors.MERCHANT_INACTIVE)
    quote = await request.app[FEES].quote(merchant.merchant_id, money.currency.code,
                                          money.minor)
    expected = Money(quote.charges, money.currency)
    if charge.minor != expected.minor:
        raise ApiError(Errors.CHARGE_MISMATCH, field="charge",
                       expected=f"{to_major_decimal(expected):f}")
    create = domain.CreatePayment(amount=str(money.minor), currency=money.currency.code,
                                  metadata={"user": body.user} if body.user else {})
    try:
        with api_errors():
            async with uow(request) as work:
                # A refused confirm (a bad detail, a live payment no connector takes)
                # rolls the create back with it: nothing is left, no event is sent.
                row = await payments.create(work, merchant=merchant, origin="norah",
                                            money=money, body=create, quote=quote,
                                            livemode=who.livemode)
                row, outcome = await payments.confirm(work, row, _confirm_body(body))
    except BadPaymentDetails as exc:
        raise ApiError(Errors.VALIDATION, field=exc.field, detail=str(exc)) from None
    _follow_rail(request, row, outcome)
    data = summary(row)
    return ok(Family.NORAH, {
        "trace": data["trace"], "status": data["status"], "amount": data["amount"],
        "charge": data["charges"], "netAmount": data["netAmount"],
        "currency": data["currency"], "paymentMethod": data["paymentMethod"],
        "transactionId": data["transactionId"], "nextAction": row["pending_action"],
        "failureReason": row["failure_reason"], "livemode": data["livemode"]},
        message="Transaction confirmed successfully")


async def transaction_status(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, TraceBody)
    async with request.app[POOL].acquire() as conn:
        row = await _by_trace(conn, who, body.trace)
    row = await payments.settle_if_timed_out(request.app[POOL], request.app.get(RELAY), row)
    data = summary(row)
    return ok(Family.NORAH, {k: data[k] for k in ("trace", "status", "amount", "currency",
                                                  "paymentMethod", "timestamp", "livemode")},
              message="Transaction status retrieved successfully")


async def cancel_transaction(request: web.Request) -> web.Response:
    """PENDING and PROCESSING only: nothing was captured, so the whole amount is
    released to the payer (the seed's `refundedAmount`)."""
    who = require(request, allow_keys=True)
    body = await read_json(request, TraceBody)
    with api_errors():
        async with uow(request) as work:
            row = await _by_trace(work.conn, who, body.trace, for_update=True)
            if row["status"] == "completed":
                raise ApiError(Errors.COMPLETED_NOT_CANCELABLE)
            row = await payments.cancel(work, row)
    return ok(Family.NORAH, {"trace": str(row["trace"]),
                             "status": domain.NORAH_STATUS[row["status"]],
                             "refundedAmount": major(row, "amount"),
                             "livemode": row["livemode"]},
              message="Transaction cancelled successfully")


# Lists and details -----------------------------------------------------------------

def _date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(Errors.VALIDATION, field=name,
                       detail=f"{name}: must be a date as YYYY-MM-DD") from None


def _search(request: web.Request) -> dict[str, Any]:
    """`search` as the store's lookup it names: a whole trace (a UUID) or a whole
    transaction id (`pay_...`) by its unique index, anything else part of a merchant's
    name. Lookups match whole ids only: a prefix has no index to answer it."""
    search = query_text(request, "search")
    if search is None:
        return {}
    trace = uuid_or_none(search)
    if trace is not None:
        return {"trace": trace}
    if search.startswith("pay_"):
        return {"payment_id": search}
    return {"merchant_name": search}


def _filters(request: web.Request) -> dict[str, Any]:
    status = query_text(request, "status", max_length=20)
    if status is not None and status.upper() not in STATUS_OF_NORAH:
        raise ApiError(Errors.VALIDATION, field="status",
                       detail="status: must be one of " + ", ".join(STATUS_OF_NORAH))
    currency = query_text(request, "currency", max_length=5)
    start, end = _date(request, "start_date"), _date(request, "end_date")
    if start and end and start > end:
        raise ApiError(Errors.VALIDATION, field="end_date",
                       detail="end_date: must not be before start_date")
    return {
        **_search(request),
        "status": STATUS_OF_NORAH[status.upper()] if status else None,
        "currency": get_currency(currency).code if currency else None,
        # Whole UTC days, end date included.
        "created_from": datetime.combine(start, time(), UTC) if start else None,
        "created_before": datetime.combine(end + timedelta(days=1), time(), UTC)
        if end else None,
    }


async def _page(request: web.Request, who: Principal, *,
                render: Callable[[Payment], dict[str, Any]], message: str,
                merchant_id: int | None = None, **filters: Any) -> web.Response:
    """A page by `page`/`per_page`, or by the `cursor` a previous page gave as
    `nextCursor` (keyset: it starts at that page's last row, however deep)."""
    page = keyset_page_of(request)
    scope_merchant = merchant_scope(who)
    after = None if page.after is None else (page.after.key, page.after.id)
    async with request.app[POOL].acquire() as conn:
        found = await store.list_transactions(
            conn, company_id=company_scope(who),
            merchant_id=merchant_id if merchant_id is not None else scope_merchant,
            livemode=who.livemode, limit=page.per_page, offset=page.offset, after=after,
            **filters)
    last = None if found.last is None else Position(*found.last)
    return ok(Family.NORAH, [render(r) for r in found.rows], message=message,
              pagination=page.envelope(found.total, last=last,
                                       total_is_estimate=found.total_is_estimate))


def _pick(*keys: str) -> Callable[[Payment], dict[str, Any]]:
    def render(row: Payment) -> dict[str, Any]:
        data = summary(row)
        return {k: data[k] for k in (*keys, "livemode")}
    return render


async def user_transactions(request: web.Request) -> web.Response:
    """The caller's own: its merchant's (MERCHANT, API key), its company's (ADMIN)."""
    who = require(request, allow_keys=True)
    return await _page(request, who, message="Transactions retrieved successfully",
                       render=_pick("transactionId", "trace", "amount", "currency", "status",
                                    "paymentMethod", "timestamp"))


async def merchant_transactions(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    merchant = await merchant_in_scope(request.app[AUTH], who,
                                       merchant_id=request.match_info["merchantId"])
    return await _page(request, who, merchant_id=merchant.merchant_id,
                       message="Merchant transactions retrieved successfully",
                       render=_pick("transactionId", "trace", "merchantId", "amount",
                                    "currency", "status", "charges", "netAmount",
                                    "timestamp"))


def _charge_row(row: Payment) -> dict[str, Any]:
    data = summary(row)
    return {**{k: data[k] for k in ("transactionId", "trace", "merchantId", "amount",
                                    "currency", "charges", "netAmount", "timestamp",
                                    "livemode")},
            "chargesBreakdown": breakdown(row)}


async def merchant_charges(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    merchant = await merchant_in_scope(request.app[AUTH], who,
                                       merchant_id=request.match_info["merchantId"])
    return await _page(request, who, merchant_id=merchant.merchant_id, charged_only=True,
                       message="Merchant charges retrieved successfully", render=_charge_row)


async def all_transactions(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    return await _page(request, who, message="Transactions retrieved successfully",
                       render=summary, **_filters(request))


async def recent_transactions(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    return await _page(request, who, message="Recent transactions retrieved",
                       **_search(request),
                       render=_pick("transactionId", "trace", "merchant", "amount",
                                    "currency", "status", "paymentMethod", "timestamp"))


async def transaction_details(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await store.payment(conn, request.match_info["transactionId"],
                                  company_id=company_scope(who),
                                  merchant_id=merchant_scope(who), livemode=who.livemode)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=TRANSACTION)
    return ok(Family.NORAH, details(row), message="Transaction details retrieved successfully")


_T = ("transactions",)
# Every list: page and per_page, or cursor (the previous page's pagination.nextCursor).
ROUTES = Routes(
    post("/api/v1/transactions/confirmation", confirmation,
         "Create and charge a payment; `charge` must equal the fee quote", _T,
         request=Confirmation, response=answers.TransactionConfirmation),
    post("/api/v1/transactions/status", transaction_status, "A transaction's status by trace", _T,
         request=TraceBody, response=answers.TransactionStatus),
    post("/api/v1/transactions/cancel", cancel_transaction,
         "Cancel a PENDING or PROCESSING transaction", _T, request=TraceBody,
         response=answers.CanceledTransaction),
    get("/api/v1/transactions/user", user_transactions, "Your transactions, newest first", _T,
        response=list[answers.UserTransaction]),
    get("/api/v1/transactions/merchant/{merchantId}", merchant_transactions,
        "A merchant's transactions", _T, response=list[answers.MerchantTransaction]),
    get("/api/v1/transactions/merchant-charges/{merchantId}", merchant_charges,
        "A merchant's transactions that bore charges, with their breakdown", _T,
        response=list[answers.TransactionCharge]),
    get("/api/v1/transactions/all", all_transactions,
        "Transactions in your scope: search (a whole trace or transaction id, or part "
        "of a merchant name), status, currency, start_date, end_date", _T,
        response=list[answers.TransactionSummary]),
    get("/api/v1/transactions/details/{transactionId}", transaction_details,
        "One transaction with its charges breakdown", _T, response=answers.TransactionDetails),
    get("/api/v1/dashboard/recent-transactions", recent_transactions,
        "The latest transactions in your scope", _T, response=list[answers.RecentTransaction]),
)
