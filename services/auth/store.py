"""All SQL of the auth service."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.auth.domain import AdminSignUp
from shared.db import snapshot


class EmailTaken(Exception):
    pass


async def create_company_with_admin(conn: asyncpg.Connection, body: AdminSignUp,
                                    password_hash: str, sealed_secret: str) -> dict:
    company = await conn.fetchrow(
        """INSERT INTO companies (uid, name, address, description, phone, public_email,
                                  website, return_url, web_service_url)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id, uid, name""",
        uuid.uuid4(), body.company_name, body.address, body.description, body.phone,
        body.public_email, body.website, body.return_url, body.web_service_url)
    try:
        async with conn.transaction():  # savepoint: the duplicate check is the unique index
            user = await conn.fetchrow(
                """INSERT INTO users (company_id, first_name, last_name, email, phone,
                                      password_hash, role, enabled, secret)
                   VALUES ($1, $2, $3, $4, $5, $6, 'ADMIN', false, $7)
                   RETURNING id, first_name, last_name, email, role, enabled""",
                company["id"], body.first_name, body.last_name, body.email, body.phone,
                password_hash, sealed_secret)
    except asyncpg.UniqueViolationError:
        raise EmailTaken(body.email) from None
    return {**dict(user), "company_name": company["name"], "company_id": company["id"]}


async def email_exists(conn: asyncpg.Connection, email: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)",
                                    email))


async def add_confirmation(conn: asyncpg.Connection, user_id: int, token_hash: str,
                           expires_at: datetime, purpose: str = "confirm") -> None:
    await conn.execute(
        """INSERT INTO email_confirmations (token_hash, user_id, expires_at, purpose)
           VALUES ($1, $2, $3, $4)""", token_hash, user_id, expires_at, purpose)


async def invited_user(conn: asyncpg.Connection, token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT u.id, u.email FROM email_confirmations e JOIN users u ON u.id = e.user_id
           WHERE e.token_hash = $1 AND e.purpose = 'invite' AND e.used_at IS NULL
             AND e.expires_at > now() AND u.deleted_at IS NULL""", token_hash)


async def use_confirmation(conn: asyncpg.Connection, token_hash: str, *,
                           purpose: str = "confirm",
                           password_hash: str | None = None) -> asyncpg.Record | None:
    """Mark a valid token used and enable its user (setting the password of an
    invitation); None when the token is unknown, used, expired or for another purpose."""
    row = await conn.fetchrow(
        """UPDATE email_confirmations SET used_at = now()
           WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
           RETURNING user_id""", token_hash, purpose)
    if row is None:
        return None
    return await conn.fetchrow(
        """UPDATE users SET enabled = true, confirmed_at = coalesce(confirmed_at, now()),
                  password_hash = coalesce($2, password_hash), updated_at = now()
           WHERE id = $1 AND deleted_at IS NULL
           RETURNING id, email, enabled, role, company_id, merchant_id""",
        row["user_id"], password_hash)


