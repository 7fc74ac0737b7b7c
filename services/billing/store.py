"""SQL of plans, subscriptions, tax rates and invoices (schema billing).

Lookups take `company_id` / `merchant_id` scopes (None = unscoped), so another
tenant's row reads as missing, and the caller's `livemode`, so another mode's row reads
as missing too (docs/modes.md)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from shared.db import KeyPage, Position, bounded_total, keyset_after, last_of, snapshot
from shared.housekeeping import affected

_COLUMN = __import__("re").compile(r"^[a-z_]+$")


def _scope(sql: str, args: list, company_id: int | None, merchant_id: int | None,
           livemode: bool, prefix: str = "") -> str:
    args.append(livemode)
    sql += f" AND {prefix}livemode = ${len(args)}"
    if company_id is not None:
        args.append(company_id)
        sql += f" AND {prefix}company_id = ${len(args)}"
    if merchant_id is not None:
        args.append(merchant_id)
        sql += f" AND {prefix}merchant_id = ${len(args)}"
    return sql


def _set(changes: dict, start: int) -> tuple[str, list]:
    parts, args = [], []
    for i, (column, value) in enumerate(changes.items(), start=start):
        if not _COLUMN.match(column):
            raise ValueError(column)
        parts.append(f"{column} = ${i}")
        args.append(value)
    return ", ".join(parts), args


# Plans -------------------------------------------------------------------------------

async def insert_plan(conn: asyncpg.Connection, **v) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO plans (plan_id, company_id, merchant_id, livemode, name, amount,
                              currency, interval, interval_count, features)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *""",
        v["plan_id"], v["company_id"], v["merchant_id"], v["livemode"], v["name"],
        v["amount"], v["currency"], v["interval"], v["interval_count"], v["features"])


async def plan(conn, plan_id: str, *, company_id, merchant_id,
               livemode: bool) -> asyncpg.Record | None:
    args: list = [plan_id]
    return await conn.fetchrow(_scope("SELECT * FROM plans WHERE plan_id = $1", args,
                                      company_id, merchant_id, livemode), *args)


def _filter(where: str, args: list, column: str, value) -> str:
    """`where` narrowed to `column = value` when a filter value is given."""
    if value is None:
        return where
    args.append(value)
    return where + f" AND {column} = ${len(args)}"


async def _page(conn, *, select: str, table: str, where: str, args: list, order: str,
                limit: int, offset: int, after: Position | None) -> KeyPage[asyncpg.Record]:
    """One page newest first by `order` (a row id), from `after` (a keyset cursor's
    position) or `offset`; the total is of the whole filter, counted through the same
    index (bounded_total)."""
    newest_first = f"ORDER BY {order} DESC"
    page_args = list(args)
    start_at = keyset_after(page_args, order, after)
    async with snapshot(conn):
        total, estimated = await bounded_total(conn, f"FROM {table} {where}", *args,
                                               order_by=newest_first)
        rows = await conn.fetch(f"{select} {where} AND {start_at} {newest_first} "
                                f"LIMIT {int(limit) + 1} OFFSET {int(offset)}", *page_args)
    rows, last = last_of(rows, limit, lambda r: Position(r["id"], r["id"]))
    return KeyPage(rows, total, estimated, last)


async def plans(conn, *, company_id, merchant_id, livemode: bool, limit: int, offset: int,
                after: Position | None = None) -> KeyPage[asyncpg.Record]:
    args: list = []
    where = _scope("WHERE true", args, company_id, merchant_id, livemode)
    return await _page(conn, select="SELECT * FROM plans", table="plans", where=where,
                       args=args, order="id", limit=limit, offset=offset, after=after)


# Subscriptions -------------------------------------------------------------------------

_SUB = """SELECT s.*, p.plan_id, p.name AS plan_name, p.amount, p.currency, p.interval,
                 p.interval_count
            FROM subscriptions s JOIN plans p ON p.id = s.plan_pk"""


async def insert_subscription(conn, **v) -> asyncpg.Record:
    pk = await conn.fetchval(
        """INSERT INTO subscriptions (subscription_id, plan_pk, company_id, merchant_id,
               customer_id, status, billing_anchor, period_number, current_period_start,
               current_period_end, trial_end, next_charge_at, metadata, payment_method,
               livemode, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $16)
           RETURNING id""",
        v["subscription_id"], v["plan_pk"], v["company_id"], v["merchant_id"],
        v["customer_id"], v["status"], v["billing_anchor"], v["period_number"],
        v["current_period_start"], v["current_period_end"], v["trial_end"],
        v["next_charge_at"], v["metadata"], v["payment_method"], v["livemode"], v["now"])
    return await subscription_by_pk(conn, pk)


