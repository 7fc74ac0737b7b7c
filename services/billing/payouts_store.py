"""SQL of money out: balances (ledger accounts), balance transactions, payouts and
their timeline, and what the payouts tick picks up (docs/payouts.md)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from services.billing import ledger
from services.billing.balances import (
    DEFAULT_DELAY_DAYS,
    Balance,
    BalanceTransaction,
    Movement,
)
from services.billing.domain import new_id
from services.billing.payout import Payout, TimelineEntry
from services.billing.payout_schedule import PayoutSchedule
from shared.db import KeyPage, Position, bounded_total, keyset_after, last_of, snapshot

_BALANCE_CODES = [ledger.PENDING_CODE, ledger.AVAILABLE.code, ledger.IN_TRANSIT.code]


# Balances --------------------------------------------------------------------------------

def _balances(rows) -> list[Balance]:
    by_currency: dict[str, dict[str, int]] = {}
    for r in rows:
        by_currency.setdefault(r["currency"], {})[r["code"]] = ledger.balance(
            "asset", int(r["debits"]), int(r["credits"]))
    return [Balance.of_accounts(currency, values)
            for currency, values in sorted(by_currency.items())]


async def balances(conn, *, merchant_id: int, livemode: bool,
                   currency: str | None = None) -> list[Balance]:
    """The merchant's balance per currency in one mode: three account rows each."""
    rows = await conn.fetch(
        """SELECT code, currency, debits, credits FROM ledger_accounts
            WHERE merchant_id = $1 AND livemode = $2 AND code = ANY($3::text[])
              AND ($4::text IS NULL OR currency = $4)""",
        merchant_id, livemode, _BALANCE_CODES, currency)
    return _balances(rows)


async def lock_balance(conn, *, merchant_id: int, livemode: bool, currency: str) -> Balance:
    """The balance, its accounts locked (in the order postings lock them) until the
    transaction ends: payouts made at once never both spend the same funds."""
    rows = await conn.fetch(
        """SELECT code, currency, debits, credits FROM ledger_accounts
            WHERE merchant_id = $1 AND livemode = $2 AND currency = $3
              AND code = ANY($4::text[]) ORDER BY code FOR UPDATE""",
        merchant_id, livemode, currency, _BALANCE_CODES)
    found = _balances(rows)
    return found[0] if found else Balance(currency=currency)


@dataclass(frozen=True)
class Book:
    """A merchant's book of one mode and currency, with what is available in it."""
    merchant_id: int
    company_id: int
    livemode: bool
    currency: str
    available: int


async def available_books(conn, merchant_ids: list[int]) -> list[Book]:
    rows = await conn.fetch(
        """SELECT merchant_id, company_id, livemode, currency, debits - credits AS available
             FROM ledger_accounts
            WHERE merchant_id = ANY($1::bigint[]) AND code = $2 AND debits - credits > 0
            ORDER BY merchant_id, livemode, currency""",
        merchant_ids, ledger.AVAILABLE.code)
    return [Book(r["merchant_id"], r["company_id"], r["livemode"], r["currency"],
                 int(r["available"])) for r in rows]


# Balance transactions -------------------------------------------------------------------

@dataclass(frozen=True)
class NewMovement:
    """A movement with whose book it is in and what it came from."""
    movement: Movement
    company_id: int
    merchant_id: int
    livemode: bool
    at: datetime
    event_id: uuid.UUID | None = None
    ledger_transaction_id: str | None = None


async def record(conn, items: list[NewMovement]) -> None:
    """Balance transactions, all in one statement; a movement of an event recorded
    before (a redelivery the inbox let through) is skipped."""
    if not items:
        return
    m = [i.movement for i in items]
    await conn.execute(
        """INSERT INTO balance_transactions (balance_transaction_id, company_id, merchant_id,
               livemode, currency, type, source_id, amount, description, available_on,
               released, rail, trace, rail_reference, ledger_transaction_id, event_id,
               created_at)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::boolean[],
               $5::text[], $6::text[], $7::text[], $8::numeric[], $9::text[],
               $10::timestamptz[], $11::boolean[], $12::text[], $13::text[], $14::text[],
               $15::text[], $16::uuid[], $17::timestamptz[])
           ON CONFLICT (event_id, type) WHERE event_id IS NOT NULL DO NOTHING""",
        [new_id("btx") for _ in items], [i.company_id for i in items],
        [i.merchant_id for i in items], [i.livemode for i in items],
        [x.currency for x in m], [x.type for x in m], [x.source_id for x in m],
        [x.amount for x in m], [x.description for x in m], [x.available_on for x in m],
        [x.released for x in m], [x.rail for x in m], [x.trace for x in m],
        [x.rail_reference for x in m], [i.ledger_transaction_id for i in items],
        [i.event_id for i in items], [i.at for i in items])


