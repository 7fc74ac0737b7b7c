"""SQL of merchants, API keys and apps (the rest of the auth SQL is in store.py).

Every lookup takes the caller's scope: `company_id` (None for SUPER) and
`merchant_id` (set only for a MERCHANT user). A row outside the scope reads as
missing, so handlers answer 404 and never confirm that it exists.
"""

from __future__ import annotations

import uuid

import asyncpg

from services.auth.merchants_domain import CreateMerchant
from shared.db import bounded_total, snapshot

# Request field -> column; the only names an UPDATE is ever built from.
_MERCHANT_COLUMNS = {
    "merchant_name": "name", "merchant_email": "email", "merchant_address": "address",
    "merchant_phone": "phone", "merchant_country": "country", "merchant_city": "city",
    "merchant_website": "website", "merchant_description": "description",
    "return_url": "return_url", "web_service_url": "web_service_url", "rate_plan": "rate_plan",
    "payment_methods": "payment_methods", "logo_url": "logo_url", "accent_color": "accent_color",
}
_APP_COLUMNS = {name: name for name in (
    "name", "type", "status", "use_explorer", "kyc_return_url", "app_fee")}


def _like(text: str | None) -> str | None:
    """A substring pattern for ILIKE, with the user's own wildcards taken literally."""
    if text is None:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _assignments(changes: dict, columns: dict[str, str]) -> tuple[str, list]:
    names = [columns[field] for field in changes]  # KeyError for anything unexpected
    sql = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    return sql, list(changes.values())


# Merchants ---------------------------------------------------------------------

# Every merchant row read or written here carries `is_default`: whether it is its
# company's default merchant (what an ADMIN's NORAH user payment tokens pay).
_ROW = """*, EXISTS (SELECT 1 FROM companies c WHERE c.id = merchants.company_id
                      AND c.default_merchant_id = merchants.id) AS is_default"""

async def create_merchant(conn: asyncpg.Connection, body: CreateMerchant, *, company_id: int,
                          sealed_secret: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        """INSERT INTO merchants (uid, company_id, name, email, address, phone, country, city,
                                  website, description, return_url, web_service_url,
                                  rate_plan, secret, payment_methods, logo_url,
                                  accent_color)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $17)
           RETURNING id""",
        uuid.uuid4(), company_id, body.merchant_name, body.merchant_email,
        body.merchant_address, body.merchant_phone, body.merchant_country, body.merchant_city,
        body.merchant_website, body.merchant_description, body.return_url,
        body.web_service_url, body.rate_plan, sealed_secret, body.payment_methods,
        body.logo_url, body.accent_color)
    # A company's first merchant is its default.
    await conn.execute("""UPDATE companies SET default_merchant_id = $1
                          WHERE id = $2 AND default_merchant_id IS NULL""",
                       row["id"], company_id)
    return await conn.fetchrow(f"SELECT {_ROW} FROM merchants WHERE id = $1", row["id"])


async def set_default_merchant(conn: asyncpg.Connection, company_id: int,
                               merchant_id: int) -> None:
    await conn.execute("UPDATE companies SET default_merchant_id = $2 WHERE id = $1",
                       company_id, merchant_id)


async def default_merchant(conn: asyncpg.Connection,
                           company_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_ROW} FROM merchants
            WHERE id = (SELECT default_merchant_id FROM companies WHERE id = $1)""",
        company_id)


async def merchant_by_id(conn: asyncpg.Connection, merchant_id: int, *,
                         company_id: int | None, only_merchant: int | None = None,
                         for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_ROW} FROM merchants
            WHERE id = $1 AND ($2::bigint IS NULL OR company_id = $2)
              AND ($3::bigint IS NULL OR id = $3)
            {"FOR UPDATE" if for_update else ""}""", merchant_id, company_id, only_merchant)