async def subscription(conn, subscription_id: str, *, company_id, merchant_id,
                       livemode: bool, for_update: bool = False):
    args: list = [subscription_id]
    sql = _scope(_SUB + " WHERE s.subscription_id = $1", args, company_id, merchant_id,
                 livemode, "s.")
    return await conn.fetchrow(sql + (" FOR UPDATE OF s" if for_update else ""), *args)


async def subscriptions_page(conn, *, company_id, merchant_id, livemode: bool,
                             status: str | None, customer_id: str | None, limit: int,
                             offset: int, after: Position | None = None) -> KeyPage[asyncpg.Record]:
    args: list = []
    where = _scope("WHERE true", args, company_id, merchant_id, livemode, "s.")
    where = _filter(where, args, "s.status", status)
    where = _filter(where, args, "s.customer_id", customer_id)
    return await _page(conn, select=_SUB, table="subscriptions s", where=where, args=args,
                       order="s.id", limit=limit, offset=offset, after=after)


async def subscription_by_pk(conn, pk: int, *, for_update: bool = False):
    return await conn.fetchrow(_SUB + " WHERE s.id = $1" +
                               (" FOR UPDATE OF s" if for_update else ""), pk)


async def update_subscription(conn, pk: int, changes: dict, now: datetime):
    sets, args = _set({**changes, "updated_at": now}, 2)
    await conn.execute(f"UPDATE subscriptions SET {sets} WHERE id = $1", pk, *args)
    return await subscription_by_pk(conn, pk)


async def next_due_subscription(conn, now: datetime):
    """One subscription whose next period is due, locked; others' replicas skip it."""
    pk = await conn.fetchval(
        """SELECT id FROM subscriptions
            WHERE status <> 'canceled' AND next_charge_at IS NOT NULL AND next_charge_at <= $1
            ORDER BY next_charge_at LIMIT 1 FOR UPDATE SKIP LOCKED""", now)
    return None if pk is None else await subscription_by_pk(conn, pk)


# Tax rates -----------------------------------------------------------------------------

async def insert_tax_rate(conn, **v):
    if v["is_default"]:
        await conn.execute("UPDATE tax_rates SET is_default = false "
                           "WHERE merchant_id = $1 AND is_default", v["merchant_id"])
    return await conn.fetchrow(
        """INSERT INTO tax_rates (tax_rate_id, company_id, merchant_id, name, rate_ppm,
                                  is_default)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *""",
        v["tax_rate_id"], v["company_id"], v["merchant_id"], v["name"], v["rate_ppm"],
        v["is_default"])


async def tax_rates(conn, merchant_id: int):
    return await conn.fetch("SELECT * FROM tax_rates WHERE merchant_id = $1 ORDER BY id",
                            merchant_id)


# Invoices ------------------------------------------------------------------------------

async def next_invoice_number(conn, company_id: int, livemode: bool, year: int) -> int:
    """The next number of the company's year in one mode (each mode has its own series).
    The row lock is held until the caller's transaction ends, so concurrent creations
    queue here and a rollback frees its number for the next one: no gaps, no
    duplicates."""
    return await conn.fetchval(
        """INSERT INTO invoice_counters (company_id, livemode, year, last_value)
           VALUES ($1, $2, $3, 1)
           ON CONFLICT (company_id, livemode, year)
           DO UPDATE SET last_value = invoice_counters.last_value + 1
           RETURNING last_value""", company_id, livemode, year)


