"""All SQL of the notifier's webhooks (endpoints, events, deliveries, attempts)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

_ENDPOINT_SCOPE = """deleted_at IS NULL
    AND ($2::bigint IS NULL OR company_id = $2) AND ($3::bigint IS NULL OR merchant_id = $3)"""


# Endpoints ------------------------------------------------------------------------

async def insert_endpoint(conn: asyncpg.Connection, *, endpoint_id: str, company_id: int,
                          merchant_id: int, url: str, event_types: list[str], enabled: bool,
                          ordered: bool, description: str | None, sealed_secret: str,
                          source: str = "api") -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO webhook_endpoints (endpoint_id, company_id, merchant_id, source, url,
               event_types, enabled, ordered, description, secret)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *""",
        endpoint_id, company_id, merchant_id, source, url, event_types, enabled, ordered,
        description, sealed_secret)


async def endpoint(conn: asyncpg.Connection, endpoint_id: str, *, company_id: int | None,
                   merchant_id: int | None, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT * FROM webhook_endpoints WHERE endpoint_id = $1 AND {_ENDPOINT_SCOPE}"
        + (" FOR UPDATE" if for_update else ""), endpoint_id, company_id, merchant_id)


async def list_endpoints(conn: asyncpg.Connection, *, company_id: int | None,
                         merchant_id: int | None, limit: int, offset: int
                         ) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        """SELECT *, count(*) OVER () AS total FROM webhook_endpoints
           WHERE deleted_at IS NULL AND ($1::bigint IS NULL OR company_id = $1)
             AND ($2::bigint IS NULL OR merchant_id = $2)
           ORDER BY created_at, endpoint_id LIMIT $3 OFFSET $4""",
        company_id, merchant_id, limit, offset)
    return rows, (rows[0]["total"] if rows else 0)


async def update_endpoint(conn: asyncpg.Connection, endpoint_id: str,
                          changes: dict) -> asyncpg.Record:
    allowed = ("url", "event_types", "enabled", "ordered", "description")
    sets, args = ["updated_at = now()"], [endpoint_id]
    for name in allowed:
        if name in changes:
            args.append(changes[name])
            sets.append(f"{name} = ${len(args)}")
    if changes.get("enabled") is True:  # turned back on: a fresh start
        sets += ["disabled_reason = NULL", "failing_since = NULL"]
    return await conn.fetchrow(
        f"UPDATE webhook_endpoints SET {', '.join(sets)} WHERE endpoint_id = $1 RETURNING *",
        *args)


async def delete_endpoint(conn: asyncpg.Connection, endpoint_id: str) -> None:
    """Soft delete (the delivery log stays); what was still pending is canceled."""
    await conn.execute(
        """UPDATE webhook_endpoints SET deleted_at = now(), enabled = false, updated_at = now()
           WHERE endpoint_id = $1""", endpoint_id)
    await conn.execute(
        """UPDATE webhook_deliveries SET status = 'canceled', completed_at = now()
           WHERE endpoint_id = $1 AND status = 'pending'""", endpoint_id)


async def rotate_secret(conn: asyncpg.Connection, endpoint_id: str, *, sealed_secret: str,
                        sealed_previous: str | None, previous_until: datetime | None
                        ) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE webhook_endpoints SET secret = $2, previous_secret = $3,
               previous_secret_until = $4, updated_at = now()
           WHERE endpoint_id = $1 RETURNING *""",
        endpoint_id, sealed_secret, sealed_previous, previous_until)


async def merchant_endpoint(conn: asyncpg.Connection, merchant_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM webhook_endpoints WHERE merchant_id = $1 AND source = 'merchant'
             AND deleted_at IS NULL FOR UPDATE""", merchant_id)


async def set_endpoint_url(conn: asyncpg.Connection, endpoint_id: str, url: str) -> None:
    await conn.execute("UPDATE webhook_endpoints SET url = $2, updated_at = now() "
                       "WHERE endpoint_id = $1 AND url <> $2", endpoint_id, url)


