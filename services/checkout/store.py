"""All SQL of the checkout service."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.checkout import domain
from shared.db import (
    EXACT_TOTAL_UP_TO,
    bounded_total,
    json_text,
    snapshot,
    walks_in_index_order,
)
from shared.events import Event, UnitOfWork, outbox_clause

# Every column's SQL type, checked against the model (domain.Payment) as this module
# loads: the statements below are written from these, so a column added to one and not
# the other fails at once, not in a payment's answer.
_SQL_TYPE = {
    "id": "bigint", "payment_id": "text", "trace": "uuid", "company_id": "bigint",
    "merchant_id": "bigint", "origin": "text", "amount": "numeric", "currency": "text",
    "description": "text", "metadata": "jsonb", "success_url": "text",
    "cancel_url": "text", "status": "text", "payment_method": "text",
    "pending_action": "text", "payer": "text", "transaction_hash": "text",
    "card_brand": "text", "card_last4": "text", "phone_number": "text",
    "failure_reason": "text", "quote": "jsonb", "charges": "numeric",
    "net_amount": "numeric", "refunded_amount": "numeric", "expires_at": "timestamptz",
    "created_at": "timestamptz", "updated_at": "timestamptz",
    "completed_at": "timestamptz", "canceled_at": "timestamptz", "merchant_name": "text",
    "methods": "text[]", "cancellation_reason": "text", "livemode": "boolean",
    "failed_attempts": "smallint"}
if set(_SQL_TYPE) != domain.COLUMN_SET:  # pragma: no cover - a developer's mistake
    raise RuntimeError("store._SQL_TYPE and domain.Payment name different columns: "
                       f"{sorted(set(_SQL_TYPE) ^ domain.COLUMN_SET)}")
# Sent as JSON text (json_text), decoded by the statement.
_JSON_COLUMNS = tuple(c for c in domain.CREATE_COLUMNS if _SQL_TYPE[c] in ("jsonb", "text[]"))
PAYMENT_COLUMNS = (*domain.CREATE_COLUMNS, "history")
NEW_PAYMENT_DEFAULTS = domain.NEW_PAYMENT_DEFAULTS


def _create_value(column: str) -> str:
    """How the insert's SELECT turns the array element of `column` into its value."""
    kind = _SQL_TYPE[column]
    if kind == "jsonb":
        return f"{column}::jsonb"
    if kind == "text[]":
        return (f"CASE WHEN {column} IS NULL THEN NULL "
                f"ELSE ARRAY(SELECT jsonb_array_elements_text({column}::jsonb)) END")
    if column == "created_at":
        return "COALESCE(created_at, now())"  # None: the statement's clock
    return column


def _insert_many() -> str:
    """Pending payments, their first history rows and the outbox (`{outbox}`) in one
    statement: one array parameter per column a create writes, then the history's."""
    names = domain.CREATE_COLUMNS
    arrays = ", ".join(
        f"${i}::{'text' if c in _JSON_COLUMNS else _SQL_TYPE[c]}[]"
        for i, c in enumerate(names, start=1))
    history = len(names) + 1
    return f"""
WITH {{outbox}} p AS (
    INSERT INTO payments ({", ".join(names)})
    SELECT {", ".join(_create_value(c) for c in names)}
      FROM unnest({arrays}) AS i({", ".join(names)})
    RETURNING {", ".join(("payment_id", *domain.MADE_BY_DATABASE))}),
h AS (INSERT INTO payment_history (payment_pk, status, detail)
      SELECT p.id, 'pending', d.detail::jsonb
        FROM p JOIN unnest($1::text[], ${history}::text[]) AS d(payment_id, detail)
             USING (payment_id))
SELECT * FROM p"""


_INSERT_MANY = _insert_many()