async def super_exists(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM users WHERE role = 'SUPER' LIMIT 1"))


async def create_user(conn: asyncpg.Connection, *, role: str, email: str, password_hash: str,
                      first_name: str, last_name: str, sealed_secret: str,
                      company_id: int | None = None, merchant_id: int | None = None,
                      phone: str | None = None, enabled: bool = False) -> int:
    """Insert a user; raises EmailTaken when the address is in use (any case)."""
    try:
        async with conn.transaction():
            return await conn.fetchval(
                """INSERT INTO users (first_name, last_name, email, password_hash, role, enabled,
                                      confirmed_at, company_id, merchant_id, phone, secret)
                   VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 THEN now() END, $7, $8, $9, $10)
                   RETURNING id""",
                first_name, last_name, email, password_hash, role, enabled, company_id,
                merchant_id, phone, sealed_secret)
    except asyncpg.UniqueViolationError:
        raise EmailTaken(email) from None


USER_COLUMNS = """u.id, u.first_name, u.last_name, u.email, u.phone, u.role, u.enabled,
    u.company_id, u.merchant_id, u.notes, u.created_at, u.confirmed_at, u.password_hash,
    u.secret, c.name AS company_name"""


async def user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT {USER_COLUMNS} FROM users u LEFT JOIN companies c ON c.id = u.company_id
            WHERE lower(u.email) = lower($1) AND u.deleted_at IS NULL""", email)


async def user_by_id(conn: asyncpg.Connection, user_id: int, *,
                     company_id: int | None = None) -> asyncpg.Record | None:
    """A live user; with `company_id`, only one of that company (tenant scope)."""
    return await conn.fetchrow(
        f"""SELECT {USER_COLUMNS} FROM users u LEFT JOIN companies c ON c.id = u.company_id
            WHERE u.id = $1 AND u.deleted_at IS NULL
              AND ($2::bigint IS NULL OR (u.company_id = $2 AND u.role <> 'SUPER'))""",
        user_id, company_id)


async def list_users(conn: asyncpg.Connection, *, company_id: int | None, role: str | None,
                     search: str | None, limit: int, offset: int) -> tuple[list, int]:
    where = """u.deleted_at IS NULL AND ($1::bigint IS NULL OR u.company_id = $1)
               AND ($2::text IS NULL OR u.role = $2)
               AND ($3::text IS NULL OR u.email ILIKE '%' || $3 || '%'
                    OR (u.first_name || ' ' || u.last_name) ILIKE '%' || $3 || '%')"""
    async with snapshot(conn):
        rows = await conn.fetch(
            f"""SELECT {USER_COLUMNS} FROM users u LEFT JOIN companies c ON c.id = u.company_id
                WHERE {where} ORDER BY u.id LIMIT $4 OFFSET $5""",
            company_id, role, search, limit, offset)
        total = await conn.fetchval(f"SELECT count(*) FROM users u WHERE {where}",
                                    company_id, role, search)
    return rows, total


async def update_user(conn: asyncpg.Connection, user_id: int, *, first_name: str | None,
                      last_name: str | None, email: str | None, role: str | None,
                      enabled: bool | None, notes: str | None) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                """UPDATE users SET first_name = coalesce($2, first_name),
                          last_name = coalesce($3, last_name), email = coalesce($4, email),
                          role = coalesce($5, role), enabled = coalesce($6, enabled),
                          notes = coalesce($7, notes), updated_at = now()
                   WHERE id = $1""", user_id, first_name, last_name, email, role, enabled, notes)
    except asyncpg.UniqueViolationError:
        raise EmailTaken(email or "") from None


async def drop_pending_confirmations(conn: asyncpg.Connection, user_id: int) -> None:
    """An address changed or an account disabled: outstanding links must not
    (re-)enable it."""
    await conn.execute(
        "DELETE FROM email_confirmations WHERE user_id = $1 AND used_at IS NULL", user_id)


async def delete_user(conn: asyncpg.Connection, user_id: int) -> None:
    """Soft delete, keeping what refers to the user; its sessions end now."""
    await conn.execute(
        """UPDATE users SET deleted_at = now(), enabled = false,
                  email = email || '#deleted-' || id, updated_at = now() WHERE id = $1""",
        user_id)
    await revoke_user_sessions(conn, user_id)


async def set_user_secret(conn: asyncpg.Connection, user_id: int, sealed_secret: str) -> None:
    await conn.execute("UPDATE users SET secret = $2, updated_at = now() WHERE id = $1",
                       user_id, sealed_secret)


# Sessions ---------------------------------------------------------------------

async def lock_remaining(conn: asyncpg.Connection, keys: list[str]) -> int:
    """Seconds until the latest lock among `keys` ends (0 when none is locked)."""
    return int(await conn.fetchval(
        """SELECT coalesce(ceil(extract(epoch FROM max(locked_until) - now())), 0)
           FROM sign_in_failures WHERE key = ANY($1) AND locked_until > now()""", keys))


async def record_failure(conn: asyncpg.Connection, key: str, *, window_seconds: int,
                         max_failures: int) -> int:
    """Count a sign-in attempt for `key` in a window; past the limit, lock it.

    Attempts are counted before the password is checked (a success clears the
    count), so `max_failures` attempts are checked at most per window."""
    failures = await conn.fetchval(
        """INSERT INTO sign_in_failures (key, failures, first_at) VALUES ($1, 1, now())
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN sign_in_failures.first_at < now() - make_interval(secs => $2)
                             THEN 1 ELSE sign_in_failures.failures + 1 END,
             first_at = CASE WHEN sign_in_failures.first_at < now() - make_interval(secs => $2)
                             THEN now() ELSE sign_in_failures.first_at END
           RETURNING failures""", key, window_seconds)
    if failures > max_failures:
        await conn.execute(
            """UPDATE sign_in_failures SET locked_until = now() + make_interval(secs => $2),
                      failures = 0, first_at = now() WHERE key = $1""", key, window_seconds)
    return failures


async def clear_failures(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute("DELETE FROM sign_in_failures WHERE key = $1", key)


async def add_refresh_token(conn: asyncpg.Connection, *, token_hash: str, family: uuid.UUID,
                            user_id: int, expires_at: datetime) -> None:
    await conn.execute(
        """INSERT INTO refresh_tokens (token_hash, family, user_id, expires_at)
           VALUES ($1, $2, $3, $4)""", token_hash, family, user_id, expires_at)


async def refresh_token_for_update(conn: asyncpg.Connection,
                                   token_hash: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT token_hash, family, user_id, expires_at, used_at, revoked_at
           FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE""", token_hash)


async def mark_refresh_used(conn: asyncpg.Connection, token_hash: str) -> None:
    await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
                       token_hash)


async def revoke_family(conn: asyncpg.Connection, family: uuid.UUID) -> int:
    result = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1 AND revoked_at IS NULL",
        family)
    return int(result.split()[-1])


async def revoke_user_sessions(conn: asyncpg.Connection, user_id: int) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id)


async def company_exists(conn: asyncpg.Connection, company_id: int) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM companies WHERE id = $1", company_id))
