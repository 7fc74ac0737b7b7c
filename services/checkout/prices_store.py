"""All SQL of the Prices routes (table checkout.prices)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from shared.http.envelopes import dumps


def _json(value: Any) -> str | None:
    """JSON text for a jsonb column, numbers exact (a request's Decimals stay as sent)."""
    return None if value is None else dumps(value).decode()


async def insert_price(conn: asyncpg.Connection, *, price_id: str, app_id: str,
                       company_id: int, merchant_id: int | None, amount: Decimal,
                       currency: str, fields: dict[str, Any],
                       price_item: dict) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO prices (price_id, app_id, company_id, merchant_id, amount, currency,
               currency_conversion, type, kyc_id, metadata, name, trigger_id, trigger_data,
               price_item)
           VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9, $10::text::jsonb, $11,
                   $12, $13::text::jsonb, $14::text::jsonb)
           RETURNING *""",
        price_id, app_id, company_id, merchant_id, amount, currency,
        _json(fields.get("currency_conversion")), fields["type"], fields.get("kyc_id"),
        _json(fields.get("metadata")), fields.get("name"), fields.get("trigger_id"),
        _json(fields.get("trigger_data")), _json(price_item))


async def list_prices(conn: asyncpg.Connection, app_id: str, *, include_deleted: bool,
                      limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    where = "app_id = $1 AND ($2 OR NOT deleted)"
    rows = await conn.fetch(
        f"SELECT * FROM prices WHERE {where} ORDER BY created_at DESC, id DESC "
        "LIMIT $3 OFFSET $4", app_id, include_deleted, limit, offset)
    total = await conn.fetchval(f"SELECT count(*) FROM prices WHERE {where}",
                                app_id, include_deleted)
    return rows, total


async def view_price(conn: asyncpg.Connection, app_id: str,
                     price_id: str) -> asyncpg.Record | None:
    """The price, its `views` counted up by this read."""
    return await conn.fetchrow(
        "UPDATE prices SET views = views + 1 WHERE app_id = $1 AND price_id = $2 RETURNING *",
        app_id, price_id)


async def delete_price(conn: asyncpg.Connection, app_id: str,
                       price_id: str) -> asyncpg.Record | None:
    """Soft delete (idempotent): the row stays, marked `deleted`."""
    return await conn.fetchrow(
        """UPDATE prices SET deleted = true,
               updated_at = CASE WHEN deleted THEN updated_at ELSE now() END
           WHERE app_id = $1 AND price_id = $2 RETURNING *""", app_id, price_id)
