"""NorLedger routes (/api/v2/ledger): entries, balances, trial balance, reversals,
the settlement report; and the merchant dashboard (/api/v2/merchants/dashboard).
Each reads the book of the caller's mode only (docs/modes.md)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from services.billing import answers, ledger, ledger_store, payouts, projections
from services.billing.context import now, uow
from shared.authz import company_scope, merchant_scope, require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.pagination import keyset_page_of, query_text
from shared.http.routes import Routes, get, post
from shared.money import CURRENCIES, get_currency
from shared.principal import Principal


def tenant(request: web.Request, who: Principal) -> tuple[int | None, int | None]:
    """(company, merchant) the caller reads: a MERCHANT its own; an ADMIN its company or
    one of its merchants (?merchantId=); SUPER anything (?companyId=, ?merchantId=)."""
    company, merchant = company_scope(who), merchant_scope(who)
    for name in ("companyId", "merchantId"):
        raw = request.query.get(name)
        if raw is None or (name == "companyId" and who.role != "SUPER") or \
                (name == "merchantId" and who.role == "MERCHANT"):
            continue
        if not (raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18):
            raise ApiError(Errors.VALIDATION, field=name, detail=f"{name}: must be an id")
        if name == "companyId":
            company = int(raw)
        else:
            merchant = int(raw)
    return company, merchant


def _units(value) -> str:
    return str(int(value))


def _entry(row) -> dict:
    amount = int(row["amount"])
    return {"entryId": str(row["id"]), "transactionId": row["transaction_id"],
            "referenceType": row["reference_type"], "referenceId": row["reference_id"],
            "description": row["description"], "account": row["code"],
            "accountName": row["name"], "direction": row["direction"],
            "amount": str(amount), "currency": row["currency"],
            "display": ledger.describe(row["direction"], row["name"], amount, row["currency"]),
            "reverses": row["reverses"], "merchantId": row["merchant_id"],
            "livemode": row["livemode"], "postedAt": str(int(row["posted_at"].timestamp()))}


async def list_entries(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    company, merchant = tenant(request, who)
    page = keyset_page_of(request, default_per_page=50, key=int)
    async with request.app[POOL].acquire() as conn:
        found = await ledger_store.entries(
            conn, company_id=company, merchant_id=merchant, livemode=who.livemode,
            reference_type=query_text(request, "referenceType", max_length=50),
            reference_id=query_text(request, "referenceId", max_length=100),
            account_code=query_text(request, "account", max_length=100),
            limit=page.per_page, offset=page.offset, after=page.after)
    return ok(Family.NORPAY, {"entries": [_entry(r) for r in found.rows],
                              "pagination": page.of(found)})


def _account(row) -> dict:
    debits, credits = int(row["debits"]), int(row["credits"])
    return {"account": row["code"], "name": row["name"], "type": row["type"],
            "currency": row["currency"], "merchantId": row["merchant_id"],
            "livemode": row["livemode"], "debits": str(debits), "credits": str(credits),
            "balance": str(ledger.balance(row["type"], debits, credits))}


async def list_accounts(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    company, merchant = tenant(request, who)
    async with request.app[POOL].acquire() as conn:
        rows = await ledger_store.accounts(conn, company_id=company, merchant_id=merchant,
                                           livemode=who.livemode)
    return ok(Family.NORPAY, [_account(r) for r in rows])


async def trial_balance(request: web.Request) -> web.Response:
    """Per currency: each account's net balance in the debit or credit column; the
    columns' totals are equal when the books balance."""
    who = require(request, allow_keys=True)
    company, merchant = tenant(request, who)
    async with request.app[POOL].acquire() as conn:
        rows = await ledger_store.accounts(conn, company_id=company, merchant_id=merchant,
                                           livemode=who.livemode)
    out: dict[str, dict] = {}
    for row in rows:
        net = int(row["debits"]) - int(row["credits"])
        book = out.setdefault(row["currency"], {"currency": row["currency"], "accounts": [],
                                                "totalDebits": 0, "totalCredits": 0})
        book["accounts"].append({"account": row["code"], "name": row["name"],
                                 "merchantId": row["merchant_id"],
                                 "debit": str(max(net, 0)), "credit": str(max(-net, 0))})
        book["totalDebits"] += max(net, 0)
        book["totalCredits"] += max(-net, 0)
    books = []
    for book in out.values():
        book["balanced"] = book["totalDebits"] == book["totalCredits"]
        book["totalDebits"], book["totalCredits"] = str(book["totalDebits"]), \
            str(book["totalCredits"])
        books.append(book)
    return ok(Family.NORPAY, {"currencies": books, "livemode": who.livemode,
                              "balanced": all(b["balanced"] for b in books)})