async def list_merchants(conn: asyncpg.Connection, *, company_id: int | None,
                         only_merchant: int | None, status: str | None, country: str | None,
                         city: str | None, search: str | None, limit: int,
                         offset: int) -> tuple[list[asyncpg.Record], int, bool]:
    """(a page by id, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where = """($1::bigint IS NULL OR company_id = $1) AND ($2::bigint IS NULL OR id = $2)
               AND ($3::text IS NULL OR status = $3)
               AND ($4::text IS NULL OR lower(country) = lower($4))
               AND ($5::text IS NULL OR lower(city) = lower($5))
               AND ($6::text IS NULL OR name ILIKE $6 OR email ILIKE $6)"""
    args = [company_id, only_merchant, status, country, city, _like(search)]
    async with snapshot(conn):
        rows = await conn.fetch(f"SELECT {_ROW} FROM merchants WHERE {where} ORDER BY id "
                                "LIMIT $7 OFFSET $8", *args, limit, offset)
        total, estimated = await bounded_total(conn, f"FROM merchants WHERE {where}", *args,
                                               order_by="ORDER BY id")
    return rows, total, estimated


async def update_merchant(conn: asyncpg.Connection, merchant_id: int,
                          changes: dict) -> asyncpg.Record:
    if not changes:
        return await conn.fetchrow(f"SELECT {_ROW} FROM merchants WHERE id = $1", merchant_id)
    sets, values = _assignments(changes, _MERCHANT_COLUMNS)
    return await conn.fetchrow(
        f"UPDATE merchants SET {sets}, updated_at = now() WHERE id = $1 RETURNING {_ROW}",
        merchant_id, *values)


async def set_merchant_status(conn: asyncpg.Connection, merchant_id: int,
                              status: str) -> asyncpg.Record | None:
    """The updated merchant; None when it already had that status."""
    return await conn.fetchrow(
        f"""UPDATE merchants SET status = $2, updated_at = now()
            WHERE id = $1 AND status <> $2 RETURNING {_ROW}""", merchant_id, status)


async def set_merchant_secret(conn: asyncpg.Connection, merchant_id: int,
                              sealed_secret: str) -> None:
    await conn.execute("UPDATE merchants SET secret = $2, updated_at = now() WHERE id = $1",
                       merchant_id, sealed_secret)


# API keys ----------------------------------------------------------------------

_KEY_COLUMNS = """k.id, k.key_id, k.prefix, k.name, k.company_id, k.merchant_id, k.created_at,
    k.last_used_at, k.revoked_at, a.app_id AS app_public_id, k.kind, k.publishable_key,
    k.allowed_origins, k.mode"""


async def create_api_key(conn: asyncpg.Connection, *, key_id: str, prefix: str, key_hash: str,
                         name: str | None, company_id: int, merchant_id: int,
                         app_pk: int | None, created_by: int | None, mode: str,
                         publishable_key: str | None = None,
                         allowed_origins: list[str] | None = None) -> asyncpg.Record:
    """A secret key (only its hash kept), or with `publishable_key` a publishable one."""
    await conn.execute(
        """INSERT INTO api_keys (key_id, prefix, key_hash, name, company_id, merchant_id,
                                 app_id, created_by, kind, publishable_key, allowed_origins,
                                 mode)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        key_id, prefix, key_hash, name, company_id, merchant_id, app_pk, created_by,
        "publishable" if publishable_key else "secret", publishable_key,
        allowed_origins or [], mode)
    return await api_key_by_id(conn, key_id, company_id=None)


async def update_api_key(conn: asyncpg.Connection, pk: int, *, name: str | None,
                         allowed_origins: list[str] | None) -> None:
    """Changes what is given (None keeps the value)."""
    await conn.execute(
        """UPDATE api_keys SET name = coalesce($2, name),
                               allowed_origins = coalesce($3, allowed_origins)
           WHERE id = $1""", pk, name, allowed_origins)


async def api_key_by_id(conn: asyncpg.Connection, key_id: str, *, company_id: int | None,
                        only_merchant: int | None = None) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {_KEY_COLUMNS} FROM api_keys k LEFT JOIN apps a ON a.id = k.app_id
            WHERE k.key_id = $1 AND ($2::bigint IS NULL OR k.company_id = $2)
              AND ($3::bigint IS NULL OR k.merchant_id = $3)""",
        key_id, company_id, only_merchant)


async def list_api_keys(conn: asyncpg.Connection, *, company_id: int | None,
                        only_merchant: int | None, merchant_id: int | None, limit: int,
                        offset: int) -> tuple[list[asyncpg.Record], int, bool]:
    """(a page by id, the filter's total, whether that total is an estimate:
    shared.db.bounded_total). The total counts api_keys alone: the join to apps is
    on its primary key and adds no rows."""
    where = """($1::bigint IS NULL OR k.company_id = $1) AND ($2::bigint IS NULL
               OR k.merchant_id = $2) AND ($3::bigint IS NULL OR k.merchant_id = $3)"""
    args = [company_id, only_merchant, merchant_id]
    async with snapshot(conn):
        rows = await conn.fetch(
            f"""SELECT {_KEY_COLUMNS} FROM api_keys k LEFT JOIN apps a ON a.id = k.app_id
                WHERE {where} ORDER BY k.id LIMIT $4 OFFSET $5""", *args, limit, offset)
        total, estimated = await bounded_total(conn, f"FROM api_keys k WHERE {where}", *args,
                                               order_by="ORDER BY k.id")
    return rows, total, estimated


async def revoke_api_key(conn: asyncpg.Connection, pk: int) -> bool:
    """True when this call revoked the key; False when it already was."""
    result = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", pk)
    return result.endswith(" 1")


async def live_api_key(conn: asyncpg.Connection, key_hash: str, *,
                       touch_every_seconds: int) -> asyncpg.Record | None:
    """A key that is not revoked (nor scoped to a deleted app), with its merchant's
    plan and status, and whether its last use is older than `touch_every_seconds`."""
    return await conn.fetchrow(
        """SELECT k.id, k.key_id, k.company_id, k.merchant_id, a.app_id AS app_public_id,
                  m.rate_plan, m.status AS merchant_status, k.kind, k.allowed_origins,
                  k.mode, (k.last_used_at IS NULL OR k.last_used_at < now()
                   - make_interval(secs => $2)) AS touch_due
           FROM api_keys k JOIN merchants m ON m.id = k.merchant_id
                LEFT JOIN apps a ON a.id = k.app_id
           WHERE k.key_hash = $1 AND k.revoked_at IS NULL
             AND (k.app_id IS NULL OR a.deleted_at IS NULL)""", key_hash, touch_every_seconds)


async def touch_api_key(conn: asyncpg.Connection, pk: int, *, every_seconds: int) -> None:
    """Record a use, at most once per `every_seconds` whatever the replica."""
    await conn.execute(
        """UPDATE api_keys SET last_used_at = now()
           WHERE id = $1 AND (last_used_at IS NULL
                              OR last_used_at < now() - make_interval(secs => $2))""",
        pk, every_seconds)


# Apps --------------------------------------------------------------------------

async def create_app(conn: asyncpg.Connection, *, app_id: str, company_id: int,
                     merchant_id: int | None, fields: dict) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO apps (app_id, company_id, merchant_id, name, type, status, use_explorer,
                             kyc_return_url, app_fee)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",
        app_id, company_id, merchant_id, fields["name"], fields["type"], fields["status"],
        fields["use_explorer"], fields["kyc_return_url"], fields["app_fee"])


async def app_by_id(conn: asyncpg.Connection, app_id: str, *, company_id: int | None,
                    only_merchant: int | None = None,
                    for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT * FROM apps WHERE app_id = $1 AND deleted_at IS NULL
              AND ($2::bigint IS NULL OR company_id = $2)
              AND ($3::bigint IS NULL OR merchant_id = $3)
            {"FOR UPDATE" if for_update else ""}""", app_id, company_id, only_merchant)