async def payment_availability(conn, payment_id: str) -> datetime | None:
    """When a payment's funds become available, while they are still pending; None
    once they are available (or unknown)."""
    return await conn.fetchval(
        """SELECT available_on FROM balance_transactions
            WHERE source_id = $1 AND type = 'payment' AND NOT released LIMIT 1""",
        payment_id)


def _movement(r) -> BalanceTransaction:
    return BalanceTransaction(
        balance_transaction_id=r["balance_transaction_id"], merchant_id=r["merchant_id"],
        livemode=r["livemode"], type=r["type"], source_id=r["source_id"],
        amount=int(r["amount"]), currency=r["currency"], description=r["description"],
        available_on=r["available_on"], released=r["released"], rail=r["rail"],
        trace=r["trace"], rail_reference=r["rail_reference"], created_at=r["created_at"])


async def movements_page(conn, *, merchant_id: int, livemode: bool, type: str | None,
                         currency: str | None, start: datetime | None, end: datetime | None,
                         limit: int, offset: int, after: Position | None = None
                         ) -> KeyPage[BalanceTransaction]:
    """A page newest first through balance_transactions_merchant(_type), from `after`
    (a keyset cursor's position) or `offset`; the total is of the whole filter."""
    where = ["merchant_id = $1", "livemode = $2"]
    args: list = [merchant_id, livemode]
    for clause, value in (("type = ${}", type), ("currency = ${}", currency),
                          ("created_at >= ${}", start), ("created_at < ${}", end)):
        if value is not None:
            args.append(value)
            where.append(clause.format(len(args)))
    sql = " AND ".join(where)
    newest_first = "ORDER BY created_at DESC, id DESC"
    page_args = list(args)
    start_at = keyset_after(page_args, "created_at, id", after)
    async with snapshot(conn):
        total, estimated = await bounded_total(
            conn, f"FROM balance_transactions WHERE {sql}", *args, order_by=newest_first)
        rows = await conn.fetch(
            f"""SELECT * FROM balance_transactions WHERE {sql} AND {start_at}
                {newest_first} LIMIT {int(limit) + 1} OFFSET {int(offset)}""", *page_args)
    rows, last = last_of(rows, limit, _position)
    return KeyPage([_movement(r) for r in rows], total, estimated, last)


def _position(row) -> Position:
    return Position(row["created_at"], row["id"])


@dataclass(frozen=True)
class Upcoming:
    day: datetime  # the start of the settlement day funds become available on
    amount: int


async def upcoming(conn, *, merchant_id: int, livemode: bool, currency: str,
                   day_seconds: float) -> list[Upcoming]:
    """What becomes available on which settlement day (pending movements only: at most
    the delay's worth of them)."""
    rows = await conn.fetch(
        """SELECT floor(extract(epoch FROM available_on) / $4) AS day, sum(amount) AS amount
             FROM balance_transactions
            WHERE merchant_id = $1 AND livemode = $2 AND currency = $3 AND NOT released
            GROUP BY 1 ORDER BY 1""",
        merchant_id, livemode, currency, day_seconds)
    return [Upcoming(datetime.fromtimestamp(float(r["day"]) * day_seconds, tz=UTC),
                     int(r["amount"])) for r in rows]


@dataclass(frozen=True)
class Due:
    ids: list[int]
    company_id: int
    merchant_id: int
    livemode: bool
    currency: str
    net: int


async def take_due(conn, now: datetime, limit: int) -> list[Due]:
    """Up to `limit` pending movements whose day has come, locked (another replica's
    release skips them), grouped by book."""
    rows = await conn.fetch(
        """SELECT id, company_id, merchant_id, livemode, currency, amount
             FROM balance_transactions WHERE NOT released AND available_on <= $1
            ORDER BY available_on LIMIT $2 FOR UPDATE SKIP LOCKED""", now, limit)
    groups: dict[tuple[int, bool, str], Due] = {}
    for r in rows:
        key = (r["merchant_id"], r["livemode"], r["currency"])
        seen = groups.get(key)
        if seen is None:
            groups[key] = Due([r["id"]], r["company_id"], r["merchant_id"], r["livemode"],
                              r["currency"], int(r["amount"]))
        else:
            seen.ids.append(r["id"])
            groups[key] = Due(seen.ids, seen.company_id, seen.merchant_id, seen.livemode,
                              seen.currency, seen.net + int(r["amount"]))
    return list(groups.values())


async def mark_released(conn, ids: list[int]) -> None:
    await conn.execute("UPDATE balance_transactions SET released = true "
                       "WHERE id = ANY($1::bigint[])", ids)


