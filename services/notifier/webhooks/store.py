"""All SQL of the notifier's webhooks (endpoints, events, deliveries, attempts)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import (
    EXACT_TOTAL_UP_TO,
    KeyPage,
    Position,
    bounded_total,
    keyset_after,
    last_of,
    snapshot,
    walks_in_index_order,
)
from shared.housekeeping import affected

# The caller's tenant and mode: an endpoint registered through the API is of one mode,
# the implicit ones (webServiceUrl) serve both.
_ENDPOINT_SCOPE = """deleted_at IS NULL
    AND ($2::bigint IS NULL OR company_id = $2) AND ($3::bigint IS NULL OR merchant_id = $3)
    AND ($4::bool IS NULL OR source <> 'api' OR livemode = $4)"""


# Endpoints ------------------------------------------------------------------------

async def insert_endpoint(conn: asyncpg.Connection, *, endpoint_id: str, company_id: int,
                          merchant_id: int | None, url: str, event_types: list[str],
                          enabled: bool, ordered: bool, description: str | None,
                          sealed_secret: str, source: str = "api",
                          livemode: bool = False) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO webhook_endpoints (endpoint_id, company_id, merchant_id, source, url,
               event_types, enabled, ordered, description, secret, livemode)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *""",
        endpoint_id, company_id, merchant_id, source, url, event_types, enabled, ordered,
        description, sealed_secret, livemode)


async def api_endpoints_locked(conn: asyncpg.Connection, merchant_id: int) -> int:
    """How many endpoints the merchant registered through the API (disabled ones count,
    deleted ones do not), with its endpoint creation held for this transaction: two
    creates at once cannot both pass the limit."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                       f"notifier.webhook_endpoints:{merchant_id}")
    return await conn.fetchval(
        """SELECT count(*) FROM webhook_endpoints
           WHERE merchant_id = $1 AND source = 'api' AND deleted_at IS NULL""", merchant_id)


async def endpoint(conn: asyncpg.Connection, endpoint_id: str, *, company_id: int | None,
                   merchant_id: int | None, livemode: bool | None,
                   for_update: bool = False) -> asyncpg.Record | None:
    """`livemode` None: whatever its mode (the caller already scoped what led here)."""
    return await conn.fetchrow(
        f"SELECT * FROM webhook_endpoints WHERE endpoint_id = $1 AND {_ENDPOINT_SCOPE}"
        + (" FOR UPDATE" if for_update else ""), endpoint_id, company_id, merchant_id,
        livemode)


async def list_endpoints(conn: asyncpg.Connection, *, company_id: int | None,
                         merchant_id: int | None, livemode: bool, limit: int, offset: int
                         ) -> tuple[list[asyncpg.Record], int]:
    rows = await conn.fetch(
        """SELECT *, count(*) OVER () AS total FROM webhook_endpoints
           WHERE deleted_at IS NULL AND ($1::bigint IS NULL OR company_id = $1)
             AND ($2::bigint IS NULL OR merchant_id = $2)
             AND (source <> 'api' OR livemode = $5)
           ORDER BY created_at, endpoint_id LIMIT $3 OFFSET $4""",
        company_id, merchant_id, limit, offset, livemode)
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


async def company_endpoint(conn: asyncpg.Connection, company_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT * FROM webhook_endpoints WHERE company_id = $1 AND source = 'company'
             AND deleted_at IS NULL FOR UPDATE""", company_id)


async def set_endpoint_url(conn: asyncpg.Connection, endpoint_id: str, url: str) -> None:
    await conn.execute("UPDATE webhook_endpoints SET url = $2, updated_at = now() "
                       "WHERE endpoint_id = $1 AND url <> $2", endpoint_id, url)