async def subscriptions(conn: asyncpg.Connection,
                        merchant_ids: list[int]) -> list[asyncpg.Record]:
    """The enabled endpoints of these merchants, with the event types they take and
    what a send to them needs."""
    return await conn.fetch(
        """SELECT endpoint_id, merchant_id, source, event_types, ordered, url, secret,
                  previous_secret, previous_secret_until FROM webhook_endpoints
           WHERE merchant_id = ANY($1::bigint[]) AND enabled AND deleted_at IS NULL
           ORDER BY endpoint_id""", merchant_ids)


async def endpoint_failed(conn: asyncpg.Connection, endpoint_id: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, now())
           WHERE endpoint_id = $1 RETURNING *""", endpoint_id)


async def disable_endpoint(conn: asyncpg.Connection, endpoint_id: str,
                           reason: str) -> bool:
    """True when this call disabled it (it was enabled)."""
    done = await conn.fetchval(
        """UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2,
               updated_at = now()
           WHERE endpoint_id = $1 AND enabled RETURNING true""", endpoint_id, reason)
    return bool(done)


# Events and deliveries ------------------------------------------------------------

async def insert_events(conn: asyncpg.Connection,
                        rows: list[tuple[uuid.UUID, str, int | None, int, datetime, bytes]]
                        ) -> None:
    """rows: (event_id, event_type, company_id, merchant_id, occurred_at, body); an
    event stored already stays as it is."""
    await conn.execute(
        """INSERT INTO webhook_events (event_id, event_type, company_id, merchant_id,
               occurred_at, body)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[],
                                $5::timestamptz[], $6::bytea[])
           ON CONFLICT (event_id) DO NOTHING""", *zip(*rows, strict=True))


async def insert_deliveries(conn: asyncpg.Connection, rows: list[tuple[str, str, uuid.UUID]],
                            trigger: str, *, leased: list[bool] | None = None,
                            lease_seconds: float = 0.0) -> dict[str, int]:
    """rows: (delivery_id, endpoint_id, event_id) of stored events, inserted in this
    order (one statement); each delivery's seq by its id, in that order. A delivery
    `leased` is born leased to the caller, as a claim would have left it (its first
    attempt counted, due again only when the lease runs out)."""
    if not rows:
        return {}
    made = await conn.fetch(
        """INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_id, trigger,
               occurred_at, attempts, next_attempt_at)
           SELECT d.delivery_id, d.endpoint_id, d.event_id, $4, e.occurred_at,
                  CASE WHEN d.leased THEN 1 ELSE 0 END,
                  CASE WHEN d.leased THEN now() + make_interval(secs => $6) ELSE now() END
           FROM unnest($1::text[], $2::text[], $3::uuid[], $5::bool[])
                WITH ORDINALITY AS d(delivery_id, endpoint_id, event_id, leased, ord)
           JOIN webhook_events e ON e.event_id = d.event_id
           WHERE e.event_id = ANY($3::uuid[])  -- by its key, whatever the statistics say
           ORDER BY d.ord
           RETURNING delivery_id, seq""",
        *zip(*rows, strict=True), trigger, leased or [False] * len(rows),
        float(lease_seconds))
    seqs = {r["delivery_id"]: r["seq"] for r in made}
    return {delivery_id: seqs[delivery_id] for delivery_id, _, _ in rows}


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease_seconds: float,
                    busy: list[str], per_endpoint: int) -> list[asyncpg.Record]:
    """Lease up to `limit` due deliveries (call inside a transaction). Unordered
    endpoints get at most `per_endpoint` per claim, ordered ones only the pending
    delivery of their earliest event; endpoints in `busy` are skipped. The lease moves the next
    attempt past the send, so a crashed sender's deliveries come due again."""
    return await conn.fetch(
        """WITH candidates AS (
               SELECT seq FROM (
                   SELECT d.seq, d.next_attempt_at,
                          row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.seq) AS rn
                   FROM webhook_deliveries d
                   JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id
                   WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                     AND e.enabled AND e.deleted_at IS NULL
                     AND NOT (d.endpoint_id = ANY($2::text[]))
                     AND (NOT e.ordered OR NOT EXISTS (
                         SELECT 1 FROM webhook_deliveries p
                         WHERE p.endpoint_id = d.endpoint_id AND p.status = 'pending'
                           AND (p.occurred_at, p.seq) < (d.occurred_at, d.seq)))
               ) ranked WHERE rn <= $4
               ORDER BY next_attempt_at, seq LIMIT $1 * 4),
           picked AS (
               SELECT d.seq FROM webhook_deliveries d
               WHERE d.seq IN (SELECT seq FROM candidates)
                 AND d.status = 'pending' AND d.next_attempt_at <= now()
               ORDER BY d.next_attempt_at, d.seq LIMIT $1
               FOR UPDATE SKIP LOCKED),
           leased AS (
               UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
                      next_attempt_at = now() + make_interval(secs => $3)
               FROM picked WHERE d.seq = picked.seq
               RETURNING d.seq, d.delivery_id, d.endpoint_id, d.event_id, d.attempts)
           SELECT l.*, e.url, e.secret, e.previous_secret, e.previous_secret_until,
                  e.ordered, e.merchant_id, e.source, ev.body, ev.event_type
           FROM leased l
           JOIN webhook_endpoints e ON e.endpoint_id = l.endpoint_id
           JOIN webhook_events ev ON ev.event_id = l.event_id
           ORDER BY l.seq""",
        limit, busy, lease_seconds, per_endpoint)


