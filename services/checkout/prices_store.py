"""All SQL of the Prices routes (table checkout.prices)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from shared.db import bounded_total, json_text, snapshot


def _json(value: Any) -> str | None:
    """JSON text for a jsonb column, numbers exact (a request's Decimals stay as sent)."""
    return None if value is None else json_text(value)


async def insert_price(conn: asyncpg.Connection, *, price_id: str, app_id: str,
                       company_id: int, merchant_id: int | None, livemode: bool,
                       amount: Decimal, currency: str, fields: dict[str, Any],
                       price_item: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO prices (price_id, app_id, company_id, merchant_id, amount, currency,
               currency_conversion, type, kyc_id, metadata, name, trigger_id, trigger_data,
               price_item, expires_at, livemode)
           VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9, $10::text::jsonb, $11,
                   $12, $13::text::jsonb, $14::text::jsonb, $15, $16)
           RETURNING *""",
        price_id, app_id, company_id, merchant_id, amount, currency,
        _json(fields.get("currency_conversion")), fields["type"], fields.get("kyc_id"),
        _json(fields.get("metadata")), fields.get("name"), fields.get("trigger_id"),
        _json(fields.get("trigger_data")), _json(price_item), fields.get("expires_at"),
        livemode)


def _owned(first: int) -> str:
    """The rows of one owner scope: company ${first}, merchant ${first + 1}, each NULL
    for any, and mode ${first + 2} (services/checkout/app_scope.py Owner). A merchant's
    scope never matches a row of no merchant (an ADMIN's on a shared app): NULL = $n
    is not true."""
    return (f"(${first}::bigint IS NULL OR company_id = ${first}) "
            f"AND (${first + 1}::bigint IS NULL OR merchant_id = ${first + 1}) "
            f"AND livemode = ${first + 2}")


async def list_prices(conn: asyncpg.Connection, app_id: str, *, company_id: int | None,
                      merchant_id: int | None, livemode: bool, include_deleted: bool,
                      limit: int, offset: int) -> tuple[list[asyncpg.Record], int, bool]:
    """(a page newest first, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where = f"app_id = $1 AND ($2 OR NOT deleted) AND {_owned(3)}"
    args = (app_id, include_deleted, company_id, merchant_id, livemode)
    newest_first = "ORDER BY created_at DESC, id DESC"
    async with snapshot(conn):
        rows = await conn.fetch(
            f"SELECT * FROM prices WHERE {where} {newest_first} LIMIT $6 OFFSET $7",
            *args, limit, offset)
        total, estimated = await bounded_total(conn, f"FROM prices WHERE {where}", *args,
                                               order_by=newest_first)
    return rows, total, estimated


async def price(conn: asyncpg.Connection, app_id: str, price_id: str, *,
                company_id: int | None, merchant_id: int | None,
                livemode: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM prices WHERE app_id = $1 AND price_id = $2 AND {_owned(3)}",
        app_id, price_id, company_id, merchant_id, livemode)


async def delete_price(conn: asyncpg.Connection, app_id: str, price_id: str, *,
                       company_id: int | None, merchant_id: int | None,
                       livemode: bool) -> asyncpg.Record | None:
    """Soft delete (idempotent): the row stays, marked `deleted`."""
    return await conn.fetchrow(
        f"""UPDATE prices SET deleted = true,
               updated_at = CASE WHEN deleted THEN updated_at ELSE now() END
           WHERE app_id = $1 AND price_id = $2 AND {_owned(3)} RETURNING *""",
        app_id, price_id, company_id, merchant_id, livemode)


async def price_for_checkout(conn: asyncpg.Connection, price_id: str) -> asyncpg.Record | None:
    """The price whose link is opened, its `views` counted up."""
    return await conn.fetchrow(
        """UPDATE prices SET views = views + 1 WHERE price_id = $1 AND NOT deleted
           RETURNING *""", price_id)


async def price_to_pay(conn: asyncpg.Connection, price_id: str) -> asyncpg.Record | None:
    """The price its link's form pays, locked (payments for one dynamic price
    serialise)."""
    return await conn.fetchrow(
        "SELECT * FROM prices WHERE price_id = $1 AND NOT deleted FOR UPDATE", price_id)


async def open_price_payment(conn: asyncpg.Connection, price_id: str, merchant_id: int,
                             livemode: bool) -> asyncpg.Record | None:
    """A payment the price's checkout made (of its merchant and mode) that still waits
    for its payer (and is not past its session)."""
    return await conn.fetchrow(
        """SELECT * FROM payments WHERE metadata->>'priceId' = $1 AND origin = 'prices'
               AND merchant_id = $2 AND livemode = $3
               AND status IN ('pending', 'processing') AND expires_at > now()
           ORDER BY id DESC LIMIT 1""", price_id, merchant_id, livemode)


async def price_by_id(conn: asyncpg.Connection, price_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM prices WHERE price_id = $1", price_id)


async def expire_price(conn: asyncpg.Connection, price_id: str) -> None:
    await conn.execute(
        """UPDATE prices SET expired = true, updated_at = now()
           WHERE price_id = $1 AND type = 'dynamic' AND NOT expired""", price_id)


# Triggers --------------------------------------------------------------------------

async def insert_trigger(conn: asyncpg.Connection, *, trigger_id: str, app_id: str,
                         company_id: int, merchant_id: int | None, livemode: bool,
                         name: str, url: str, params: list[str],
                         secret_sealed: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO triggers (trigger_id, app_id, company_id, merchant_id, name, url,
               params, secret_sealed, livemode)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
        trigger_id, app_id, company_id, merchant_id, name, url, params, secret_sealed,
        livemode)


async def list_triggers(conn: asyncpg.Connection, app_id: str, *, company_id: int | None,
                        merchant_id: int | None, livemode: bool, limit: int,
                        offset: int) -> tuple[list[asyncpg.Record], int, bool]:
    """(a page newest first, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where = f"app_id = $1 AND NOT deleted AND {_owned(2)}"
    args = (app_id, company_id, merchant_id, livemode)
    newest_first = "ORDER BY created_at DESC, id DESC"
    async with snapshot(conn):
        rows = await conn.fetch(
            f"SELECT * FROM triggers WHERE {where} {newest_first} LIMIT $5 OFFSET $6",
            *args, limit, offset)
        total, estimated = await bounded_total(conn, f"FROM triggers WHERE {where}", *args,
                                               order_by=newest_first)
    return rows, total, estimated


async def trigger(conn: asyncpg.Connection, app_id: str, trigger_id: str, *,
                  company_id: int | None, merchant_id: int | None,
                  livemode: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT * FROM triggers WHERE app_id = $1 AND trigger_id = $2 AND NOT deleted
               AND {_owned(3)}""", app_id, trigger_id, company_id, merchant_id, livemode)


async def trigger_for_price(conn: asyncpg.Connection, app_id: str, trigger_id: str, *,
                            merchant_id: int | None,
                            livemode: bool) -> asyncpg.Record | None:
    """A trigger (not deleted) of the app that belongs to exactly this merchant (none:
    an ADMIN's on a shared app) and mode, the only kind a price of that merchant and
    mode may name."""
    return await conn.fetchrow(
        """SELECT * FROM triggers WHERE app_id = $1 AND trigger_id = $2 AND NOT deleted
               AND merchant_id IS NOT DISTINCT FROM $3 AND livemode = $4""",
        app_id, trigger_id, merchant_id, livemode)


async def delete_trigger(conn: asyncpg.Connection, app_id: str, trigger_id: str, *,
                         company_id: int | None, merchant_id: int | None,
                         livemode: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""UPDATE triggers SET deleted = true, updated_at = now()
           WHERE app_id = $1 AND trigger_id = $2 AND NOT deleted AND {_owned(3)}
           RETURNING *""", app_id, trigger_id, company_id, merchant_id, livemode)


async def insert_intent(conn: asyncpg.Connection, *, intent_id: str, trigger_id: str,
                        price_id: str, params: dict[str, Any] | None) -> None:
    await conn.execute(
        """INSERT INTO trigger_intents (intent_id, trigger_id, price_id, params)
           VALUES ($1, $2, $3, $4::text::jsonb)""", intent_id, trigger_id, price_id,
        _json(params))


async def set_price_intent(conn: asyncpg.Connection, price_id: str, intent_id: str,
                           params: dict[str, Any] | None) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE prices SET trigger_intent_id = $2, trigger_params_data_input = $3::text::jsonb
           WHERE price_id = $1 RETURNING *""", price_id, intent_id, _json(params))


async def intent_of_price(conn: asyncpg.Connection, price_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT i.*, t.url, t.secret_sealed, t.name AS trigger_name,
                  t.merchant_id AS trigger_merchant_id, t.livemode AS trigger_livemode
           FROM trigger_intents i JOIN triggers t USING (trigger_id)
           WHERE i.price_id = $1""", price_id)


async def add_execution(conn: asyncpg.Connection, *, intent_id: str, payment_id: str,
                        event_id: uuid.UUID, body: dict[str, Any]) -> None:
    """One execution per payment: a redelivered completion adds nothing."""
    await conn.execute(
        """INSERT INTO trigger_executions (intent_id, payment_id, event_id, body)
           VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT (payment_id) DO NOTHING""",
        intent_id, payment_id, event_id, _json(body))


async def lease_executions(conn: asyncpg.Connection, limit: int,
                           lease_seconds: float) -> list[asyncpg.Record]:
    """Executions due now, leased to this caller: their next attempt moves past the
    lease, so other replicas (and this one) leave them alone while the calls are made
    outside any transaction; a caller that dies mid-call frees them when it ends."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """WITH due AS (
               SELECT id FROM trigger_executions
               WHERE status = 'pending' AND next_attempt_at <= now()
               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED),
           leased AS (
               UPDATE trigger_executions e
               SET next_attempt_at = now() + make_interval(secs => $2)
               FROM due WHERE e.id = due.id RETURNING e.*)
           SELECT leased.*, t.url, t.secret_sealed
           FROM leased JOIN trigger_intents i USING (intent_id)
           JOIN triggers t USING (trigger_id)""", limit, lease_seconds)
    return rows


async def record_attempt(conn: asyncpg.Connection, pk: int, *, status: str,
                         status_code: int | None, error: str | None,
                         next_attempt_in: float | None) -> None:
    await conn.execute(
        """UPDATE trigger_executions SET attempts = attempts + 1, status = $2,
               last_status_code = $3, last_error = $4,
               next_attempt_at = now() + make_interval(secs => coalesce($5, 0)),
               delivered_at = CASE WHEN $2 = 'delivered' THEN now() END, updated_at = now()
           WHERE id = $1""", pk, status, status_code, error, next_attempt_in)


async def executions(conn: asyncpg.Connection, intent_id: str,
                     limit: int = 50) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT * FROM trigger_executions WHERE intent_id = $1
           ORDER BY created_at DESC, id DESC LIMIT $2""", intent_id, limit)
    return rows
