"""Per-merchant rate limits, shared by every gateway replica through PostgreSQL.

Design
- Each plan has a per-minute and a per-day budget (`PLANS`). Windows are *fixed* and
  aligned to the UTC minute and the UTC day; a window's counter lives in one row of
  `rate_limit_counters` (migration `0001_rate_limits.sql`).
- The counters are in PostgreSQL, not in process memory, because the gateway runs as
  several replicas behind a load balancer: per-process counters would let a merchant
  have N times its budget with N replicas, and would reset on every restart.
- Cost: one database round trip per authenticated merchant request. `hit` is a single
  `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` that upserts the minute and the day
  row together; the row locks serialize concurrent hits, so each hit gets its own count
  and the budget is never overshot, whichever replica serves it.
- Every attempt counts, including refused ones: deciding first and incrementing only
  when allowed would need a read and a conditional write (two statements, or a lock).
  The effect is that a client hammering while limited stays limited, and its refused
  requests also spend its day budget.
- A request is allowed when neither counter exceeds its limit after the increment.
- Headers describe the *binding* window: when a window is exhausted (nothing remains),
  the exhausted one with the later reset (the day, when both are); otherwise the minute
  window. `X-RateLimit-Reset` is the epoch second at which that window ends, and
  `Retry-After` (refusals only) the whole seconds until then, at least 1. A fixed window
  resets completely at its end: the first request of the next UTC minute (or day) starts
  from zero, so a client may send up to twice the minute budget around a boundary.
- Unknown plans get STARTER, the smallest budget.
- `cleanup()` deletes windows that ended more than a day ago; run it periodically
  (e.g. hourly, from one replica or all: it is idempotent).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

PLANS: dict[str, tuple[int, int]] = {  # plan -> (per minute, per day)
    "STARTER": (100, 10_000),
    "PROFESSIONAL": (1_000, 100_000),
    "ENTERPRISE": (10_000, 1_000_000),
}
# Not a plan a merchant can have: a publishable key's calls from one client address
# (the checkout widget: a create and a few status reads per shopper).
WIDGET_LIMITS = (60, 2_000)
DEFAULT_PLAN = "STARTER"
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
RETENTION = timedelta(days=1)

_HIT = """
INSERT INTO rate_limit_counters AS c (merchant_id, window_kind, window_start, count)
VALUES ($1, 'minute', $2, 1), ($1, 'day', $3, 1)
ON CONFLICT (merchant_id, window_kind, window_start) DO UPDATE SET count = c.count + 1
RETURNING window_kind, count
"""

_CLEANUP = """
DELETE FROM rate_limit_counters
WHERE window_start < $1::timestamptz - interval '1 minute'
  AND (window_kind = 'minute' OR window_start < $1::timestamptz - interval '1 day')
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds at which the binding window ends
    retry_after: int | None  # seconds, only when refused

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed and self.retry_after is not None:
            out["Retry-After"] = str(self.retry_after)
        return out


@dataclass(frozen=True)
class _Window:
    limit: int
    count: int
    end: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)


def plan_limits(plan: str) -> tuple[int, int]:
    """(per minute, per day) of a plan; unknown plans get STARTER's."""
    if plan == "WIDGET":
        return WIDGET_LIMITS
    return PLANS.get(plan.upper(), PLANS[DEFAULT_PLAN])


class RateLimiter:
    def __init__(self, pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("rate limiter clock must return an aware datetime")
        return now.astimezone(UTC)

    async def hit(self, merchant_id: str, plan: str) -> Decision:
        """Count one request of `merchant_id` and decide whether it may proceed."""
        per_minute, per_day = plan_limits(plan)
        now = self._now()
        minute_start = now.replace(second=0, microsecond=0)
        day_start = minute_start.replace(hour=0, minute=0)
        rows = await self._pool.fetch(_HIT, merchant_id, minute_start, day_start)
        counts = {r["window_kind"]: r["count"] for r in rows}
        minute = _Window(per_minute, counts["minute"], minute_start + MINUTE)
        day = _Window(per_day, counts["day"], day_start + DAY)

        allowed = minute.count <= minute.limit and day.count <= day.limit
        exhausted = [w for w in (minute, day) if w.remaining == 0]
        binding = max(exhausted, key=lambda w: w.end) if exhausted else minute
        retry_after = None
        if not allowed:
            retry_after = max(1, math.ceil((binding.end - now).total_seconds()))
        return Decision(allowed=allowed, limit=binding.limit, remaining=binding.remaining,
                        reset=int(binding.end.timestamp()), retry_after=retry_after)

    async def cleanup(self) -> int:
        """Delete windows that ended more than a day ago; returns how many rows."""
        status = await self._pool.execute(_CLEANUP, self._now() - RETENTION)
        return int(status.split()[-1])