async def release(conn: asyncpg.Connection, seq: int, *, after: float = 0.0) -> None:
    """Give back a leased delivery that was not attempted (shutdown; or its signing
    secret could not be had), due again `after` seconds from now."""
    await conn.execute(
        """UPDATE webhook_deliveries SET attempts = attempts - 1,
               next_attempt_at = now() + make_interval(secs => $2)
           WHERE seq = $1 AND status = 'pending'""", seq, float(after))


async def record_attempt(conn: asyncpg.Connection, *, seq: int, attempt: int,
                         status_code: int | None, error: str | None, response_ms: int,
                         response_body: str | None, status: str,
                         next_attempt_at: datetime | None) -> None:
    await conn.execute(
        """INSERT INTO webhook_attempts (delivery_seq, attempt, status_code, error,
               response_ms, response_body) VALUES ($1, $2, $3, $4, $5, $6)""",
        seq, attempt, status_code, error, response_ms, response_body)
    await conn.execute(
        """UPDATE webhook_deliveries SET status = $2,
               next_attempt_at = COALESCE($3, next_attempt_at), last_attempt_at = now(),
               last_status_code = $4, last_error = $5,
               completed_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END
           WHERE seq = $1 AND status = 'pending'""",
        seq, status, next_attempt_at, status_code, error)


async def record_successes(conn: asyncpg.Connection,
                           sent: list[tuple[int, int, int, int, str | None, str]]) -> None:
    """Successful attempts (seq, attempt, status code, ms, response body, endpoint id)
    of many deliveries in one statement: their attempt rows, the deliveries succeeded,
    their endpoints no longer failing."""
    seqs, attempts, codes, ms, bodies, endpoints = map(list, zip(*sent, strict=True))
    await conn.execute(
        """WITH a AS (
               INSERT INTO webhook_attempts (delivery_seq, attempt, status_code, error,
                   response_ms, response_body)
               SELECT seq, attempt, code, NULL, ms, body
                 FROM unnest($1::bigint[], $2::int[], $3::int[], $4::int[], $5::text[])
                   AS s(seq, attempt, code, ms, body)),
           d AS (
               -- Pending ones only, checked in the CASEs rather than the WHERE: a WHERE
               -- on the status lets the planner scan the pending index (all of them)
               -- when its statistics lag behind, instead of finding each by its seq.
               UPDATE webhook_deliveries d
                  SET status = CASE WHEN d.status = 'pending' THEN 'succeeded'
                                    ELSE d.status END,
                      last_attempt_at = CASE WHEN d.status = 'pending' THEN now()
                                             ELSE d.last_attempt_at END,
                      last_status_code = CASE WHEN d.status = 'pending' THEN s.code
                                              ELSE d.last_status_code END,
                      last_error = CASE WHEN d.status = 'pending' THEN NULL
                                        ELSE d.last_error END,
                      completed_at = CASE WHEN d.status = 'pending' THEN now()
                                          ELSE d.completed_at END
                 FROM unnest($1::bigint[], $3::int[]) AS s(seq, code)
                WHERE d.seq = s.seq)
           UPDATE webhook_endpoints SET failing_since = NULL
            WHERE endpoint_id = ANY($6::text[]) AND failing_since IS NOT NULL""",
        seqs, attempts, codes, ms, bodies, sorted(set(endpoints)))