async def reverse(request: web.Request) -> web.Response:
    """A correction: post the transaction's mirror image (entries are never changed)."""
    who = require(request, "SUPER", "ADMIN")
    async with uow(request.app) as work:
        original = await ledger_store.transaction(
            work.conn, request.match_info["transactionId"], company_id=company_scope(who),
            merchant_id=None, livemode=who.livemode)
        if original is None:
            raise ApiError(Errors.NOT_FOUND, resource="Ledger transaction")
        if original["reverses"] is not None or await ledger_store.is_reversed(
                work.conn, original["id"]):
            raise ApiError(Errors.CONFLICT,
                           detail="This transaction is a reversal or is already reversed")
        if original["reference_type"] in ledger.MONEY_OUT_TYPES:
            raise ApiError(Errors.CONFLICT, detail=(
                "Postings of a payout or a release follow the payout's own state; cancel "
                "the payout (or let its rail fail it) instead of reversing them"))
        posting = ledger.Posting(original["reference_type"], original["reference_id"],
                                 original["description"], original["currency"],
                                 await ledger_store.transaction_lines(work.conn, original["id"]))
        mirror = ledger.reversal(posting, original["transaction_id"])
        tx_id = await ledger_store.post(
            work.conn, mirror, company_id=original["company_id"],
            merchant_id=original["merchant_id"], livemode=original["livemode"],
            reverses=original["id"])
        # ...and the merchant's balance moves with it (an adjustment movement)
        await payouts.record_adjustment(work.conn, mirror, tx_id,
                                        company_id=original["company_id"],
                                        merchant_id=original["merchant_id"],
                                        livemode=original["livemode"], at=now(request.app))
        work.emit("ledger.transaction_reversed", {
            "transactionId": tx_id, "reverses": original["transaction_id"],
            "referenceType": original["reference_type"],
            "referenceId": original["reference_id"], "livemode": original["livemode"]},
            company_id=str(original["company_id"]), merchant_id=str(original["merchant_id"]))
    return ok(Family.NORPAY, {"transactionId": tx_id, "reverses": original["transaction_id"],
                              "livemode": original["livemode"]}, status=201)


# Periods --------------------------------------------------------------------------------

PERIODS = ("today", "week", "month", "year")