async def subscriptions(conn: asyncpg.Connection, merchant_ids: list[int],
                        company_ids: list[int]) -> list[asyncpg.Record]:
    """The enabled endpoints of these merchants and of these companies (their
    webServiceUrl: no merchant), with the event types and mode they take and what a
    send to them needs. One statement: the fan-out's only read."""
    return await conn.fetch(
        """SELECT endpoint_id, company_id, merchant_id, source, livemode, event_types,
                  ordered, url, secret, previous_secret, previous_secret_until
           FROM webhook_endpoints
           WHERE (merchant_id = ANY($1::bigint[])
                  OR (source = 'company' AND company_id = ANY($2::bigint[])))
             AND enabled AND deleted_at IS NULL
           ORDER BY endpoint_id""", merchant_ids, company_ids)


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
                        rows: list[tuple[uuid.UUID, str, int | None, int, datetime, bool,
                                         bytes]]) -> None:
    """rows: (event_id, event_type, company_id, merchant_id, occurred_at, livemode,
    body); an event stored already stays as it is."""
    await conn.execute(
        """INSERT INTO webhook_events (event_id, event_type, company_id, merchant_id,
               occurred_at, livemode, body)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[],
                                $5::timestamptz[], $6::bool[], $7::bytea[])
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
               occurred_at, livemode, event_type, attempts, next_attempt_at)
           SELECT d.delivery_id, d.endpoint_id, d.event_id, $4, e.occurred_at, e.livemode,
                  e.event_type,
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
                    per_endpoint: int, per_merchant: int, endpoint_load: dict[str, int],
                    merchant_load: dict[int, int]) -> list[asyncpg.Record]:
    """Lease up to `limit` due deliveries (call inside a transaction), taking merchants
    in turn and, within a merchant, its endpoints in turn (each endpoint's earliest due
    first): a merchant with a backlog cannot put the others' deliveries behind its own.
    An endpoint gets sends up to `per_endpoint` in flight and a merchant up to
    `per_merchant`, counting those the caller has in flight already (`endpoint_load`,
    `merchant_load`, by tenant: a company's endpoint is a tenant of its own,
    domain.tenant_of); an ordered endpoint only the pending delivery of its
    earliest event. The lease moves the next attempt past the send, so a crashed
    sender's deliveries come due again."""
    endpoints, endpoint_counts = list(endpoint_load), list(endpoint_load.values())
    merchants, merchant_counts = list(merchant_load), list(merchant_load.values())
    return await conn.fetch(
        """WITH el AS (SELECT * FROM unnest($5::text[], $6::int[]) AS l(endpoint_id, n)),
           ml AS (SELECT * FROM unnest($7::bigint[], $8::int[]) AS l(merchant_id, n)),
           due AS (
               -- Endpoints and merchants already at their limit are left out before
               -- anything is ranked: a tarpit's backlog costs the claim a filter only.
               SELECT d.seq, d.next_attempt_at, e.tenant_id,
                      $3 - COALESCE(el.n, 0) AS endpoint_room,
                      $4 - COALESCE(ml.n, 0) AS merchant_room,
                      row_number() OVER (PARTITION BY d.endpoint_id
                                         ORDER BY d.next_attempt_at, d.seq) AS in_endpoint
               FROM webhook_deliveries d
               JOIN (SELECT endpoint_id, enabled, deleted_at, ordered,
                            COALESCE(merchant_id, -company_id) AS tenant_id
                     FROM webhook_endpoints) e ON e.endpoint_id = d.endpoint_id
               LEFT JOIN el ON el.endpoint_id = d.endpoint_id
               LEFT JOIN ml ON ml.merchant_id = e.tenant_id
               WHERE d.status = 'pending' AND d.next_attempt_at <= now()
                 AND e.enabled AND e.deleted_at IS NULL
                 AND COALESCE(el.n, 0) < $3 AND COALESCE(ml.n, 0) < $4
                 AND (NOT e.ordered OR NOT EXISTS (
                     SELECT 1 FROM webhook_deliveries p
                     WHERE p.endpoint_id = d.endpoint_id AND p.status = 'pending'
                       AND (p.occurred_at, p.seq) < (d.occurred_at, d.seq)))),
           ranked AS (
               SELECT seq, next_attempt_at, merchant_room,
                      row_number() OVER (PARTITION BY tenant_id
                                         ORDER BY in_endpoint, next_attempt_at, seq
                                         ) AS in_merchant
               FROM due WHERE in_endpoint <= endpoint_room),
           candidates AS (
               SELECT seq, next_attempt_at, in_merchant FROM ranked
               WHERE in_merchant <= merchant_room
               ORDER BY in_merchant, next_attempt_at, seq LIMIT $1 * 4),
           picked AS (
               SELECT d.seq FROM webhook_deliveries d
               JOIN candidates c ON c.seq = d.seq
               WHERE d.status = 'pending' AND d.next_attempt_at <= now()
               ORDER BY c.in_merchant, c.next_attempt_at, c.seq LIMIT $1
               FOR UPDATE OF d SKIP LOCKED),
           leased AS (
               UPDATE webhook_deliveries d SET attempts = d.attempts + 1,
                      next_attempt_at = now() + make_interval(secs => $2)
               FROM picked WHERE d.seq = picked.seq
               RETURNING d.seq, d.delivery_id, d.endpoint_id, d.event_id, d.attempts)
           SELECT l.*, e.url, e.secret, e.previous_secret, e.previous_secret_until,
                  e.ordered, e.company_id, e.merchant_id, e.source, ev.body, ev.event_type,
                  ev.merchant_id AS event_merchant_id
           FROM leased l
           JOIN webhook_endpoints e ON e.endpoint_id = l.endpoint_id
           JOIN webhook_events ev ON ev.event_id = l.event_id
           ORDER BY l.seq""",
        limit, float(lease_seconds), per_endpoint, per_merchant, endpoints, endpoint_counts,
        merchants, merchant_counts)


async def release(conn: asyncpg.Connection, seqs: list[int], *, after: float = 0.0) -> None:
    """Give back leased deliveries that were not attempted (shutdown; a signing secret
    that could not be had; a claim that found its sender's room taken meanwhile), due
    again `after` seconds from now."""
    await conn.execute(
        """UPDATE webhook_deliveries SET attempts = attempts - 1,
               next_attempt_at = now() + make_interval(secs => $2)
           WHERE seq = ANY($1::bigint[]) AND status = 'pending'""", seqs, float(after))


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


async def take_manual_sends(conn: asyncpg.Connection, tenant_id: int, wanted: int,
                            limit: int) -> tuple[bool, int, int]:
    """Count `wanted` redeliveries or test events (at most `limit`) against the
    tenant's (domain.tenant_of) budget of the current UTC minute, in the
    caller's transaction (a rollback gives them back; the tenant's row stays locked
    until it ends). Answers (granted, how many were left in this minute, seconds until
    the next)."""
    row = await conn.fetchrow(
        """WITH w AS (SELECT date_trunc('minute', now()) AS start),
           seen AS (SELECT b.used FROM webhook_manual_sends b, w
                    WHERE b.merchant_id = $1 AND b.window_start = w.start),
           taken AS (
               INSERT INTO webhook_manual_sends AS b (merchant_id, window_start, used)
               SELECT $1, w.start, $2 FROM w
               ON CONFLICT (merchant_id) DO UPDATE
                  SET used = CASE WHEN b.window_start = EXCLUDED.window_start
                                  THEN b.used + EXCLUDED.used ELSE EXCLUDED.used END,
                      window_start = EXCLUDED.window_start
                WHERE b.window_start <> EXCLUDED.window_start
                   OR b.used + EXCLUDED.used <= $3
               RETURNING used)
           SELECT EXISTS (SELECT 1 FROM taken) AS granted,
                  COALESCE((SELECT used FROM seen), 0) AS used,
                  greatest(1, ceil(extract(epoch FROM
                      w.start + interval '1 minute' - now())))::int AS retry_after
           FROM w""", tenant_id, wanted, limit)
    return row["granted"], max(0, limit - row["used"]), row["retry_after"]


# The delivery log -----------------------------------------------------------------

_DELIVERY = """SELECT d.* FROM webhook_deliveries d
               JOIN webhook_endpoints e ON e.endpoint_id = d.endpoint_id"""


async def list_deliveries(conn: asyncpg.Connection, *, company_id: int | None,
                          merchant_id: int | None, livemode: bool, endpoint_id: str | None,
                          event_id: uuid.UUID | None, status: str | None,
                          event_type: str | None, limit: int, offset: int,
                          after: Position | None = None) -> KeyPage[asyncpg.Record]:
    """A delivery is of its event's mode (an implicit endpoint's are of both). Newest
    first: each endpoint in scope is walked through its own range of one index (by mode,
    and by status or event type when filtered) and stopped at the page, and the walks
    merged (walks_in_index_order: else a busy endpoint's slice is read whole and
    sorted); from `after` (a keyset cursor's position: the last row's seq) or `offset`.
    The total is of the whole filter, counted by the same walks without merging them,
    so the count stops one past its bound whatever the number of endpoints; its estimate
    is planned over the endpoints by name, so the planner weighs a busy one as busy."""
    endpoints = await conn.fetchval(
        """SELECT coalesce(array_agg(endpoint_id), '{}') FROM webhook_endpoints
           WHERE ($1::bigint IS NULL OR company_id = $1)
             AND ($2::bigint IS NULL OR merchant_id = $2)
             AND ($3::text IS NULL OR endpoint_id = $3)""",
        company_id, merchant_id, endpoint_id)
    if not endpoints:
        return KeyPage([], 0, False, None)
    args: list[object] = [endpoints, livemode, event_id, status, event_type]
    where = """d.livemode = $2 AND ($3::uuid IS NULL OR d.event_id = $3)
               AND ($4::text IS NULL OR d.status = $4)
               AND ($5::text IS NULL OR d.event_type = $5)"""
    walk = """unnest($1::text[]) AS e(endpoint_id) CROSS JOIN LATERAL (
                  SELECT d.* FROM webhook_deliveries d
                   WHERE d.endpoint_id = e.endpoint_id AND {where} AND {after}
                   ORDER BY d.seq DESC LIMIT {n}) AS x"""
    cap = EXACT_TOTAL_UP_TO + 1
    page_args = list(args)
    start_at = keyset_after(page_args, "d.seq", after)
    n = int(offset) + int(limit) + 1
    # One event's deliveries are a handful, found by webhook_deliveries_event and sorted.
    async with snapshot(conn), walks_in_index_order(conn, event_id is None):
        total, estimated = await bounded_total(
            conn, "FROM " + walk.format(where=where, after="true", n=cap), *args,
            estimate=f"FROM webhook_deliveries d WHERE d.endpoint_id = ANY($1) AND {where}")
        rows = await conn.fetch(
            f"""SELECT x.* FROM {walk.format(where=where, after=start_at, n=n)}
                ORDER BY x.seq DESC LIMIT {int(limit) + 1} OFFSET {int(offset)}""",
            *page_args)
    rows, last = last_of(rows, limit, lambda r: Position(r["seq"], r["seq"]))
    return KeyPage(rows, total, estimated, last)


async def delivery(conn: asyncpg.Connection, delivery_id: str, *, company_id: int | None,
                   merchant_id: int | None, livemode: bool) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""{_DELIVERY} WHERE d.delivery_id = $1
              AND ($2::bigint IS NULL OR e.company_id = $2)
              AND ($3::bigint IS NULL OR e.merchant_id = $3)
              AND d.livemode = $4""",
        delivery_id, company_id, merchant_id, livemode)


async def deliveries_by_id(conn: asyncpg.Connection,
                           delivery_ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(f"{_DELIVERY} WHERE d.delivery_id = ANY($1) ORDER BY d.seq",
                            delivery_ids)


async def attempts_of(conn: asyncpg.Connection, seq: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM webhook_attempts WHERE delivery_seq = $1 ORDER BY attempt, id", seq)


async def events_for_redelivery(conn: asyncpg.Connection, *, endpoint_id: str,
                                merchant_id: int | None, company_id: int | None,
                                livemode: bool, event_id: uuid.UUID | None,
                                since: datetime | None, until: datetime | None,
                                only_failed: bool, limit: int) -> list[asyncpg.Record]:
    """The events of the merchant (or, with no merchant, of the company) in one mode
    (one, or those that occurred in [since, until)), oldest first; `only_failed` keeps
    events whose last delivery to the endpoint failed. Only events whose payload is
    still kept, held (FOR SHARE) until the caller's transaction ends: the housekeeping
    cannot drop one between this read and the deliveries made of it."""
    return await conn.fetch(
        """SELECT ev.event_id, ev.event_type FROM webhook_events ev
           WHERE ev.body IS NOT NULL
             AND ($2::bigint IS NULL OR ev.merchant_id = $2)
             AND ($8::bigint IS NULL OR ev.company_id = $8)
             AND ($2::bigint IS NOT NULL OR $8::bigint IS NOT NULL)
             AND ev.livemode = $9
             AND ($3::uuid IS NULL OR ev.event_id = $3)
             AND ($4::timestamptz IS NULL OR ev.occurred_at >= $4)
             AND ($5::timestamptz IS NULL OR ev.occurred_at < $5)
             AND (NOT $6 OR (SELECT d.status FROM webhook_deliveries d
                             WHERE d.event_id = ev.event_id AND d.endpoint_id = $1
                             ORDER BY d.seq DESC LIMIT 1) = 'failed')
           ORDER BY ev.occurred_at, ev.event_id LIMIT $7 FOR SHARE OF ev""",
        endpoint_id, merchant_id, event_id, since, until, only_failed, limit, company_id,
        livemode)


# Housekeeping (services/notifier/housekeeping.py) ---------------------------------
# Payloads and response bodies past their retention are dropped; the delivery log
# (deliveries, attempts, statuses, status codes, errors) stays.

async def prune_event_payloads(conn: asyncpg.Connection, limit: int, *,
                               retention_days: int) -> int:
    """Payloads of events stored `retention_days` ago that no delivery still has to
    send. An event being redelivered is held (events_for_redelivery): skipped."""
    return affected(await conn.execute(
        """UPDATE webhook_events SET body = NULL WHERE ctid = ANY(ARRAY(
               SELECT ev.ctid FROM webhook_events ev
                WHERE ev.body IS NOT NULL
                  AND ev.created_at < now() - make_interval(days => $1)
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                  WHERE d.event_id = ev.event_id AND d.status = 'pending')
                LIMIT $2 FOR UPDATE OF ev SKIP LOCKED))""", retention_days, limit))


async def prune_attempt_bodies(conn: asyncpg.Connection, limit: int, *,
                               retention_days: int) -> int:
    """Receivers' response bodies of attempts made `retention_days` ago, once their
    delivery is over (succeeded, failed or canceled)."""
    return affected(await conn.execute(
        """UPDATE webhook_attempts SET response_body = NULL WHERE ctid = ANY(ARRAY(
               SELECT a.ctid FROM webhook_attempts a
                WHERE a.response_body IS NOT NULL
                  AND a.attempted_at < now() - make_interval(days => $1)
                  AND EXISTS (SELECT 1 FROM webhook_deliveries d
                              WHERE d.seq = a.delivery_seq AND d.status <> 'pending')
                LIMIT $2 FOR UPDATE OF a SKIP LOCKED))""", retention_days, limit))


async def prune_manual_sends(conn: asyncpg.Connection, limit: int, *,
                             retention_seconds: float) -> int:
    """Budgets of minutes long past (one row per tenant; take_manual_sends starts a
    missing one afresh, as it would a past one)."""
    return affected(await conn.execute(
        """DELETE FROM webhook_manual_sends WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM webhook_manual_sends
                WHERE window_start < now() - make_interval(secs => $1)
                LIMIT $2 FOR UPDATE SKIP LOCKED))""", float(retention_seconds), limit))