# Schedules (the scheduler's side; the API's is payout_schedules_store) -------------------

async def delay_days_of(conn, merchant_ids: list[int]) -> dict[int, int]:
    """Each merchant's settlement delay (the default when it has no schedule)."""
    rows = await conn.fetch("SELECT merchant_id, delay_days FROM payout_schedules "
                            "WHERE merchant_id = ANY($1::bigint[])", merchant_ids)
    found = {r["merchant_id"]: r["delay_days"] for r in rows}
    return {m: found.get(m, DEFAULT_DELAY_DAYS) for m in merchant_ids}


@dataclass(frozen=True)
class DueSchedule:
    merchant_id: int
    company_id: int
    schedule: PayoutSchedule
    run_at: datetime


async def due_schedules(conn, now: datetime, limit: int) -> list[DueSchedule]:
    rows = await conn.fetch(
        """SELECT * FROM payout_schedules WHERE next_run_at <= $1
            ORDER BY next_run_at, merchant_id LIMIT $2""", now, limit)
    return [DueSchedule(r["merchant_id"], r["company_id"], PayoutSchedule(
        interval=r["interval"], weekly_anchor=r["weekly_anchor"],
        monthly_anchor=r["monthly_anchor"], delay_days=r["delay_days"],
        minimum_amount=int(r["minimum_amount"])), r["next_run_at"]) for r in rows]


async def set_next_run(conn, merchant_id: int, next_run_at: datetime | None,
                       expected: datetime) -> bool:
    """Moves a schedule on from the run it made; False when another tick moved it."""
    done = await conn.fetchval(
        """UPDATE payout_schedules SET next_run_at = $2 WHERE merchant_id = $1
              AND next_run_at = $3 RETURNING true""", merchant_id, next_run_at, expected)
    return bool(done)


# Payouts --------------------------------------------------------------------------------

_COLUMNS = ("payout_id", "company_id", "merchant_id", "livemode", "amount", "fee", "currency",
            "status", "automatic", "settlement_account_id", "rail", "destination",
            "description", "metadata", "rail_reference", "failure_code", "failure_reason",
            "submit_after", "created_at", "updated_at", "in_transit_at", "next_check_at",
            "paid_at",
            "failed_at", "canceled_at")


def _payout(r, timeline: tuple[TimelineEntry, ...] = ()) -> Payout:
    values = {c: r[c] for c in _COLUMNS}
    values["amount"], values["fee"] = int(r["amount"]), int(r["fee"])
    for c in ("destination", "metadata"):
        if isinstance(values[c], str):
            values[c] = json.loads(values[c])
    return Payout(**values, timeline=timeline)


async def insert_payout(conn, p: Payout, *, run_key: str | None,
                        destination_sealed: str) -> bool:
    """False when the run already made its payout (run_key taken)."""
    values = [getattr(p, c) for c in _COLUMNS]
    values[_COLUMNS.index("destination")] = json.dumps(p.destination)
    values[_COLUMNS.index("metadata")] = json.dumps(p.metadata)
    placeholders = ", ".join(f"${n}" for n in range(1, len(_COLUMNS) + 3))
    inserted = await conn.fetchval(
        f"""INSERT INTO payouts ({', '.join(_COLUMNS)}, run_key, destination_sealed)
            VALUES ({placeholders})
            ON CONFLICT (run_key) DO NOTHING RETURNING id""", *values, run_key,
        destination_sealed)
    if inserted is None:
        return False
    await add_timeline(conn, p.payout_id, p.status, p.created_at, None)
    return True


async def add_timeline(conn, payout_id: str, status: str, at: datetime,
                       note: str | None) -> None:
    await conn.execute(
        """INSERT INTO payout_events (payout_pk, status, note, at)
           SELECT id, $2, $3, $4 FROM payouts WHERE payout_id = $1""",
        payout_id, status, note, at)


async def _timeline(conn, pks: list[int]) -> dict[int, tuple[TimelineEntry, ...]]:
    rows = await conn.fetch("SELECT payout_pk, status, note, at FROM payout_events "
                            "WHERE payout_pk = ANY($1::bigint[]) ORDER BY id", pks)
    out: dict[int, list[TimelineEntry]] = {}
    for r in rows:
        out.setdefault(r["payout_pk"], []).append(
            TimelineEntry(status=r["status"], at=r["at"], note=r["note"]))
    return {k: tuple(v) for k, v in out.items()}


