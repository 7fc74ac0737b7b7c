"""All SQL of the notifier."""

from __future__ import annotations

import uuid

import asyncpg


async def record_email(conn: asyncpg.Connection, *, event_id: uuid.UUID, recipients: list[str],
                       subject: str, correlation_id: str | None, message_id: str) -> None:
    await conn.execute(
        """INSERT INTO emails (event_id, recipients, subject, correlation_id, message_id)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING""",
        event_id, recipients, subject, correlation_id, message_id)
