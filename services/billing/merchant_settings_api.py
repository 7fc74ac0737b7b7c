"""A merchant's money-out settings (NORAH /api/v1/admin/merchants/{merchantId}/...,
served by billing, NORAH envelope): its settlement accounts and its payout schedule.

Who may call: a SUPER user, an ADMIN of the merchant's company and the MERCHANT itself
(its own merchantId); its API keys may read. Any other merchant is 404 "Merchant not
found", as auth's merchant routes answer. Changing where money goes takes a signed-in
user: an API key cannot add, change or delete a settlement account.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from aiohttp import web

from services.billing import payout_schedules_store as schedules_store
from services.billing import settlement_accounts as sa
from services.billing import settlement_accounts_store as store
from services.billing.api import invalid
from services.billing.context import CLIENT, now, uow
from services.billing.domain import new_id
from services.billing.payout_schedule import PayoutSchedule, PayoutScheduleIn, PayoutScheduleOut
from shared.authz import require
from shared.crypto import SecretBox
from shared.events import UnitOfWork
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.pagination import page_of, query_text
from shared.http.routes import Routes, delete, get, post, put
from shared.internal_answers import MerchantAccount, MerchantUsers, handler_answer
from shared.logging import get_logger
from shared.money import MoneyError, get_currency
from shared.principal import Principal

log = get_logger(__name__)
ROLES = ("SUPER", "ADMIN", "MERCHANT")


@dataclass(frozen=True)
class Merchant:
    merchant_id: int
    company_id: int
    name: str


async def merchant_in_scope(request: web.Request, *, write: bool) -> tuple[Principal, Merchant]:
    """The caller and the path's merchant, which must be in the caller's scope (404)."""
    who = require(request, *ROLES, allow_keys=True)
    if write and who.kind != "user":  # an API key reads; only a person moves the money
        raise ApiError(Errors.FORBIDDEN)
    raw = request.match_info["merchantId"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    merchant_id = int(raw)
    if who.role == "MERCHANT" and merchant_id != int(who.merchant_id or 0):
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    body = await request.app[CLIENT].get_json("auth", f"/internal/merchants/{merchant_id}")
    found = None if body is None else handler_answer(MerchantAccount, body, "auth")
    if found is None or (who.role != "SUPER"
                         and found.company_id != int(who.company_id or 0)):
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    return who, Merchant(merchant_id=merchant_id, company_id=found.company_id,
                         name=found.merchant_name or f"Merchant {merchant_id}")


def box(request: web.Request) -> SecretBox:
    return store.sealer(request.app[SETTINGS])


# Settlement accounts ---------------------------------------------------------------------

@dataclass(frozen=True)
class Recipients:
    emails: list[str]
    actor: str


async def recipients(request: web.Request, who: Principal, merchant: Merchant) -> Recipients:
    """Whom to mail of a change (asked before the transaction: a slow auth never holds
    the merchant's lock), and how the mail names the caller."""
    body = await request.app[CLIENT].get_json(
        "auth", f"/internal/merchants/{merchant.merchant_id}/users")
    if body is None:
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    found = handler_answer(MerchantUsers, body, "auth")
    own = next((u.email for u in found.users if u.user_id == str(who.subject)), None)
    return Recipients(emails=list(found.emails),
                      actor=sa.actor_label(role=who.role, user_id=who.subject, email=own))


def mail(work: UnitOfWork, to: Recipients, *, action: sa.Action, account: sa.SettlementAccount,
         merchant: Merchant, at: datetime, changed: list[str] | None = None) -> None:
    # One message per person: the merchant's users do not see each other's addresses.
    for email in to.emails:
        work.emit("email.requested", sa.change_email(
            to=email, action=action, account=account, merchant_name=merchant.name,
            actor=to.actor, at=at, changed=changed),
            company_id=str(merchant.company_id), merchant_id=str(merchant.merchant_id))


def _sealed(request: web.Request, values: sa.AccountValues,
            current: sa.SettlementAccount) -> tuple[sa.AccountValues, str | None]:
    """The values with a number equal to the stored one dropped (kept, not a change), and
    the new number sealed (None: keep the stored one)."""
    if values.number is None:
        return values, None
    if values.number == box(request).open(current.number_sealed):
        return replace(values, number=None), None
    return values, box(request).seal(values.number)


def _account_id(request: web.Request) -> str:
    raw = request.match_info["settlementAccountId"]
    if not sa.ID.match(raw):
        raise ApiError(Errors.NOT_FOUND, resource="Settlement account")
    return raw


def _answer(account: sa.SettlementAccount) -> dict:
    return account.render().model_dump(by_alias=True)


async def create_account(request: web.Request) -> web.Response:
    who, merchant = await merchant_in_scope(request, write=True)
    body = await read_json(request, sa.SettlementAccountIn)
    try:
        values = body.values()
    except ValueError as exc:
        raise invalid(exc) from None
    if values.number is None:  # values() requires one of a new account
        raise ApiError(Errors.VALIDATION, field="accountNumber", detail="accountNumber: required")
    sealed, last4 = box(request).seal(values.number), values.number[-4:]
    to = await recipients(request, who, merchant)
    at = now(request.app)
    async with uow(request.app) as work:
        await store.lock_merchant(work.conn, merchant.merchant_id)
        others = await store.others_in_currency(work.conn, merchant_id=merchant.merchant_id,
                                                currency=values.currency)
        is_default = sa.default_on_create(body.is_default, others_in_currency=others)
        if is_default:
            await store.clear_default(work.conn, merchant_id=merchant.merchant_id,
                                      currency=values.currency, now=at)
        account = await store.insert(
            work.conn, settlement_account_id=new_id("sa"), company_id=merchant.company_id,
            merchant_id=merchant.merchant_id, values=values, number_sealed=sealed,
            number_last4=last4, is_default=is_default, now=at)
        # The first account gives the merchant the default schedule (daily), so the
        # scheduler starts paying it out.
        day = request.app[SETTINGS].payout_day_seconds
        await schedules_store.ensure_default(
            work.conn, company_id=merchant.company_id, merchant_id=merchant.merchant_id,
            next_run_at=PayoutSchedule().next_run(at, day_seconds=day), now=at)
        mail(work, to, action="added", account=account, merchant=merchant, at=at)
    log.info("settlement_account_added", settlement_account_id=account.settlement_account_id,
             merchant_id=merchant.merchant_id, account=account.label,
             is_default=account.is_default, by=who.subject)
    return ok(Family.NORAH, _answer(account), status=201,
              message="Settlement account added successfully")


async def list_accounts(request: web.Request) -> web.Response:
    _, merchant = await merchant_in_scope(request, write=False)
    page = page_of(request)
    currency = query_text(request, "currency", max_length=16)
    if currency is not None:
        try:
            currency = get_currency(currency).code
        except MoneyError as exc:
            raise ApiError(Errors.VALIDATION, field="currency",
                           detail=f"currency: {exc.message}") from None
    async with request.app[POOL].acquire() as conn:
        accounts, total, estimated = await store.accounts_page(
            conn, merchant_id=merchant.merchant_id, currency=currency, limit=page.per_page,
            offset=page.offset)
    return ok(Family.NORAH, [_answer(a) for a in accounts],
              message="Settlement accounts retrieved successfully",
              pagination=page.envelope(total, total_is_estimate=estimated))


async def get_account(request: web.Request) -> web.Response:
    _, merchant = await merchant_in_scope(request, write=False)
    async with request.app[POOL].acquire() as conn:
        account = await store.account(conn, _account_id(request),
                                      merchant_id=merchant.merchant_id)
    if account is None:
        raise ApiError(Errors.NOT_FOUND, resource="Settlement account")
    return ok(Family.NORAH, _answer(account),
              message="Settlement account retrieved successfully")


async def _locked(work: UnitOfWork, request: web.Request,
                  merchant: Merchant) -> sa.SettlementAccount:
    await store.lock_merchant(work.conn, merchant.merchant_id)
    account = await store.account(work.conn, _account_id(request),
                                  merchant_id=merchant.merchant_id, for_update=True)
    if account is None:
        raise ApiError(Errors.NOT_FOUND, resource="Settlement account")
    return account


async def replace_account(request: web.Request) -> web.Response:
    who, merchant = await merchant_in_scope(request, write=True)
    account_id = _account_id(request)
    body = await read_json(request, sa.SettlementAccountIn)
    to = await recipients(request, who, merchant)
    at = now(request.app)
    async with uow(request.app) as work:
        current = await _locked(work, request, merchant)
        try:
            values, sealed = _sealed(request, body.values(current), current)
        except ValueError as exc:
            raise invalid(exc) from None
        others = await store.others_in_currency(
            work.conn, merchant_id=merchant.merchant_id, currency=values.currency,
            except_pk=current.pk)
        is_default = sa.default_on_change(body.is_default, current=current,
                                          currency=values.currency, others_in_currency=others)
        changed = sa.changes(current, values, is_default=is_default)
        account = current
        if changed:
            if is_default:
                await store.clear_default(work.conn, merchant_id=merchant.merchant_id,
                                          currency=values.currency, now=at)
            account = await store.update(
                work.conn, current.pk, values=values, number_sealed=sealed,
                number_last4=values.number[-4:] if values.number else None,
                is_default=is_default, now=at)
            # Named as it was: the mail says what the account known to them became.
            mail(work, to, action="changed", account=current, merchant=merchant, at=at,
                 changed=changed)
    if changed:
        log.info("settlement_account_changed", settlement_account_id=account_id,
                 merchant_id=merchant.merchant_id, account=account.label, changed=changed,
                 by=who.subject)
    return ok(Family.NORAH, _answer(account), message="Settlement account updated successfully")


async def delete_account(request: web.Request) -> web.Response:
    who, merchant = await merchant_in_scope(request, write=True)
    to = await recipients(request, who, merchant)
    at = now(request.app)
    async with uow(request.app) as work:
        current = await _locked(work, request, merchant)
        account = await store.soft_delete(work.conn, current.pk, now=at)
        changed = [f"it was the default {current.currency} account; that currency now has "
                   "none"] if current.is_default else None
        mail(work, to, action="deleted", account=current, merchant=merchant, at=at,
             changed=changed)
    log.info("settlement_account_deleted", settlement_account_id=account.settlement_account_id,
             merchant_id=merchant.merchant_id, account=account.label, by=who.subject)
    return ok(Family.NORAH, _answer(account), message="Settlement account deleted successfully")


# Payout schedule -------------------------------------------------------------------------

async def get_schedule(request: web.Request) -> web.Response:
    _, merchant = await merchant_in_scope(request, write=False)
    async with request.app[POOL].acquire() as conn:
        found = await schedules_store.stored(conn, merchant.merchant_id)
    # No row yet: the defaults, and no automatic run until the first settlement account.
    answer = PayoutScheduleOut.of(merchant.merchant_id, PayoutSchedule(), next_run_at=None,
                                  updated_at=None) if found is None else PayoutScheduleOut.of(
        merchant.merchant_id, found.schedule, next_run_at=found.next_run_at,
        updated_at=found.updated_at)
    return ok(Family.NORAH, answer.model_dump(by_alias=True),
              message="Payout schedule retrieved successfully")


async def put_schedule(request: web.Request) -> web.Response:
    who, merchant = await merchant_in_scope(request, write=True)
    body = await read_json(request, PayoutScheduleIn)
    try:
        schedule = body.schedule()
    except ValueError as exc:
        raise invalid(exc) from None
    at = now(request.app)
    next_run_at = schedule.next_run(at, day_seconds=request.app[SETTINGS].payout_day_seconds)
    async with request.app[POOL].acquire() as conn:
        saved = await schedules_store.put(conn, company_id=merchant.company_id,
                                          merchant_id=merchant.merchant_id, schedule=schedule,
                                          next_run_at=next_run_at, now=at)
    log.info("payout_schedule_set", merchant_id=merchant.merchant_id,
             interval=schedule.interval, by=who.subject)
    answer = PayoutScheduleOut.of(merchant.merchant_id, saved.schedule,
                                  next_run_at=saved.next_run_at, updated_at=saved.updated_at)
    return ok(Family.NORAH, answer.model_dump(by_alias=True),
              message="Payout schedule updated successfully")


_BASE = "/api/v1/admin/merchants/{merchantId}"


_TAGS = ("billing", "payouts")
ROUTES = Routes(
    post(f"{_BASE}/settlement-accounts", create_account,
         "Add a settlement account: BANK (bankName, branchCode, accountName, "
         "accountNumber) or a wallet ECOCASH | OMARI | INNBUCKS (phoneNumber 263...); "
         "the first of a currency is its default. E-mails the merchant's users",
         _TAGS, request=sa.SettlementAccountIn, response=sa.SettlementAccountOut,
         status=201),
    get(f"{_BASE}/settlement-accounts", list_accounts,
        "The merchant's settlement accounts, numbers masked (?currency=&page=&per_page=)",
        _TAGS, response=list[sa.SettlementAccountOut]),
    get(f"{_BASE}/settlement-accounts/{{settlementAccountId}}", get_account,
        "Get a settlement account (number masked)", _TAGS,
        response=sa.SettlementAccountOut),
    put(f"{_BASE}/settlement-accounts/{{settlementAccountId}}", replace_account,
        "Replace a settlement account (the number may be left out while the type "
        "stays); isDefault true makes it its currency's default. E-mails the "
        "merchant's users", _TAGS, request=sa.SettlementAccountIn,
        response=sa.SettlementAccountOut),
    delete(f"{_BASE}/settlement-accounts/{{settlementAccountId}}", delete_account,
           "Delete a settlement account (a deleted default leaves its currency without "
           "one). E-mails the merchant's users", _TAGS, response=sa.SettlementAccountOut),
    get(f"{_BASE}/payout-schedule", get_schedule,
        "The merchant's payout schedule (the defaults, daily with a 2-day delay, "
        "until set)", _TAGS, response=PayoutScheduleOut),
    put(f"{_BASE}/payout-schedule", put_schedule,
        "Set the payout schedule: interval manual | daily | weekly (weeklyAnchor) | "
        "monthly (monthlyAnchor 1..31, the last day in shorter months), delayDays, "
        "minimumAmount (minor units)", _TAGS, request=PayoutScheduleIn,
        response=PayoutScheduleOut),
)
