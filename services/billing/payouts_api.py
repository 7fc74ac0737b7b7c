"""Money-out routes (docs/payouts.md): the balance and its movements, payouts (NorPay,
/api/v2), the NORAH settlements view (/api/v1/settlements), and the internal rail
callback and payouts tick. Every read takes the caller's mode and tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from services.billing import answers, payouts, payouts_store
from services.billing.api import merchant_caller
from services.billing.balances import MOVEMENT_TYPES, BalanceTransaction
from services.billing.context import CLOCK, now, set_clock, uow
from services.billing.ledger_api import _epoch_param, tenant
from services.billing.payout import STATUSES, CreatePayout, Payout
from services.billing.payouts_scheduler import tick
from shared.authz import require
from shared.db import KeyPage
from shared.http.app import POOL
from shared.http.envelopes import Family, json_response, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.pagination import keyset_page_of, query_choice, query_text
from shared.http.routes import Routes, get, post
from shared.money import Money, get_currency, to_major_number
from shared.principal import Principal


def _merchant(request: web.Request, who: Principal) -> int:
    """The merchant whose balance is read: a MERCHANT its own; ADMIN and SUPER name it
    (?merchantId=), and one outside an ADMIN's company reads as one with nothing."""
    _, merchant = tenant(request, who)
    if merchant is None:
        raise ApiError(Errors.VALIDATION, field="merchantId",
                       detail="merchantId: choose the merchant whose balance to read")
    return merchant


async def _in_scope(request: web.Request, who: Principal, merchant_id: int) -> bool:
    """Whether an ADMIN's company holds the merchant (SUPER and MERCHANT: always)."""
    if who.role != "ADMIN":
        return True
    async with request.app[POOL].acquire() as conn:
        return await conn.fetchval(
            "SELECT true FROM ledger_accounts WHERE merchant_id = $1 AND company_id = $2 "
            "LIMIT 1", merchant_id, int(who.company_id or 0)) is not None


def _currency(request: web.Request) -> str | None:
    raw = query_text(request, "currency", max_length=5)
    return None if raw is None else get_currency(raw).code


# Balance ----------------------------------------------------------------------------------