# The delivery log -----------------------------------------------------------------

_DELIVERY = """SELECT d.*, ev.event_type, ev.occurred_at FROM webhook_deliveries d
               JOIN webhook_events ev ON ev.event_id = d.event_id
               JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id"""


async def list_deliveries(conn: asyncpg.Connection, *, company_id: int | None,
                          merchant_id: int | None, endpoint_id: str | None,
                          event_id: uuid.UUID | None, status: str | None,
                          event_type: str | None, limit: int, offset: int
                          ) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        f"""SELECT x.*, count(*) OVER () AS total FROM ({_DELIVERY}
              WHERE ($1::bigint IS NULL OR e.company_id = $1)
                AND ($2::bigint IS NULL OR e.merchant_id = $2)
                AND ($3::text IS NULL OR d.endpoint_id = $3)
                AND ($4::uuid IS NULL OR d.event_id = $4)
                AND ($5::text IS NULL OR d.status = $5)
                AND ($6::text IS NULL OR ev.event_type = $6)) x
            ORDER BY x.seq DESC LIMIT $7 OFFSET $8""",
        company_id, merchant_id, endpoint_id, event_id, status, event_type, limit, offset)
    return rows, (rows[0]["total"] if rows else 0)


async def delivery(conn: asyncpg.Connection, delivery_id: str, *, company_id: int | None,
                   merchant_id: int | None) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""{_DELIVERY} WHERE d.delivery_id = $1
              AND ($2::bigint IS NULL OR e.company_id = $2)
              AND ($3::bigint IS NULL OR e.merchant_id = $3)""",
        delivery_id, company_id, merchant_id)


async def deliveries_by_id(conn: asyncpg.Connection,
                           delivery_ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(f"{_DELIVERY} WHERE d.delivery_id = ANY($1) ORDER BY d.seq",
                            delivery_ids)


async def attempts_of(conn: asyncpg.Connection, seq: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM webhook_attempts WHERE delivery_seq = $1 ORDER BY attempt, id", seq)


async def events_for_redelivery(conn: asyncpg.Connection, *, endpoint_id: str,
                                merchant_id: int, event_id: uuid.UUID | None,
                                since: datetime | None, until: datetime | None,
                                only_failed: bool, limit: int) -> list[asyncpg.Record]:
    """The merchant's events (one, or those that occurred in [since, until)), oldest
    first; `only_failed` keeps events whose last delivery to the endpoint failed."""
    return await conn.fetch(
        """SELECT ev.event_id, ev.event_type FROM webhook_events ev
           WHERE ev.merchant_id = $2
             AND ($3::uuid IS NULL OR ev.event_id = $3)
             AND ($4::timestamptz IS NULL OR ev.occurred_at >= $4)
             AND ($5::timestamptz IS NULL OR ev.occurred_at < $5)
             AND (NOT $6 OR (SELECT d.status FROM webhook_deliveries d
                             WHERE d.event_id = ev.event_id AND d.endpoint_id = $1
                             ORDER BY d.seq DESC LIMIT 1) = 'failed')
           ORDER BY ev.occurred_at, ev.event_id LIMIT $7""",
        endpoint_id, merchant_id, event_id, since, until, only_failed, limit)
