"""All SQL of the checkout service."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

COLUMNS = "*"


async def insert_payment(conn: asyncpg.Connection, *, payment_id: str, company_id: int,
                         merchant_id: int, origin: str, amount: int, currency: str,
                         description: str | None, metadata: dict, success_url: str | None,
                         cancel_url: str | None, quote: dict, charges: int, net_amount: int,
                         expires_at: datetime) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO payments (payment_id, trace, company_id, merchant_id, origin, amount,
               currency, description, metadata, success_url, cancel_url, quote, charges,
               net_amount, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           RETURNING *""",
        payment_id, uuid.uuid4(), company_id, merchant_id, origin, amount, currency,
        description, metadata, success_url, cancel_url, quote, charges, net_amount, expires_at)
    await add_history(conn, row["id"], "pending", {"origin": origin})
    return row


async def payment(conn: asyncpg.Connection, payment_id: str, *, company_id: int | None,
                  merchant_id: int | None, for_update: bool = False) -> asyncpg.Record | None:
    """A payment within the caller's scope (None for SUPER's company/merchant)."""
    return await conn.fetchrow(
        f"""SELECT * FROM payments WHERE payment_id = $1
              AND ($2::bigint IS NULL OR company_id = $2)
              AND ($3::bigint IS NULL OR merchant_id = $3)
            {'FOR UPDATE' if for_update else ''}""", payment_id, company_id, merchant_id)


async def payment_by_pk_for_update(conn: asyncpg.Connection, pk: int) -> asyncpg.Record:
    return await conn.fetchrow("SELECT * FROM payments WHERE id = $1 FOR UPDATE", pk)


async def update_payment(conn: asyncpg.Connection, pk: int, changes: dict) -> asyncpg.Record:
    """Apply column changes (names come from code, never from a request)."""
    columns = list(changes)
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    return await conn.fetchrow(
        f"UPDATE payments SET {sets}, updated_at = now() WHERE id = $1 RETURNING *",
        pk, *[changes[c] for c in columns])


async def add_history(conn: asyncpg.Connection, pk: int, status: str, detail: dict) -> None:
    await conn.execute(
        "INSERT INTO payment_history (payment_pk, status, detail) VALUES ($1, $2, $3)",
        pk, status, detail)


async def add_refund(conn: asyncpg.Connection, *, refund_id: str, pk: int, amount: int,
                     reason: str | None) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO refunds (refund_id, payment_pk, amount, reason) VALUES ($1, $2, $3, $4) "
        "RETURNING *", refund_id, pk, amount, reason)
