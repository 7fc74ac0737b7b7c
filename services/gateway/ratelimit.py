"""Per-merchant (and per-user, per-widget-client) rate limits, shared by every gateway
replica through PostgreSQL. A subject is a merchant id, `user:<id>` or `widget:...`
(authn.py decides who spends what).

Design
- Each plan has a per-minute and a per-day budget (`PLANS`). Windows are *fixed* and
  aligned to the UTC minute and the UTC day; a window's counter lives in one row of
  `rate_limit_counters` (migration `0001_rate_limits.sql`).
- The counters are in PostgreSQL, not in process memory, because the gateway runs as
  several replicas behind a load balancer: per-process counters would let a merchant
  have N times its budget with N replicas, and would reset on every restart.
- A claim is a single `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` that adds to the
  minute and the day row together; the row locks serialize concurrent claims, so each
  gets its own count and the budget is never overshot, whichever replica serves it.
- Leases: a plan whose minute budget is at least 200 (PROFESSIONAL, ENTERPRISE) claims
  `lease_size` = 1 % of it at once (10 and 100 requests) and spends that lease in the
  replica's memory, so a busy merchant costs one database round trip per 100 requests
  instead of one per request. A claim that meets the limit is granted only what is
  left, so the shared count still never lets more than the budget through; the cost is
  that requests leased by one replica and not yet used are not available to another
  (at most lease_size - 1 per replica and window: a merchant at its limit may be
  refused up to 1 % early on one replica while another holds the rest). Once a claim is
  refused, the replica refuses that merchant without asking again until the binding
  window ends (counters only grow within a window, so nothing can change before). What
  a minute's lease left unspent goes back to the day counter with the replica's next
  claim, so idle leases do not eat the day budget.
  `X-RateLimit-Remaining` then counts the replica's own unspent lease as remaining.
- Smaller budgets (STARTER's 100 a minute, the widget's 60) are counted exactly, one
  claim per request, and every attempt counts, including refused ones: deciding first
  and incrementing only when allowed would need a read and a conditional write (two
  statements, or a lock). A client hammering while limited stays limited, and its
  refused requests also spend its day budget.
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

_CLAIM = """
INSERT INTO rate_limit_counters AS c (merchant_id, window_kind, window_start, count)
VALUES ($1, 'minute', $2, $4), ($1, 'day', $3, $5)
ON CONFLICT (merchant_id, window_kind, window_start)
DO UPDATE SET count = c.count + EXCLUDED.count
RETURNING window_kind, count
"""
LEASE_FROM = 200  # minute budgets from this size on are leased (see the docstring)
MAX_LEASES = 10_000  # merchants whose lease a replica keeps; more drops the stale ones

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


def lease_size(per_minute: int) -> int:
    return per_minute // 100 if per_minute >= LEASE_FROM else 1


@dataclass
class _Lease:
    """A replica's share of one merchant's current windows."""

    plan: str
    minute_start: datetime
    day_start: datetime
    minute_count: int  # the shared counts after this replica's last claim
    day_count: int
    tokens: int = 0  # claimed and not yet spent
    refused: bool = False  # the last claim got nothing: refuse until the window ends


class RateLimiter:
    def __init__(self, pool: asyncpg.Pool, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._pool = pool
        self._clock = clock
        self._leases: dict[str, _Lease] = {}

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
        size = lease_size(per_minute)
        if size == 1:  # counted exactly: every attempt is a claim
            counts = await self._claim(merchant_id, minute_start, day_start, 1, day_size=1)
            exact = _Lease(plan, minute_start, day_start, counts["minute"], counts["day"])
            return self._decide(exact, per_minute, per_day, now, allowed=None)

        lease = self._leases.get(merchant_id)
        current = lease is not None and (lease.plan, lease.minute_start,
                                         lease.day_start) == (plan, minute_start, day_start)
        # `lease is None` is implied by `not current`; spelt out so the type narrows.
        if lease is None or not current or not (lease.refused or lease.tokens > 0):
            # What the previous minute's lease left unspent is given back to the day
            # (taken off the lease first, so concurrent requests give it back once).
            unspent = 0
            if lease is not None and not current and lease.day_start == day_start:
                # At most size - 1, so the day's increment stays positive (concurrent
                # claims may have pooled more than one lease; the rest stays counted).
                unspent, lease.tokens = min(lease.tokens, size - 1), 0
            counts = await self._claim(merchant_id, minute_start, day_start, size,
                                       day_size=size - unspent)
            # What the claim may use: its size, or what was left below either limit.
            granted = max(0, min(size, per_minute - (counts["minute"] - size),
                                 per_day - (counts["day"] - size)))
            lease = self._leases.get(merchant_id)  # another request may have claimed too
            if lease is None or (lease.plan, lease.minute_start, lease.day_start) != (
                    plan, minute_start, day_start):
                if len(self._leases) >= MAX_LEASES:
                    self._forget_before(minute_start)
                lease = self._leases[merchant_id] = _Lease(
                    plan, minute_start, day_start, 0, 0)
            # Counts only grow; beyond a limit they are that limit (a refused or partly
            # granted claim added more than was used).
            lease.minute_count = max(lease.minute_count, min(counts["minute"], per_minute))
            lease.day_count = max(lease.day_count, min(counts["day"], per_day))
            lease.tokens += granted
            lease.refused = lease.tokens == 0
        if lease.refused:
            return self._decide(lease, per_minute, per_day, now, allowed=False)
        lease.tokens -= 1
        return self._decide(lease, per_minute, per_day, now, allowed=True)

    async def _claim(self, merchant_id: str, minute_start: datetime, day_start: datetime,
                     size: int, *, day_size: int) -> dict[str, int]:
        rows = await self._pool.fetch(_CLAIM, merchant_id, minute_start, day_start, size,
                                      day_size)
        return {r["window_kind"]: r["count"] for r in rows}

    def _forget_before(self, minute_start: datetime) -> None:
        for key in [k for k, v in self._leases.items() if v.minute_start < minute_start]:
            del self._leases[key]
        if len(self._leases) >= MAX_LEASES:  # all current: start afresh
            self._leases.clear()

    @staticmethod
    def _decide(lease: _Lease, per_minute: int, per_day: int, now: datetime, *,
                allowed: bool | None) -> Decision:
        """`allowed` None: decided by the counts (exact counting)."""
        # Unspent lease counts as remaining: the shared counts minus what we still hold.
        minute = _Window(per_minute, lease.minute_count - lease.tokens,
                         lease.minute_start + MINUTE)
        day = _Window(per_day, lease.day_count - lease.tokens, lease.day_start + DAY)
        if allowed is None:
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