async def insert_invoice(conn, **v) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO invoices (invoice_id, invoice_number, company_id, merchant_id, status,
               customer, items, currency, subtotal, tax, total, due_date, notes, payment_id,
               payment_url, subscription_pk, period_start, period_end, next_attempt_at,
               livemode, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $17, $18, $19, $20, $21, $21)
           RETURNING *""",
        v["invoice_id"], v["invoice_number"], v["company_id"], v["merchant_id"],
        v["status"], v["customer"], v["items"], v["currency"], v["subtotal"], v["tax"],
        v["total"], v["due_date"], v.get("notes"), v.get("payment_id"), v.get("payment_url"),
        v.get("subscription_pk"), v.get("period_start"), v.get("period_end"),
        v.get("next_attempt_at"), v["livemode"], v["now"])


async def invoices_page(conn, *, company_id, merchant_id, livemode: bool,
                        status: str | None, customer_email: str | None, limit: int,
                        offset: int, after: Position | None = None) -> KeyPage[asyncpg.Record]:
    args: list = []
    where = _scope("WHERE true", args, company_id, merchant_id, livemode)
    where = _filter(where, args, "status", status)
    where = _filter(where, args, "lower(customer->>'email')",
                    customer_email.lower() if customer_email else None)
    return await _page(conn, select="SELECT * FROM invoices", table="invoices", where=where,
                       args=args, order="id", limit=limit, offset=offset, after=after)


async def invoice(conn, invoice_id: str, *, company_id, merchant_id, livemode: bool,
                  for_update=False):
    args: list = [invoice_id]
    sql = _scope("SELECT * FROM invoices WHERE invoice_id = $1", args, company_id, merchant_id,
                 livemode)
    return await conn.fetchrow(sql + (" FOR UPDATE" if for_update else ""), *args)


async def invoice_by_pk(conn, pk: int, *, for_update: bool = False):
    return await conn.fetchrow("SELECT * FROM invoices WHERE id = $1" +
                               (" FOR UPDATE" if for_update else ""), pk)


async def invoices_of_subscription(conn, subscription_pk: int):
    return await conn.fetch("SELECT * FROM invoices WHERE subscription_pk = $1 "
                            "ORDER BY period_start", subscription_pk)


async def update_invoice(conn, pk: int, changes: dict, now: datetime):
    sets, args = _set({**changes, "updated_at": now}, 2)
    return await conn.fetchrow(f"UPDATE invoices SET {sets} WHERE id = $1 RETURNING *",
                               pk, *args)


async def next_collectable_invoice(conn, now: datetime):
    return await conn.fetchrow(
        """SELECT * FROM invoices WHERE status = 'open' AND next_attempt_at IS NOT NULL
              AND next_attempt_at <= $1
            ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED""", now)


async def next_overdue_invoice(conn, now: datetime):
    return await conn.fetchrow(
        """SELECT * FROM invoices WHERE status = 'open' AND overdue_at IS NULL
              AND due_date < $1 ORDER BY due_date LIMIT 1 FOR UPDATE SKIP LOCKED""", now)


# Invoice e-mails (the hourly caps of POST /api/v2/invoices/{id}/send) -----------------

async def lock_invoice_recipient(conn, merchant_id: int, recipient: str) -> None:
    """Until the transaction ends: one send to this merchant's recipient at a time, so
    concurrent sends of several invoices cannot all pass the recipient's cap."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"invoice-recipient:{merchant_id}:{recipient}")


async def invoice_sends_since(conn, *, invoice_pk: int, merchant_id: int, recipient: str,
                              since: datetime, invoice_limit: int, recipient_limit: int):
    """How many e-mails of the invoice, and of the merchant to the recipient, went out
    after `since`; and for each, the send whose leaving the window frees a place (the
    limit-th newest; NULL while under the limit)."""
    return await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM invoice_sends
               WHERE invoice_pk = $1 AND sent_at > $4) AS invoice_sends,
             (SELECT sent_at FROM invoice_sends WHERE invoice_pk = $1 AND sent_at > $4
               ORDER BY sent_at DESC OFFSET $5 - 1 LIMIT 1) AS invoice_frees_at,
             (SELECT count(*) FROM invoice_sends
               WHERE merchant_id = $2 AND recipient = $3 AND sent_at > $4)
               AS recipient_sends,
             (SELECT sent_at FROM invoice_sends
               WHERE merchant_id = $2 AND recipient = $3 AND sent_at > $4
               ORDER BY sent_at DESC OFFSET $6 - 1 LIMIT 1) AS recipient_frees_at""",
        invoice_pk, merchant_id, recipient, since, invoice_limit, recipient_limit)


async def record_invoice_send(conn, *, invoice_pk: int, merchant_id: int, recipient: str,
                              now: datetime, since: datetime) -> None:
    """Count one e-mail, and forget this invoice's and this recipient's sends that no
    cap looks at any more (the table holds no more than the window)."""
    await conn.execute(
        """DELETE FROM invoice_sends WHERE sent_at <= $4
              AND (invoice_pk = $1 OR (merchant_id = $2 AND recipient = $3))""",
        invoice_pk, merchant_id, recipient, since)
    await conn.execute(
        """INSERT INTO invoice_sends (invoice_pk, merchant_id, recipient, sent_at)
           VALUES ($1, $2, $3, $4)""", invoice_pk, merchant_id, recipient, now)


async def prune_invoice_sends(conn, limit: int, *, before: datetime) -> int:
    """Housekeeping (services/billing/housekeeping.py): up to `limit` sends no cap looks
    at any more (at or before `before`, the window's start) of any invoice, also those
    never sent again (record_invoice_send forgets only its own invoice's and
    recipient's). The table then holds about an hour of sends: no index needed."""
    return affected(await conn.execute(
        """DELETE FROM invoice_sends WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM invoice_sends WHERE sent_at <= $1
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", before, limit))