async def get_balance(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    merchant = _merchant(request, who)
    found = []
    if await _in_scope(request, who, merchant):
        async with request.app[POOL].acquire() as conn:
            found = await payouts_store.balances(conn, merchant_id=merchant,
                                                 livemode=who.livemode,
                                                 currency=_currency(request))
    return ok(Family.NORPAY, {
        "merchantId": merchant, "livemode": who.livemode,
        "balances": [{"currency": b.currency, "pending": str(b.pending),
                      "available": str(b.available), "inTransit": str(b.in_transit)}
                     for b in found]})


async def balance_upcoming(request: web.Request) -> web.Response:
    """What becomes available on which settlement day (the console's chart)."""
    who = require(request, allow_keys=True)
    merchant = _merchant(request, who)
    currency = _currency(request)
    if currency is None:
        raise ApiError(Errors.VALIDATION, field="currency", detail="currency: required")
    days = []
    if await _in_scope(request, who, merchant):
        async with request.app[POOL].acquire() as conn:
            days = await payouts_store.upcoming(
                conn, merchant_id=merchant, livemode=who.livemode, currency=currency,
                day_seconds=request.app[SETTINGS].payout_day_seconds)
    return ok(Family.NORPAY, {"currency": currency, "livemode": who.livemode, "days": [
        {"date": d.day.date().isoformat(), "availableOn": str(int(d.day.timestamp())),
         "amount": str(d.amount)} for d in days]})


def _movement(m: BalanceTransaction) -> dict[str, Any]:
    return {"balanceTransactionId": m.balance_transaction_id, "type": m.type,
            "sourceId": m.source_id, "amount": str(m.amount), "currency": m.currency,
            "status": m.status(), "availableOn": str(int(m.available_on.timestamp())),
            "createdAt": str(int(m.created_at.timestamp())), "description": m.description,
            "rail": m.rail, "livemode": m.livemode}


async def balance_transactions(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    merchant = _merchant(request, who)
    page = keyset_page_of(request, default_per_page=20)
    kind = query_choice(request, "type", MOVEMENT_TYPES)
    start, end = _epoch_param(request, "from"), _epoch_param(request, "to")
    found: KeyPage[BalanceTransaction] = KeyPage([], 0, False, None)
    if await _in_scope(request, who, merchant):
        async with request.app[POOL].acquire() as conn:
            found = await payouts_store.movements_page(
                conn, merchant_id=merchant, livemode=who.livemode, type=kind,
                currency=_currency(request), start=start, end=end, limit=page.per_page,
                offset=page.offset, after=page.after)
    return ok(Family.NORPAY, {"transactions": [_movement(m) for m in found.rows],
                              "pagination": page.of(found)})


# Payouts (NorPay) -------------------------------------------------------------------------

def render(p: Payout) -> dict[str, Any]:
    return p.norpay()


async def create_payout(request: web.Request) -> web.Response:
    who, company_id, merchant_id = merchant_caller(request)
    body = await read_json(request, CreatePayout)
    p = await payouts.create_requested(
        request.app, payouts.Book(company_id, merchant_id, who.livemode), body,
        now(request.app))
    async with request.app[POOL].acquire() as conn:
        p = await payouts_store.payout(conn, p.payout_id, company_id=None, merchant_id=None,
                                       livemode=None) or p
    return ok(Family.NORPAY, render(p), status=201, message="Payout created")


def _scope(who: Principal, request: web.Request) -> dict[str, Any]:
    company, merchant = tenant(request, who)
    return {"company_id": company, "merchant_id": merchant, "livemode": who.livemode}


async def get_payout(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        p = await payouts_store.payout(conn, request.match_info["payoutId"],
                                       **_scope(who, request))
    if p is None:
        raise ApiError(Errors.NOT_FOUND, resource="Payout")
    return ok(Family.NORPAY, render(p))


async def list_payouts(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    page = keyset_page_of(request, default_per_page=20)
    status = query_choice(request, "status", STATUSES)
    async with request.app[POOL].acquire() as conn:
        found = await payouts_store.payouts_page(
            conn, **_scope(who, request), status=status, start=_epoch_param(request, "from"),
            end=_epoch_param(request, "to"), search=query_text(request, "search"),
            limit=page.per_page, offset=page.offset, after=page.after)
    return ok(Family.NORPAY, {"payouts": [render(p) for p in found.rows],
                              "pagination": page.of(found)})


async def cancel_payout(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with uow(request.app) as work:
        p = await payouts_store.payout(work.conn, request.match_info["payoutId"],
                                       **_scope(who, request), for_update=True)
        if p is None:
            raise ApiError(Errors.NOT_FOUND, resource="Payout")
        await payouts.cancel(work, request.app[SETTINGS], p, now(request.app))
    async with request.app[POOL].acquire() as conn:
        p = await payouts_store.payout(conn, p.payout_id, company_id=None, merchant_id=None,
                                       livemode=None)
    assert p is not None
    return ok(Family.NORPAY, render(p), message="Payout canceled")


# Settlements (NORAH) ----------------------------------------------------------------------

NORAH_STATUS = {s.upper(): s for s in STATUSES}


def _major(minor: int, currency: str) -> Any:
    return to_major_number(Money(minor, get_currency(currency)))


def _settlement(p: Payout) -> dict[str, Any]:
    def at(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return {"settlementId": p.payout_id, "merchantId": p.merchant_id,
            "amount": _major(p.amount, p.currency), "fee": _major(p.fee, p.currency),
            "currency": p.currency, "status": p.status.upper(), "automatic": p.automatic,
            "settlementAccountId": p.settlement_account_id, "rail": p.rail,
            "destination": p.destination, "narration": p.description,
            "railReference": p.rail_reference, "failureReason": p.failure_reason,
            "createdAt": at(p.created_at), "paidAt": at(p.paid_at),
            "failedAt": at(p.failed_at), "canceledAt": at(p.canceled_at)}


def _day(request: web.Request, name: str) -> date | None:
    raw = query_text(request, name, max_length=10)
    if raw is None:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(Errors.VALIDATION, field=name,
                       detail=f"{name}: must be a date as YYYY-MM-DD") from None


async def list_settlements(request: web.Request) -> web.Response:
    """The company's payouts (ADMIN; ?merchantId= for one merchant) or the merchant's
    own (MERCHANT), in the NORAH envelope and pagination."""
    who = require(request, "ADMIN", "MERCHANT", "SUPER", allow_keys=True)
    page = keyset_page_of(request)
    raw = query_text(request, "status", max_length=20)
    if raw is not None and raw.upper() not in NORAH_STATUS:
        raise ApiError(Errors.VALIDATION, field="status",
                       detail="status: must be one of " + ", ".join(NORAH_STATUS))
    start, end = _day(request, "start_date"), _day(request, "end_date")
    if start and end and start > end:
        raise ApiError(Errors.VALIDATION, field="end_date",
                       detail="end_date: must not be before start_date")
    async with request.app[POOL].acquire() as conn:
        found = await payouts_store.payouts_page(
            conn, **_scope(who, request),
            status=NORAH_STATUS[raw.upper()] if raw else None,
            start=datetime.combine(start, time(), UTC) if start else None,
            end=datetime.combine(end + timedelta(days=1), time(), UTC) if end else None,
            search=query_text(request, "search"), limit=page.per_page, offset=page.offset,
            after=page.after)
    return ok(Family.NORAH, [_settlement(p) for p in found.rows],
              message="Settlements retrieved successfully",
              pagination=page.of(found))


# Internal ---------------------------------------------------------------------------------

def _service(request: web.Request) -> None:
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)


async def rail_callback(request: web.Request) -> web.Response:
    """Where a payout rail calls back (internal: never routed by the gateway)."""
    _service(request)
    body = await read_json(request)
    payout_id = body.get("payoutId")
    if not isinstance(payout_id, str) or not 0 < len(payout_id) <= 64:
        raise ApiError(Errors.VALIDATION, field="payoutId", detail="payoutId: required")
    p = await payouts.rail_called_back(request.app, payout_id, now(request.app))
    return json_response({"payoutId": p.payout_id, "status": p.status})


async def run_tick(request: web.Request) -> web.Response:
    """One payouts round now, optionally at `{"now": unix}` with a settable clock."""
    _service(request)
    body = await read_json(request)
    if body.get("now") is not None:
        set_clock(request.app, body["now"])
    report = await tick(request.app)
    return json_response({"ran": report is not None, **(report or {}),
                          "now": int(request.app[CLOCK].now().timestamp())})


def _setup(app: web.Application) -> None:
    app[payouts.TASKS] = set()
    app[payouts.CALLBACK_GATE] = asyncio.Semaphore(payouts.CALLBACKS_AT_ONCE)


ROUTES = Routes(
    get("/api/v2/balance", get_balance,
        "The balance per currency: pending, available, in transit (?currency=, "
        "?merchantId= for ADMIN and SUPER)", ("payouts",), response=answers.Balance),
    get("/api/v2/balance/upcoming", balance_upcoming,
        "What becomes available on which settlement day (?currency=)", ("payouts",),
        response=answers.UpcomingBalance),
    get("/api/v2/balance/transactions", balance_transactions,
        "Balance movements, newest first (?type=payment|fee|refund|payout|payout_fee|"
        "adjustment, ?currency=, ?from=, ?to= Unix seconds, page, per_page)",
        ("payouts",), response=answers.BalanceTransactionList),
    post("/api/v2/payouts/create", create_payout,
         "Pay out of the available balance to a settlement account (Idempotency-Key)",
         ("payouts",), request=CreatePayout, status=201, response=answers.Payout),
    get("/api/v2/payouts", list_payouts,
        "Payouts, newest first (?status=, ?from=, ?to=, ?search=, page, per_page)",
        ("payouts",), response=answers.PayoutList),
    get("/api/v2/payouts/{payoutId}", get_payout, "A payout with its timeline", ("payouts",),
        response=answers.Payout),
    post("/api/v2/payouts/{payoutId}/cancel", cancel_payout, "Cancel a pending payout",
         ("payouts",), response=answers.Payout),
    get("/api/v1/settlements", list_settlements,
        "Settlements (payouts) of the company or a merchant (?merchantId=, ?search=, "
        "?status=, ?start_date=, ?end_date=, page, per_page)", ("settlements",),
        response=list[answers.Settlement]),
    # The rails' callbacks and the tests' scheduler round: never routed by the gateway.
    post("/internal/rails/payouts/callback", rail_callback, None),
    post("/internal/payouts/tick", run_tick, None),
    setup=_setup,
)