def _scope(where: list[str], args: list, company_id: int | None, merchant_id: int | None,
           livemode: bool) -> None:
    args.append(livemode)
    where.append(f"livemode = ${len(args)}")
    for column, value in (("company_id", company_id), ("merchant_id", merchant_id)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")


async def payout(conn, payout_id: str, *, company_id: int | None, merchant_id: int | None,
                 livemode: bool | None, for_update: bool = False) -> Payout | None:
    """In the caller's scope (None: any tenant, any mode: the rail's callback)."""
    where, args = ["payout_id = $1"], [payout_id]
    if livemode is not None:
        _scope(where, args, company_id, merchant_id, livemode)
    row = await conn.fetchrow(f"SELECT * FROM payouts WHERE {' AND '.join(where)}"
                              f"{' FOR UPDATE' if for_update else ''}", *args)
    if row is None:
        return None
    return _payout(row, (await _timeline(conn, [row["id"]])).get(row["id"], ()))


async def payouts_page(conn, *, company_id: int | None, merchant_id: int | None,
                       livemode: bool, status: str | None, start: datetime | None,
                       end: datetime | None, search: str | None, limit: int,
                       offset: int, after: Position | None = None) -> KeyPage[Payout]:
    """A page newest first, from `after` (a keyset cursor's position) or `offset`; the
    total is of the whole filter."""
    where: list[str] = []
    args: list = []
    _scope(where, args, company_id, merchant_id, livemode)
    for clause, value in (("status = ${}", status), ("created_at >= ${}", start),
                          ("created_at < ${}", end)):
        if value is not None:
            args.append(value)
            where.append(clause.format(len(args)))
    if search:
        args.append(search)
        n = len(args)
        where.append(f"(payout_id = ${n} OR rail_reference = ${n} OR "
                     f"strpos(lower(coalesce(description, '')), lower(${n})) > 0)")
    sql = " AND ".join(where)
    newest_first = "ORDER BY created_at DESC, id DESC"
    page_args = list(args)
    start_at = keyset_after(page_args, "created_at, id", after)
    async with snapshot(conn):
        total, estimated = await bounded_total(conn, f"FROM payouts WHERE {sql}", *args,
                                               order_by=newest_first)
        rows = await conn.fetch(f"""SELECT * FROM payouts WHERE {sql} AND {start_at}
                                    {newest_first} LIMIT {int(limit) + 1}
                                    OFFSET {int(offset)}""", *page_args)
        rows, last = last_of(rows, limit, _position)
        timelines = await _timeline(conn, [r["id"] for r in rows])
    return KeyPage([_payout(r, timelines.get(r["id"], ())) for r in rows], total,
                      estimated, last)


async def update_payout(conn, p: Payout, *, note: str | None = None) -> None:
    """Saves the payout's state after a transition, and the transition in its timeline."""
    await conn.execute(
        """UPDATE payouts SET status = $2, rail_reference = $3, failure_code = $4,
               failure_reason = $5, updated_at = $6, in_transit_at = $7, paid_at = $8,
               failed_at = $9, canceled_at = $10, next_check_at = $11,
               attempts = attempts + 1
            WHERE payout_id = $1""",
        p.payout_id, p.status, p.rail_reference, p.failure_code, p.failure_reason,
        p.updated_at, p.in_transit_at, p.paid_at, p.failed_at, p.canceled_at,
        p.next_check_at)
    await add_timeline(conn, p.payout_id, p.status, p.updated_at, note)


async def to_submit(conn, now: datetime, limit: int) -> list[str]:
    rows = await conn.fetch(
        """SELECT payout_id FROM payouts WHERE status = 'pending' AND submit_after <= $1
            ORDER BY submit_after LIMIT $2""", now, limit)
    return [r["payout_id"] for r in rows]


async def lock_pending(conn, payout_id: str) -> Payout | None:
    """A pending payout, locked; None when another replica has it or it moved on."""
    row = await conn.fetchrow(
        """SELECT * FROM payouts WHERE payout_id = $1 AND status = 'pending'
            FOR UPDATE SKIP LOCKED""", payout_id)
    return None if row is None else _payout(row)


async def unanswered(conn, now: datetime, limit: int) -> list[str]:
    """Payouts whose rail was due to call back by `now` and has not."""
    rows = await conn.fetch(
        """SELECT payout_id FROM payouts WHERE next_check_at <= $1
            ORDER BY next_check_at LIMIT $2""", now, limit)
    return [r["payout_id"] for r in rows]


async def destination_sealed(conn, payout_id: str) -> str:
    """The payout's destination as it was made (sealed)."""
    return await conn.fetchval("SELECT destination_sealed FROM payouts WHERE payout_id = $1",
                               payout_id)


async def set_next_check(conn, payout_id: str, at: datetime | None) -> None:
    await conn.execute("UPDATE payouts SET next_check_at = $2 WHERE payout_id = $1",
                       payout_id, at)