def period_start(period: str, at: datetime) -> datetime:
    """Calendar periods to date, in UTC: since midnight, Monday, the 1st, 1 January."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "today":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _period(request: web.Request) -> str:
    period = request.query.get("period", "month")
    if period not in PERIODS:
        raise ApiError(Errors.VALIDATION, field="period",
                       detail="period: must be one of today, week, month, year")
    return period


def _currency(request: web.Request) -> str:
    return get_currency(request.query.get("currency", "NOR")).code


async def dashboard(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    company, merchant = tenant(request, who)
    at = now(request.app)
    since = period_start(_period(request), at)
    async with request.app[POOL].acquire() as conn:
        d = await projections.dashboard(conn, company_id=company, merchant_id=merchant,
                                        livemode=who.livemode, since=since,
                                        currency=_currency(request), now=at)
    counts, subs = d["counts"], d["subscriptions"]
    return ok(Family.NORPAY, {
        "revenue": {k: _units(d["revenue"][k]) for k in ("total", "payments", "subscriptions")},
        "payments": {"total": sum(counts.values()), "completed": counts.get("completed", 0),
                     "pending": counts.get("pending", 0) + counts.get("processing", 0),
                     "failed": counts.get("failed", 0), "canceled": counts.get("canceled", 0),
                     "refunded": counts.get("refunded", 0)},
        "subscriptions": {s: subs.get(s, 0) for s in ("active", "trialing", "past_due",
                                                        "canceled")},
        "customers": {"total": d["customers"]["total"], "new": d["customers"]["new"]},
        "topProducts": [{"name": r["product"], "revenue": _units(r["revenue"]),
                         "count": r["n"]} for r in d["top"]],
        "period": request.query.get("period", "month"), "since": str(int(since.timestamp())),
        "currency": _currency(request), "livemode": who.livemode,
    })


# The dashboard's series ------------------------------------------------------------------

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
SERIES_MAX_DAYS = 366  # a custom range's buckets: a year of days at most
SERIES_HOURLY_UP_TO = timedelta(hours=48)  # a custom range this short is read by the hour


@dataclass(frozen=True)
class SeriesWindow:
    """The series' buckets: `count` of `step` from `start` (this period, to `end`) and
    from `previous` (the previous period, its buckets before `previous_end`)."""

    period: str
    step: timedelta
    start: datetime
    end: datetime
    previous: datetime
    previous_end: datetime
    count: int


def _previous_start(period: str, start: datetime) -> datetime:
    """The previous calendar period's first moment: yesterday, last Monday, the 1st of
    last month, 1 January of last year."""
    if period == "today":
        return start - DAY
    if period == "week":
        return start - 7 * DAY
    if period == "month":
        return (start - DAY).replace(day=1)
    return start.replace(year=start.year - 1)


def _floor(at: datetime, step: timedelta) -> datetime:
    at = at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0) if step == DAY else at


def series_window(request: web.Request, at: datetime) -> SeriesWindow:
    """A calendar period to date (?period=, as the dashboard's) compared with the same
    stretch of the previous one (the 1st to the 8th with last month's 1st to 8th), or
    ?from=&to= (Unix seconds) compared with as long a range just before it. Whole UTC
    hours (today, or a custom range of up to 48 hours) or days: a custom range's ends
    round out to them."""
    start_at, end_at = _epoch_param(request, "from"), _epoch_param(request, "to")
    if start_at is None and end_at is None:
        period = _period(request)
        start = period_start(period, at)
        step = HOUR if period == "today" else DAY
        count = max(1, -(-(at - start) // step))  # the running bucket included
        previous = _previous_start(period, start)
        return SeriesWindow(period, step, start, at, previous,
                            min(previous + count * step, start), count)
    if start_at is None or end_at is None:
        missing = "from" if start_at is None else "to"
        raise ApiError(Errors.VALIDATION, field=missing,
                       detail=f"{missing}: give both from and to (Unix seconds), or period")
    if "period" in request.query:
        raise ApiError(Errors.VALIDATION, field="period",
                       detail="period: give either period or from and to, not both")
    if end_at <= start_at:
        raise ApiError(Errors.VALIDATION, field="to", detail="to: must be after from")
    if end_at - start_at > SERIES_MAX_DAYS * DAY:
        raise ApiError(Errors.VALIDATION, field="to",
                       detail=f"to: at most {SERIES_MAX_DAYS} days after from")
    step = HOUR if end_at - start_at <= SERIES_HOURLY_UP_TO else DAY
    start = _floor(start_at, step)
    count = -(-(end_at - start) // step)
    return SeriesWindow("custom", step, start, end_at, start - count * step, start, count)


def _figures(revenue: int = 0, completed: int = 0, failed: int = 0) -> dict:
    return {"revenue": str(revenue), "completed": completed, "failed": failed}


def _series_of(window: SeriesWindow, counts: list, revenue: list) -> list[dict]:
    """Per currency: each bucket of this period with the previous period's beside it,
    and both periods' totals. A currency with no row in either period is left out."""
    def key(bucket) -> datetime:  # a day rollup's date as its UTC midnight
        if isinstance(bucket, datetime):
            return bucket.astimezone(UTC)
        return datetime(bucket.year, bucket.month, bucket.day, tzinfo=UTC)

    cells: dict[tuple[str, datetime], list[int]] = {}
    for row in counts:
        cell = cells.setdefault((row["currency"], key(row["bucket"])), [0, 0, 0])
        cell[1], cell[2] = int(row["completed"]), int(row["failed"])
    for row in revenue:
        cells.setdefault((row["currency"], key(row["bucket"])), [0, 0, 0])[0] = \
            int(row["revenue"])
    out = []
    for currency in sorted({c for c, _ in cells}):
        totals = {"current": [0, 0, 0], "previous": [0, 0, 0]}
        buckets = []
        for i in range(window.count):
            at, then = window.start + i * window.step, window.previous + i * window.step
            now_cell = cells.get((currency, at), [0, 0, 0])
            totals["current"] = [a + b for a, b in zip(totals["current"], now_cell,
                                                       strict=True)]
            previous = None
            if then < window.previous_end:
                then_cell = cells.get((currency, then), [0, 0, 0])
                totals["previous"] = [a + b for a, b in zip(totals["previous"], then_cell,
                                                            strict=True)]
                previous = {"start": str(int(then.timestamp())), **_figures(*then_cell)}
            buckets.append({"start": str(int(at.timestamp())), **_figures(*now_cell),
                            "previous": previous})
        out.append({"currency": currency, "current": _figures(*totals["current"]),
                    "previous": _figures(*totals["previous"]), "buckets": buckets})
    return out


async def dashboard_series(request: web.Request) -> web.Response:
    """Revenue and payments per hour or day of a period, with the previous period's
    beside them, per currency (docs/billing.md, Dashboard series)."""
    who = require(request, allow_keys=True)
    company, merchant = tenant(request, who)
    window = series_window(request, now(request.app))
    async with request.app[POOL].acquire() as conn:
        counts, revenue = await projections.dashboard_series(
            conn, company_id=company, merchant_id=merchant, livemode=who.livemode,
            hourly=window.step == HOUR, start=window.previous,
            end=window.start + window.count * window.step, currencies=list(CURRENCIES))
    return ok(Family.NORPAY, {
        "period": window.period, "granularity": "hour" if window.step == HOUR else "day",
        "current": {"start": str(int(window.start.timestamp())),
                    "end": str(int(window.end.timestamp()))},
        "previous": {"start": str(int(window.previous.timestamp())),
                     "end": str(int(window.previous_end.timestamp()))},
        "currencies": _series_of(window, counts, revenue), "livemode": who.livemode})


SETTLEMENT_COLUMNS = ("merchantId", "currency", "periodStart", "periodEnd", "gross", "charges",
                      "refunds", "net", "payments", "refundCount")


def _epoch_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 11):
        raise ApiError(Errors.VALIDATION, field=name, detail=f"{name}: must be Unix seconds")
    return datetime.fromtimestamp(int(raw), UTC)


async def settlement(request: web.Request) -> web.Response:
    """Payout report of one merchant: `from`/`to` (Unix seconds) or `period`."""
    who = require(request, allow_keys=True)
    company, merchant = tenant(request, who)
    if merchant is None:
        raise ApiError(Errors.VALIDATION, field="merchantId",
                       detail="merchantId: choose the merchant the report is for")
    clock = now(request.app)
    start = _epoch_param(request, "from") or period_start(_period(request), clock)
    end = _epoch_param(request, "to") or clock
    if end <= start:
        raise ApiError(Errors.VALIDATION, field="to", detail="to: must be after from")
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(Errors.VALIDATION, field="format", detail="format: json or csv")
    async with request.app[POOL].acquire() as conn:
        if company is not None and not await ledger_store.merchant_of_company(
                conn, merchant, company):
            rows = []  # another company's merchant reads as one with no activity
        else:
            rows = await ledger_store.settlement(conn, merchant_id=merchant,
                                                 livemode=who.livemode, start=start, end=end)
    report = [{
        "merchantId": merchant, "currency": r["currency"],
        "periodStart": str(int(start.timestamp())), "periodEnd": str(int(end.timestamp())),
        "gross": _units(r["gross"]), "charges": _units(r["charges"]),
        "refunds": _units(r["refunds"]),
        "net": _units(int(r["gross"]) - int(r["charges"]) - int(r["refunds"])),
        "payments": r["payments"], "refundCount": r["refund_count"]} for r in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=SETTLEMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(report)
        return web.Response(text=out.getvalue(), content_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="settlement-{merchant}.csv"'})
    return ok(Family.NORPAY, {"merchantId": merchant, "periodStart": str(int(start.timestamp())),
                              "periodEnd": str(int(end.timestamp())), "livemode": who.livemode,
                              "currencies": report})


ROUTES = Routes(
    get("/api/v2/ledger/entries", list_entries,
        "Ledger entries (referenceType, referenceId, account, page, per_page)",
        ("ledger",), response=answers.LedgerEntryList),
    get("/api/v2/ledger/accounts", list_accounts, "Account balances", ("ledger",),
        response=list[answers.LedgerAccountList]),
    get("/api/v2/ledger/trial-balance", trial_balance, "Trial balance per currency", ("ledger",),
        response=answers.TrialBalance),
    post("/api/v2/ledger/transactions/{transactionId}/reverse", reverse,
         "Post a reversing transaction (ADMIN, SUPER)", ("ledger",), status=201,
         response=answers.LedgerReversal),
    get("/api/v2/ledger/settlement", settlement,
        "Payout report (gross, charges, refunds, net): from, to or period; format=csv",
        ("ledger",), response=answers.SettlementReport),
    get("/api/v2/merchants/dashboard", dashboard,
        "Merchant statistics (period=today|week|month|year)", ("merchants",),
        response=answers.Dashboard),
    get("/api/v2/merchants/dashboard/series", dashboard_series,
        "Revenue and completed and failed payments per hour (today) or day of a "
        "period, with the previous period's beside them, per currency "
        "(period=today|week|month|year, or from and to in Unix seconds)",
        ("merchants",), response=answers.DashboardSeries, extra={"parameters": [
            {"name": "period", "in": "query", "required": False,
             "schema": {"type": "string", "enum": list(PERIODS), "default": "month"}},
            {"name": "from", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^[0-9]{1,11}$"},
             "description": "Unix seconds, with to (at most 366 days apart)"},
            {"name": "to", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^[0-9]{1,11}$"}},
            {"name": "merchantId", "in": "query", "required": False,
             "schema": {"type": "string"},
             "description": "ADMIN, SUPER: one of their merchants"}]}),
)
