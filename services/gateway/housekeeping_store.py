"""SQL of the gateway's housekeeping (shared/housekeeping.py): each function deletes at
most `limit` rows past their retention, rows a request holds skipped, and says how many."""

from __future__ import annotations

import asyncpg

from shared.housekeeping import affected

# Expired keys (done past their retention, or claims whose lease ran out) count as
# absent already: a request with the key takes the row over, so none is still needed.
_IDEMPOTENCY_KEYS = """
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys WHERE expires_at <= now()
     LIMIT $1 FOR UPDATE SKIP LOCKED))
"""

# A window is over a minute (or a day) after it began; kept `retention` after that.
_RATE_LIMIT_COUNTERS = """
DELETE FROM rate_limit_counters WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM rate_limit_counters
     WHERE window_start < now() - make_interval(secs => $1) - interval '1 minute'
       AND (window_kind = 'minute'
            OR window_start < now() - make_interval(secs => $1) - interval '1 day')
     LIMIT $2 FOR UPDATE SKIP LOCKED))
"""


async def prune_idempotency_keys(conn: asyncpg.Connection, limit: int) -> int:
    return affected(await conn.execute(_IDEMPOTENCY_KEYS, limit))


async def prune_rate_limit_counters(conn: asyncpg.Connection, limit: int, *,
                                    retention_seconds: float) -> int:
    return affected(await conn.execute(_RATE_LIMIT_COUNTERS, float(retention_seconds), limit))
