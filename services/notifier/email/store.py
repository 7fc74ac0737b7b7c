"""All SQL of the notifier's e-mail (the record of sends, the per-address cap)."""

from __future__ import annotations

import uuid

import asyncpg

from shared.housekeeping import affected


async def record_email(conn: asyncpg.Connection, *, event_id: uuid.UUID, recipients: list[str],
                       subject: str, correlation_id: str | None, message_id: str | None,
                       suppressed: list[str] | None = None) -> None:
    """`recipients`: whom it went to; `suppressed`: who was left out (the cap), so a
    fully suppressed request has no recipients and no Message-ID."""
    await conn.execute(
        """INSERT INTO emails (event_id, recipients, subject, correlation_id, message_id,
                               suppressed)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING""",
        event_id, recipients, subject, correlation_id, message_id, suppressed or [])


# The per-recipient cap -------------------------------------------------------------

async def lock_mailboxes(conn: asyncpg.Connection, mailboxes: list[str]) -> None:
    """Until the transaction ends: one e-mail at a time per mailbox, across consumers
    and replicas, so concurrent mails cannot all pass its cap. Sorted: two mails to the
    same pair never wait on each other in opposite orders."""
    for mailbox in sorted(set(mailboxes)):
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                           f"email-recipient:{mailbox}")


async def recent_sends(conn: asyncpg.Connection, mailboxes: list[str],
                       window_seconds: float) -> dict[str, int]:
    """How many e-mails each mailbox got within the window."""
    rows = await conn.fetch(
        """SELECT m AS mailbox,
                  (SELECT count(*) FROM email_recipient_sends
                    WHERE address = m
                      AND sent_at > now() - make_interval(secs => $2)) AS sent
           FROM unnest($1::text[]) AS m""", sorted(set(mailboxes)), window_seconds)
    return {row["mailbox"]: row["sent"] for row in rows}


async def count_sends(conn: asyncpg.Connection, mailboxes: list[str],
                      window_seconds: float, forget: int = 100) -> None:
    """Count one e-mail to each mailbox, and forget up to `forget` sends no window looks
    at any more (any mailbox's; rows another transaction holds are left to the next)."""
    await conn.execute(
        "INSERT INTO email_recipient_sends (address) SELECT unnest($1::text[])", mailboxes)
    await conn.execute(
        """DELETE FROM email_recipient_sends WHERE ctid IN (
               SELECT ctid FROM email_recipient_sends
               WHERE sent_at <= now() - make_interval(secs => $1)
               LIMIT $2 FOR UPDATE SKIP LOCKED)""", window_seconds, forget)


# Housekeeping (services/notifier/housekeeping.py) ---------------------------------

async def prune_email_recipient_sends(conn: asyncpg.Connection, limit: int, *,
                                      window_seconds: float) -> int:
    """Sends no window looks at any more (count_sends forgets some as it goes too)."""
    return affected(await conn.execute(
        """DELETE FROM email_recipient_sends WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM email_recipient_sends
                WHERE sent_at <= now() - make_interval(secs => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", float(window_seconds), limit))


async def prune_emails(conn: asyncpg.Connection, limit: int, *, retention_days: int) -> int:
    """The record of e-mails sent `retention_days` ago (whom, what subject): nothing
    reads it to send, so it is kept only as long as it may be asked about."""
    return affected(await conn.execute(
        """DELETE FROM emails WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM emails WHERE sent_at < now() - make_interval(days => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", retention_days, limit))