async def insert_payments(conn: asyncpg.Connection, payments: list[dict[str, Any]],
                          events: list[Event]) -> list[domain.Payment]:
    """Pending payments (PAYMENT_COLUMNS each), their first history rows and `events`
    in one statement, which PostgreSQL runs as one transaction: concurrent creates
    share one round trip and one commit (payments.PaymentCreates). Rows (every column,
    as `SELECT *` would give them) in the order given."""
    columns = [[None if c in _JSON_COLUMNS and p[c] is None else
                json_text(p[c]) if c in _JSON_COLUMNS or c == "history" else p[c]
                for p in payments] for c in PAYMENT_COLUMNS]
    sql, args = outbox_clause(_INSERT_MANY, tuple(columns), events)
    made = {r["payment_id"]: r for r in await conn.fetch(sql, *args)}
    return [_new_row(p, made[p["payment_id"]]) for p in payments]


def _new_row(payment: dict[str, Any], made: asyncpg.Record) -> domain.Payment:
    row = {c: payment[c] for c in domain.CREATE_COLUMNS}
    row.update(NEW_PAYMENT_DEFAULTS, id=made["id"], created_at=made["created_at"],
               updated_at=made["updated_at"])
    return domain.Payment(**row)


async def insert_payment(work: UnitOfWork, *, merchant_name: str | None = None,
                         methods: list[str] | None = None,
                         history: dict[str, Any] | None = None,
                         **payment: Any) -> domain.Payment:
    """One pending payment (the other PAYMENT_COLUMNS as keywords) inside a unit of work
    that may do more: written with the events emitted before it, in its transaction."""
    payment.update(merchant_name=merchant_name, methods=methods,
                   history=history or {"origin": payment["origin"]})
    payment.setdefault("created_at", None)  # None: the statement's now()
    payment.setdefault("livemode", False)  # the column's default: test mode
    [row] = await insert_payments(work.conn, [payment], work.take_unwritten())
    return row


async def payment(conn: asyncpg.Connection, payment_id: str, *, company_id: int | None,
                  merchant_id: int | None, livemode: bool | None,
                  for_update: bool = False) -> domain.Payment | None:
    """A payment within the caller's scope (None for SUPER's company/merchant) and mode
    (None: either, for a service acting on the payment's own mode)."""
    return _payment_or_none(await conn.fetchrow(
        f"""SELECT * FROM payments WHERE payment_id = $1
              AND ($2::bigint IS NULL OR company_id = $2)
              AND ($3::bigint IS NULL OR merchant_id = $3)
              AND ($4::boolean IS NULL OR livemode = $4)
            {'FOR UPDATE' if for_update else ''}""", payment_id, company_id, merchant_id,
        livemode))


def _payment_or_none(row: asyncpg.Record | None) -> domain.Payment | None:
    return None if row is None else domain.Payment.of(row)


async def payment_by_pk_for_update(conn: asyncpg.Connection, pk: int) -> domain.Payment:
    return domain.Payment.of(
        await conn.fetchrow("SELECT * FROM payments WHERE id = $1 FOR UPDATE", pk))


def _checked(changes: Mapping[str, Any]) -> list[str]:
    """The changed columns, each one of the model's (names come from code, never from a
    request: this stops a misspelt one before it reaches SQL)."""
    unknown = set(changes) - domain.COLUMN_SET
    if unknown:
        raise KeyError(f"not a payment column: {sorted(unknown)}")
    return list(changes)


async def update_payment(conn: asyncpg.Connection, pk: int,
                         changes: Mapping[str, Any]) -> domain.Payment:
    """Apply column changes."""
    columns = _checked(changes)
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    return domain.Payment.of(await conn.fetchrow(
        f"UPDATE payments SET {sets}, updated_at = now() WHERE id = $1 RETURNING *",
        pk, *[changes[c] for c in columns]))


async def transition_payment(work: UnitOfWork, pk: int, changes: Mapping[str, Any],
                             status: str, detail: dict[str, Any]) -> domain.Payment:
    """A status change: the column changes, the history row and the events emitted
    before it (outbox) in one statement."""
    columns = _checked(changes)
    sets = ", ".join(f"{c} = ${i + 4}" for i, c in enumerate(columns))
    return domain.Payment.of(await work.fetchrow(
        f"""WITH {{outbox}} u AS (
                UPDATE payments SET {sets}, updated_at = now() WHERE id = $1 RETURNING *),
            h AS (INSERT INTO payment_history (payment_pk, status, detail)
                  SELECT id, $2, $3::jsonb FROM u)
            SELECT * FROM u""", pk, status, detail, *[changes[c] for c in columns]))


