"""All SQL of the auth service."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.auth.domain import AdminSignUp
from shared.db import bounded_total, snapshot
from shared.housekeeping import affected


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


async def company_by_id(conn: asyncpg.Connection, company_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, web_service_url FROM companies WHERE id = $1",
                               company_id)


async def user_by_id(conn: asyncpg.Connection, user_id: int, *,
                     company_id: int | None = None) -> asyncpg.Record | None:
    """A live user; with `company_id`, only one of that company (tenant scope)."""
    return await conn.fetchrow(
        f"""SELECT {USER_COLUMNS} FROM users u LEFT JOIN companies c ON c.id = u.company_id
            WHERE u.id = $1 AND u.deleted_at IS NULL
              AND ($2::bigint IS NULL OR (u.company_id = $2 AND u.role <> 'SUPER'))""",
        user_id, company_id)


async def list_users(conn: asyncpg.Connection, *, company_id: int | None, role: str | None,
                     search: str | None, limit: int,
                     offset: int) -> tuple[list[asyncpg.Record], int, bool]:
    """(a page by id, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where = """u.deleted_at IS NULL AND ($1::bigint IS NULL OR u.company_id = $1)
               AND ($2::text IS NULL OR u.role = $2)
               AND ($3::text IS NULL OR u.email ILIKE '%' || $3 || '%'
                    OR (u.first_name || ' ' || u.last_name) ILIKE '%' || $3 || '%')"""
    async with snapshot(conn):
        rows = await conn.fetch(
            f"""SELECT {USER_COLUMNS} FROM users u LEFT JOIN companies c ON c.id = u.company_id
                WHERE {where} ORDER BY u.id LIMIT $4 OFFSET $5""",
            company_id, role, search, limit, offset)
        total, estimated = await bounded_total(conn, f"FROM users u WHERE {where}",
                                               company_id, role, search,
                                               order_by="ORDER BY u.id")
    return rows, total, estimated


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

async def sign_in_wait(conn: asyncpg.Connection, keys: list[str]) -> int:
    """Whole seconds until the last delay among `keys` runs out (0: none holds back)."""
    return int(await conn.fetchval(
        """SELECT coalesce(ceil(extract(epoch FROM max(blocked_until) - now())), 0)
           FROM sign_in_throttle WHERE key = ANY($1) AND blocked_until > now()""", keys))


async def claim_sign_in(conn: asyncpg.Connection, key: str, *,
                        forget_after: float) -> int | None:
    """Count an attempt for `key`; its count, or None when a delay holds it back.

    One statement, so concurrent attempts each get their own count and none slips
    past a delay another has just set. Counts are forgotten once `forget_after`
    seconds have passed with no attempt after the last delay ran out."""
    return await conn.fetchval(
        """INSERT INTO sign_in_throttle AS t (key, failures, last_at) VALUES ($1, 1, now())
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN greatest(t.last_at, t.blocked_until)
                                  < now() - make_interval(secs => $2)
                             THEN 1 ELSE t.failures + 1 END,
             last_at = now()
           WHERE t.blocked_until IS NULL OR t.blocked_until <= now()
           RETURNING failures""", key, forget_after)


async def delay_sign_ins(conn: asyncpg.Connection, key: str, seconds: float) -> None:
    """Hold `key` back `seconds` from now (never shortening a longer delay)."""
    await conn.execute(
        """UPDATE sign_in_throttle
           SET blocked_until = greatest(blocked_until, now() + make_interval(secs => $2))
           WHERE key = $1""", key, seconds)


async def forgive_sign_in(conn: asyncpg.Connection, key: str, *, free: int) -> None:
    """The attempt counted for `key` had the right password: take it back, and the
    delay with it when the count is below `free` again."""
    await conn.execute(
        """UPDATE sign_in_throttle SET failures = greatest(failures - 1, 0),
                  blocked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE blocked_until END
           WHERE key = $1""", key, free)


async def clear_sign_in(conn: asyncpg.Connection, key: str) -> None:
    await conn.execute("DELETE FROM sign_in_throttle WHERE key = $1", key)


async def known_client(conn: asyncpg.Connection, account: str, client: str, *,
                       days: int) -> bool:
    """Whether `client` signed in to `account` with its password in the last `days`."""
    return bool(await conn.fetchval(
        """SELECT 1 FROM sign_in_clients WHERE account = $1 AND client = $2
             AND last_at > now() - make_interval(days => $3)""", account, client, days))


async def remember_client(conn: asyncpg.Connection, account: str, client: str) -> None:
    await conn.execute(
        """INSERT INTO sign_in_clients (account, client) VALUES ($1, $2)
           ON CONFLICT (account, client) DO UPDATE SET last_at = now()""", account, client)


# Unauthenticated writes ----------------------------------------------------------

async def count_public_write(conn: asyncpg.Connection, key: str, *, limit: int,
                             window_seconds: int) -> int | None:
    """Count one write against `key` in the current fixed window (aligned to the epoch
    by the database's clock, the same for every replica) unless `limit` are counted
    there already: None when counted, else the whole seconds until the window ends.

    One conditional upsert: concurrent writes queue on the row and each sees the count
    the one before left, so the budget is never overshot; a refused write counts
    nothing, so it cannot push a shared window further."""
    row = await conn.fetchrow(
        """WITH w AS (SELECT floor(extract(epoch FROM now()) / $2::int) * $2::int AS start,
                             extract(epoch FROM now()) AS now),
                counted AS (
                  INSERT INTO public_write_counters AS c (key, window_start, count)
                  SELECT $1, to_timestamp(w.start), 1 FROM w
                  ON CONFLICT (key, window_start) DO UPDATE SET count = c.count + 1
                  WHERE c.count < $3
                  RETURNING count)
           SELECT (SELECT count FROM counted) AS count,
                  greatest(1, ceil(w.start + $2::int - w.now))::int AS wait
           FROM w""", key, window_seconds, limit)
    return None if row["count"] is not None else row["wait"]


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


async def session_state(conn: asyncpg.Connection, user_id: int,
                        family: uuid.UUID) -> asyncpg.Record | None:
    """A live user's role, tenancy and status, and whether its session (refresh
    family) `family` is still signed in; None when the user is gone."""
    return await conn.fetchrow(
        """SELECT u.role, u.company_id, u.merchant_id, u.enabled,
                  EXISTS (SELECT 1 FROM refresh_tokens r
                          WHERE r.family = $2 AND r.user_id = u.id
                            AND r.revoked_at IS NULL) AS signed_in
           FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL""", user_id, family)


async def company_exists(conn: asyncpg.Connection, company_id: int) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM companies WHERE id = $1", company_id))


# Housekeeping (services/auth/housekeeping.py) -------------------------------------
# Each deletes at most `limit` rows past their retention, skipping rows a request holds
# (they go next round), and returns how many.

async def prune_sign_in_throttle(conn: asyncpg.Connection, limit: int, *,
                                 forget_after: float) -> int:
    """Counts already forgotten: `forget_after` seconds with no attempt after the last
    delay ran out (claim_sign_in would start such a count afresh anyway)."""
    return affected(await conn.execute(
        """DELETE FROM sign_in_throttle WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM sign_in_throttle
                WHERE last_at < now() - make_interval(secs => $1)
                  AND (blocked_until IS NULL
                       OR blocked_until < now() - make_interval(secs => $1))
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", float(forget_after), limit))


async def prune_sign_in_clients(conn: asyncpg.Connection, limit: int, *,
                                known_days: int) -> int:
    """Clients no longer known to the account (known_client looks `known_days` back)."""
    return affected(await conn.execute(
        """DELETE FROM sign_in_clients WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM sign_in_clients
                WHERE last_at < now() - make_interval(days => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", known_days, limit))


async def prune_public_write_counters(conn: asyncpg.Connection, limit: int, *,
                                      retention_seconds: float) -> int:
    """Windows that began `retention_seconds` ago (at least an hour: none is longer)."""
    return affected(await conn.execute(
        """DELETE FROM public_write_counters WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM public_write_counters
                WHERE window_start < now() - make_interval(secs => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", float(retention_seconds), limit))


async def prune_email_confirmations(conn: asyncpg.Connection, limit: int, *,
                                    retention_days: int) -> int:
    """Tokens used or expired `retention_days` ago: neither confirms nor invites any
    more (use_confirmation and invited_user take only unused, unexpired ones)."""
    return affected(await conn.execute(
        """DELETE FROM email_confirmations WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM email_confirmations
                WHERE least(used_at, expires_at) < now() - make_interval(days => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", retention_days, limit))


async def prune_refresh_tokens(conn: asyncpg.Connection, limit: int, *,
                               retention_seconds: float) -> int:
    """Tokens expired or revoked `retention_seconds` ago. Either is refused already,
    and a missing one is answered alike; a session whose tokens are all gone reads as
    signed out, which for one revoked or expired that long (at least an access token's
    lifetime, see housekeeping.py) it is."""
    return affected(await conn.execute(
        """DELETE FROM refresh_tokens WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM refresh_tokens
                WHERE least(expires_at, revoked_at) < now() - make_interval(secs => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", float(retention_seconds), limit))