async def list_apps(conn: asyncpg.Connection, *, company_id: int | None,
                    only_merchant: int | None, status: str | None, app_type: str | None,
                    limit: int, offset: int) -> tuple[list[asyncpg.Record], int, bool]:
    """(a page by id, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where = """deleted_at IS NULL AND ($1::bigint IS NULL OR company_id = $1)
               AND ($2::bigint IS NULL OR merchant_id = $2)
               AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR type = $4)"""
    args = [company_id, only_merchant, status, app_type]
    async with snapshot(conn):
        rows = await conn.fetch(f"SELECT * FROM apps WHERE {where} ORDER BY id LIMIT $5 OFFSET $6",
                                *args, limit, offset)
        total, estimated = await bounded_total(conn, f"FROM apps WHERE {where}", *args,
                                               order_by="ORDER BY id")
    return rows, total, estimated


async def update_app(conn: asyncpg.Connection, pk: int, changes: dict) -> asyncpg.Record:
    if not changes:
        return await conn.fetchrow("SELECT * FROM apps WHERE id = $1", pk)
    sets, values = _assignments(changes, _APP_COLUMNS)
    return await conn.fetchrow(
        f"UPDATE apps SET {sets}, updated_at = now() WHERE id = $1 RETURNING *", pk, *values)


async def delete_app(conn: asyncpg.Connection, pk: int) -> list[asyncpg.Record]:
    """Soft delete; the keys scoped to the app are revoked with it (returned)."""
    await conn.execute("UPDATE apps SET deleted_at = now(), updated_at = now() WHERE id = $1",
                       pk)
    return await conn.fetch(
        """UPDATE api_keys SET revoked_at = now() WHERE app_id = $1 AND revoked_at IS NULL
           RETURNING key_id, merchant_id, company_id""", pk)


async def merchant_by_user_name(conn: asyncpg.Connection, user_name: str) -> asyncpg.Record | None:
    """The merchant a NORAH `merchantUserName` names: its MERCHANT login's e-mail, or
    else the merchant's own contact e-mail (case-insensitive)."""
    return await conn.fetchrow(
        """SELECT m.id, m.company_id, m.status, m.rate_plan, m.name FROM merchants m
           WHERE m.id = (SELECT u.merchant_id FROM users u
                         WHERE lower(u.email) = lower($1) AND u.role = 'MERCHANT'
                           AND u.deleted_at IS NULL)
              OR (lower(m.email) = lower($1) AND NOT EXISTS (
                    SELECT 1 FROM users u WHERE lower(u.email) = lower($1)
                      AND u.role = 'MERCHANT' AND u.deleted_at IS NULL))
           ORDER BY m.id LIMIT 1""", user_name)


async def merchant_by_uid(conn: asyncpg.Connection, uid) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_ROW} FROM merchants WHERE uid = $1", uid)


async def merchant_recipients(conn: asyncpg.Connection,
                              merchant_id: int) -> list[asyncpg.Record]:
    """Who hears of changes to a merchant's settings: the merchant's own e-mail (user_id
    NULL) first, then its enabled MERCHANT users'. No rows: no such merchant."""
    return await conn.fetch(
        """SELECT NULL::bigint AS user_id, m.email FROM merchants m WHERE m.id = $1
           UNION ALL
           SELECT u.id, u.email FROM users u
            WHERE u.merchant_id = $1 AND u.role = 'MERCHANT' AND u.enabled
              AND u.deleted_at IS NULL
           ORDER BY user_id NULLS FIRST""", merchant_id)