async def payments_by_id(conn: asyncpg.Connection,
                         payment_ids: list[str]) -> dict[str, domain.Payment]:
    """Payments by their ids, in any scope and mode (the caller checks both), in one
    statement."""
    rows = await conn.fetch("SELECT * FROM payments WHERE payment_id = ANY($1::text[])",
                            payment_ids)
    return {r["payment_id"]: domain.Payment.of(r) for r in rows}


async def expired_payments_for_update(conn: asyncpg.Connection,
                                      limit: int) -> list[domain.Payment]:
    """Up to `limit` pending payments past their session, locked, the longest ended
    first (the partial index payments_pending_expiry). SKIP LOCKED: a row a confirm or
    another replica's sweep holds is left to it, so sweepers never wait or collide."""
    return [domain.Payment.of(r) for r in await conn.fetch(
        """SELECT * FROM payments WHERE status = 'pending' AND expires_at <= now()
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit)]


# The columns a status change may set, with their types (transitions_if_unchanged):
# the model's, but its identity, its clock, status itself (set apart) and the JSON ones.
CHANGE_TYPES = {c: t for c, t in _SQL_TYPE.items()
                if c not in ("id", "payment_id", "trace", "status", "created_at",
                             "updated_at") and t not in ("jsonb", "text[]")}


async def transitions_if_unchanged(
        conn: asyncpg.Connection | asyncpg.Pool,
        items: list[tuple[Mapping[str, Any], Mapping[str, Any], dict[str, Any], Event]],
) -> list[domain.Payment | None]:
    """Status changes of many payments in one statement, without a transaction or a
    lock, each applied (with its history row and its event) only if the payment is still
    as it was read: same status, same updated_at. items: (row as read, changes with
    "status" and CHANGE_TYPES columns only, history detail, event), one per payment.
    For each, the updated row, or None when the payment changed since it was read (then
    neither its history row nor its event is written)."""
    columns = sorted({c for _, changes, _, _ in items for c in changes} - {"status"})
    args: list[Any] = [[row["id"] for row, *_ in items], [row["status"] for row, *_ in items],
                  [row["updated_at"] for row, *_ in items],
                  [changes["status"] for _, changes, _, _ in items],
                  [json_text(detail) for _, _, detail, _ in items],
                  [event.id for *_, event in items], [event.type for *_, event in items],
                  [event.to_bytes() for *_, event in items]]
    arrays = ["$1::bigint[]", "$2::text[]", "$3::timestamptz[]", "$4::text[]", "$5::text[]",
              "$6::uuid[]", "$7::text[]", "$8::bytea[]"]
    names = ["id", "seen_status", "seen_updated", "status", "detail", "event_id",
             "event_type", "payload"]
    sets = []
    for column in columns:
        args.append([changes.get(column) for _, changes, _, _ in items])
        args.append([column in changes for _, changes, _, _ in items])
        arrays += [f"${len(args) - 1}::{CHANGE_TYPES[column]}[]", f"${len(args)}::bool[]"]
        names += [column, f"set_{column}"]
        sets.append(f"{column} = CASE WHEN d.set_{column} THEN d.{column} "
                    f"ELSE p.{column} END")
    rows = await conn.fetch(
        f"""WITH d AS (
                SELECT * FROM unnest({", ".join(arrays)})
                    WITH ORDINALITY AS d({", ".join(names)}, n)),
            u AS (
                UPDATE payments p SET status = d.status, {"".join(s + ", " for s in sets)}
                       updated_at = now()
                  FROM d
                 WHERE p.id = ANY($1::bigint[])  -- by key, whatever the statistics say
                   AND p.id = d.id AND p.status = d.seen_status
                   AND p.updated_at = d.seen_updated
                RETURNING p.*),
            h AS (INSERT INTO payment_history (payment_pk, status, detail)
                  SELECT u.id, d.status, d.detail::jsonb FROM u JOIN d ON d.id = u.id),
            o AS (INSERT INTO outbox (event_id, event_type, payload)
                  SELECT d.event_id, d.event_type, d.payload
                    FROM d JOIN u ON u.id = d.id ORDER BY d.n)
            SELECT * FROM u""", *args)
    by_pk = {r["id"]: domain.Payment.of(r) for r in rows}
    return [by_pk.get(row["id"]) for row, *_ in items]


async def history(conn: asyncpg.Connection, payment_pk: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT status, detail, at FROM payment_history WHERE payment_pk = $1 ORDER BY id",
        payment_pk)
    return rows


async def add_history(conn: asyncpg.Connection, pk: int, status: str,
                      detail: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO payment_history (payment_pk, status, detail) VALUES ($1, $2, $3)",
        pk, status, detail)


async def add_refund(conn: asyncpg.Connection, *, refund_id: str, pk: int, amount: int,
                     reason: str | None) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO refunds (refund_id, payment_pk, amount, reason) VALUES ($1, $2, $3, $4) "
        "RETURNING *", refund_id, pk, amount, reason)


# NORAH transactions ------------------------------------------------------------

async def payment_by_trace(conn: asyncpg.Connection, trace: uuid.UUID, *,
                           company_id: int | None, merchant_id: int | None,
                           livemode: bool | None,
                           for_update: bool = False) -> domain.Payment | None:
    """A payment by its NORAH trace, within the caller's scope and mode (as `payment`)."""
    return _payment_or_none(await conn.fetchrow(
        f"""SELECT * FROM payments WHERE trace = $1
              AND ($2::bigint IS NULL OR company_id = $2)
              AND ($3::bigint IS NULL OR merchant_id = $3)
              AND ($4::boolean IS NULL OR livemode = $4)
            {'FOR UPDATE' if for_update else ''}""", trace, company_id, merchant_id,
        livemode))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A list's total is counted exactly up to EXACT_TOTAL_UP_TO rows (shared.db; tests read
# it here too); past it, it is the planner's estimate and says so (bounded_total).
_NEWEST_FIRST = "ORDER BY created_at DESC, id DESC"


@dataclass(frozen=True)
class TransactionPage:
    rows: list[domain.Payment]
    total: int
    total_is_estimate: bool
    # The page's last row's (created_at, id) when more rows follow it: where the next
    # page starts.
    last: tuple[datetime, int] | None


class _Where:
    """Conditions on payments with their arguments ($1...), only those that apply: each
    filter combination is its own statement, planned for the indexes it can use."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[object] = []

    def add(self, condition: str, *values: object) -> None:
        """`condition` with {} for each value's placeholder."""
        first = len(self.args) + 1
        self.args.extend(values)
        self.conditions.append(condition.format(*(f"${first + i}" for i in range(len(values)))))

    def param(self, value: object) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def sql(self) -> str:
        return " AND ".join(self.conditions)


async def merchants_named(conn: asyncpg.Connection, name: str, *, company_id: int | None,
                          merchant_id: int | None) -> list[int]:
    """The merchants in scope that took a payment under a name containing `name` (any
    case): merchant_names has a row per merchant and name, so this reads the company's
    merchants, never its payments."""
    where = _Where()
    where.add("name ILIKE '%' || {} || '%'", _like(name))
    if company_id is not None:
        where.add("company_id = {}", company_id)
    if merchant_id is not None:
        where.add("merchant_id = {}", merchant_id)
    rows = await conn.fetch(f"SELECT DISTINCT merchant_id FROM merchant_names "
                            f"WHERE {where.sql()} ORDER BY merchant_id", *where.args)
    return [r["merchant_id"] for r in rows]


async def list_transactions(conn: asyncpg.Connection, *, company_id: int | None,
                            merchant_id: int | None, livemode: bool,
                            trace: uuid.UUID | None = None, payment_id: str | None = None,
                            merchant_name: str | None = None,
                            status: str | None = None, currency: str | None = None,
                            created_from: datetime | None = None,
                            created_before: datetime | None = None,
                            charged_only: bool = False, limit: int, offset: int = 0,
                            after: tuple[datetime | int, int] | None = None
                            ) -> TransactionPage:
    """One page of the caller's scope and mode, newest first (ties broken by id, so
    pages never overlap): from `offset`, or after the row at `after` (created_at, id),
    keyset style. `trace` and `payment_id` are lookups by their unique indexes;
    `merchant_name` finds the merchants so named first, then each one's newest payments
    through (merchant_id, livemode, created_at, id). Every statement reads an index
    slice bounded by the page (or EXACT_TOTAL_UP_TO for the total), whatever the
    merchant's history."""
    # A merchant's or a company's list walks its own index slice. Left to itself the
    # planner walks (livemode, created_at) for an owner of most rows and filters: every
    # other tenant's newer rows, each a heap visit, before the first of its own (20,000
    # of them for a page of 11 in the growth benchmark). The owner is then the walk's
    # condition only (a constant's statistics would let the planner pick that index
    # again), matched so that only the owner's own index gives the order (_per_owner).
    scope: _Walk | None = None
    if merchant_name is None and trace is None and payment_id is None:
        if merchant_id is not None:
            scope = _Walk("merchant_id", [merchant_id])
        elif company_id is not None:
            scope = _Walk("company_id", [company_id])
    where = _Where()
    where.add("livemode = {}", livemode)
    for column, value in (("company_id", company_id), ("merchant_id", merchant_id),
                          ("trace", trace), ("payment_id", payment_id), ("status", status),
                          ("currency", currency)):
        if value is not None and not (scope is not None and scope.column == column):
            where.add(f"{column} = {{}}", value)
    for condition, bound in (("created_at >= {}", created_from),
                             ("created_at < {}", created_before)):
        if bound is not None:
            where.add(condition, bound)
    if charged_only:
        where.add("charges > 0")
    async with snapshot(conn):
        walk = scope
        if merchant_name is not None:
            named = await merchants_named(conn, merchant_name, company_id=company_id,
                                          merchant_id=merchant_id)
            if not named:
                return TransactionPage(rows=[], total=0, total_is_estimate=False, last=None)
            walk = _Walk("merchant_id", named)
        async with walks_in_index_order(conn, walk is not None):
            rows = await _page_rows(conn, where, walk, limit=limit, offset=offset,
                                    after=after)
            more = len(rows) > limit
            rows = rows[:limit]
            if after is None and not more and (rows or offset == 0):
                # The list ends on this page: its total is known without counting.
                total, estimated = offset + len(rows), False
            else:
                total, estimated = await _total(conn, where, walk)
    last = (rows[-1]["created_at"], rows[-1]["id"]) if more else None
    return TransactionPage(rows=[domain.Payment.of(r) for r in rows], total=total,
                           total_is_estimate=estimated, last=last)


@dataclass(frozen=True)
class _Walk:
    """A list walked owner by owner: `column` (merchant_id or company_id) is each of
    `ids` in turn."""

    column: str
    ids: list[int]


def _per_owner(where: _Where, column: str, ids: str, inner_tail: str) -> str:
    """The FROM of a walked list: each owner's own slice of its index (`column`,
    livemode, created_at, id), newest first and cut at `inner_tail`'s LIMIT (LATERAL),
    so the rows come from index ranges, never from a sort of all of an owner's rows, nor
    from another tenant's. `ids` is the placeholder of the owners' ids
    (`where.param(ids)`).

    The owner is matched by `= ANY(ARRAY[…])` and leads the slice's ORDER BY: an
    equality would make that sort key redundant, and then (livemode, created_at), in
    the same order, could serve the walk too, and the planner takes it when the owner's
    index looks dearer (its heap visits scattered, a big owner's rows everywhere). Only
    the owner's own index gives this order."""
    return (f"unnest({ids}::bigint[]) AS o(oid) CROSS JOIN LATERAL ("
            f"SELECT * FROM payments WHERE payments.{column} = ANY(ARRAY[o.oid]) "
            f"AND {where.sql()} ORDER BY {column}, created_at DESC, id DESC "
            f"{inner_tail}) AS p")


def _copy(base: _Where) -> _Where:
    where = _Where()
    where.conditions, where.args = list(base.conditions), list(base.args)
    return where


async def _page_rows(conn: asyncpg.Connection, base: _Where, walk: _Walk | None, *,
                     limit: int, offset: int,
                     after: tuple[datetime | int, int] | None) -> list[asyncpg.Record]:
    """Up to limit + 1 rows (one more tells whether another page follows)."""
    where = _copy(base)
    if after is not None:
        # A row comparison: an index condition on (..., created_at DESC, id DESC).
        where.add("(created_at, id) < ({}, {})", *after)
    page_limit, page_offset = where.param(limit + 1), where.param(offset)
    if walk is None:
        sql = (f"SELECT * FROM payments WHERE {where.sql()} {_NEWEST_FIRST} "
               f"LIMIT {page_limit} OFFSET {page_offset}")
    else:
        wanted = where.param(offset + limit + 1)
        source = _per_owner(where, walk.column, where.param(walk.ids), f"LIMIT {wanted}")
        sql = (f"SELECT p.* FROM {source} {_NEWEST_FIRST} "
               f"LIMIT {page_limit} OFFSET {page_offset}")
    rows: list[asyncpg.Record] = await conn.fetch(sql, *where.args)
    return rows


async def _total(conn: asyncpg.Connection, base: _Where,
                 walk: _Walk | None) -> tuple[int, bool]:
    """(total, is an estimate), shared.db.bounded_total: counted while at most
    EXACT_TOTAL_UP_TO, else the planner's estimate (at least EXACT_TOTAL_UP_TO + 1). The
    count reads the rows newest first, through the list's index, and stops one past the
    bound; for a walked list, through each owner's slice, each cut there too, and the
    estimate is of the owners' rows."""
    if walk is None:
        return await bounded_total(conn, f"FROM payments WHERE {base.sql()}", *base.args,
                                   order_by=_NEWEST_FIRST)
    where = _copy(base)
    ids = where.param(walk.ids)
    return await bounded_total(
        conn, f"FROM {_per_owner(where, walk.column, ids, f'LIMIT {EXACT_TOTAL_UP_TO + 1}')}",
        *where.args,
        estimate=f"FROM payments WHERE {where.sql()} AND {walk.column} = ANY({ids}::bigint[])")


# NORAH receipts ----------------------------------------------------------------

async def receipt_of_payment(conn: asyncpg.Connection, pk: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT receipt_id, payment_pk, created_at FROM receipts WHERE payment_pk = $1", pk)


async def insert_receipt(conn: asyncpg.Connection, *, receipt_id: str, pk: int,
                         pdf: bytes) -> asyncpg.Record:
    """The payment's receipt: this one, or the one a concurrent request stored first."""
    row = await conn.fetchrow(
        """INSERT INTO receipts (receipt_id, payment_pk, pdf) VALUES ($1, $2, $3)
           ON CONFLICT (payment_pk) DO NOTHING
           RETURNING receipt_id, payment_pk, created_at""", receipt_id, pk, pdf)
    return row if row is not None else await receipt_of_payment(conn, pk)


async def receipt_pdf(conn: asyncpg.Connection, receipt_id: str, *, company_id: int | None,
                      merchant_id: int | None, livemode: bool | None,
                      scoped: bool = True) -> asyncpg.Record | None:
    """A receipt's PDF, within the caller's scope and mode unless `scoped` is False (a
    signed download link already proves the right to it)."""
    return await conn.fetchrow(
        """SELECT r.receipt_id, r.pdf FROM receipts r JOIN payments p ON p.id = r.payment_pk
           WHERE r.receipt_id = $1
             AND (NOT $4::boolean OR $2::bigint IS NULL OR p.company_id = $2)
             AND (NOT $4::boolean OR $3::bigint IS NULL OR p.merchant_id = $3)
             AND (NOT $4::boolean OR $5::boolean IS NULL OR p.livemode = $5)""",
        receipt_id, company_id, merchant_id, scoped, livemode)


async def token_used(conn: asyncpg.Connection, jti: str) -> bool:
    """Lock one NORAH payment token (until the transaction ends), then tell whether a
    payment was already made with it (single use)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", jti)
    return bool(await conn.fetchval(
        "SELECT 1 FROM payments WHERE metadata->>'tokenJti' = $1 LIMIT 1", jti))
