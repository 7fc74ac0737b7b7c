"""All SQL of the auth service."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.auth.domain import AdminSignUp


class EmailTaken(Exception):
    pass


async def create_company_with_admin(conn: asyncpg.Connection, body: AdminSignUp,
                                    password_hash: str) -> asyncpg.Record:
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
                                      password_hash, role, enabled)
                   VALUES ($1, $2, $3, $4, $5, $6, 'ADMIN', false)
                   RETURNING id, first_name, last_name, email, role, enabled""",
                company["id"], body.first_name, body.last_name, body.email, body.phone,
                password_hash)
    except asyncpg.UniqueViolationError:
        raise EmailTaken(body.email) from None
    return {**dict(user), "company_name": company["name"], "company_uid": company["uid"]}


async def email_exists(conn: asyncpg.Connection, email: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM users WHERE lower(email) = lower($1)",
                                    email))


async def add_confirmation(conn: asyncpg.Connection, user_id: int, token_hash: str,
                           expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO email_confirmations (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        token_hash, user_id, expires_at)


async def use_confirmation(conn: asyncpg.Connection, token_hash: str) -> asyncpg.Record | None:
    """Mark a valid token used and enable its user; None when unknown, used or expired."""
    row = await conn.fetchrow(
        """UPDATE email_confirmations SET used_at = now()
           WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
           RETURNING user_id""", token_hash)
    if row is None:
        return None
    return await conn.fetchrow(
        """UPDATE users SET enabled = true, updated_at = now() WHERE id = $1
           RETURNING id, email, enabled, company_id""", row["user_id"])


async def super_exists(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM users WHERE role = 'SUPER' LIMIT 1"))


async def create_super(conn: asyncpg.Connection, *, email: str, password_hash: str,
                       first_name: str = "Super", last_name: str = "Admin") -> int:
    return await conn.fetchval(
        """INSERT INTO users (first_name, last_name, email, password_hash, role, enabled)
           VALUES ($1, $2, $3, $4, 'SUPER', true) RETURNING id""",
        first_name, last_name, email, password_hash)
