"""Per-merchant rate limits against the real PostgreSQL, as two gateway replicas would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.gateway.ratelimit import PLANS, RateLimiter, lease_size
from shared.db import create_pool
from tests.integration.conftest import migrate

T0 = datetime(2030, 5, 17, 12, 30, 15, tzinfo=UTC)  # 45 s before the minute ends


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _pool(settings) -> asyncpg.Pool:
    return await create_pool(settings.dsn_of("gateway"), schema="gateway",
                             application_name="tests")


@pytest.fixture(scope="module")
async def migrated(settings):
    await migrate(settings, "gateway")


@pytest.fixture
async def pool(settings, migrated):
    pool = await _pool(settings)
    yield pool
    await pool.close()


@pytest.fixture
def merchant(unique):
    return f"m_{unique}"


async def _counts(pool, merchant_id) -> dict[tuple[str, datetime], int]:
    rows = await pool.fetch("SELECT window_kind, window_start, count FROM rate_limit_counters"
                            " WHERE merchant_id = $1", merchant_id)
    return {(r["window_kind"], r["window_start"]): r["count"] for r in rows}


async def test_the_101st_request_in_a_minute_on_starter_is_refused_until_the_minute_ends(
        pool, merchant):
    limiter = RateLimiter(pool, clock=Clock())
    decisions = [await limiter.hit(merchant, "STARTER") for _ in range(101)]

    assert all(d.allowed for d in decisions[:100])
    assert [d.remaining for d in decisions[:3]] == [99, 98, 97]
    refused = decisions[100]
    assert not refused.allowed
    assert refused.retry_after == 45
    assert refused.limit == 100 and refused.remaining == 0
    assert refused.reset == int(datetime(2030, 5, 17, 12, 31, tzinfo=UTC).timestamp())


async def test_headers_describe_the_minute_window_and_add_retry_after_only_when_refused(
        pool, merchant):
    clock = Clock(T0 + timedelta(microseconds=300_000))  # 44.7 s left: rounds up
    limiter = RateLimiter(pool, clock=clock)
    minute_end = str(int(datetime(2030, 5, 17, 12, 31, tzinfo=UTC).timestamp()))

    first = await limiter.hit(merchant, "STARTER")
    assert first.retry_after is None
    assert first.headers() == {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99",
                               "X-RateLimit-Reset": minute_end}
    for _ in range(99):
        last_allowed = await limiter.hit(merchant, "STARTER")
    assert last_allowed.allowed
    assert last_allowed.headers()["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in last_allowed.headers()

    refused = await limiter.hit(merchant, "STARTER")
    assert refused.headers() == {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0",
                                 "X-RateLimit-Reset": minute_end, "Retry-After": "45"}


async def test_retry_after_is_at_least_one_second(pool, merchant):
    clock = Clock(datetime(2030, 5, 17, 12, 30, 59, 999_000, tzinfo=UTC))
    limiter = RateLimiter(pool, clock=clock)
    for _ in range(100):
        await limiter.hit(merchant, "STARTER")
    refused = await limiter.hit(merchant, "STARTER")
    assert not refused.allowed and refused.retry_after == 1
    assert refused.headers()["Retry-After"] == "1"


async def test_the_minute_window_resets_at_the_next_minute_but_the_day_keeps_counting(
        pool, merchant):
    clock = Clock()
    limiter = RateLimiter(pool, clock=clock)
    for _ in range(101):
        await limiter.hit(merchant, "STARTER")

    clock.now = datetime(2030, 5, 17, 12, 31, tzinfo=UTC)
    fresh = await limiter.hit(merchant, "STARTER")
    assert fresh.allowed and fresh.remaining == 99
    day_start = datetime(2030, 5, 17, tzinfo=UTC)
    assert (await _counts(pool, merchant))[("day", day_start)] == 102  # refused one counts

    # Spend the rest of the day budget directly, as if earlier minutes had used it.
    await pool.execute("UPDATE rate_limit_counters SET count = 9999 WHERE merchant_id = $1"
                       " AND window_kind = 'day'", merchant)
    last = await limiter.hit(merchant, "STARTER")
    midnight = datetime(2030, 5, 18, tzinfo=UTC)
    assert last.allowed
    assert (last.limit, last.remaining, last.reset) == (10_000, 0, int(midnight.timestamp()))

    clock.now = datetime(2030, 5, 17, 12, 32, tzinfo=UTC)  # new minute, same day
    refused = await limiter.hit(merchant, "STARTER")
    assert not refused.allowed
    assert (refused.limit, refused.remaining) == (10_000, 0)
    assert refused.retry_after == int((midnight - clock.now).total_seconds())

    clock.now = midnight
    assert (await limiter.hit(merchant, "STARTER")).allowed


async def test_when_both_windows_are_exhausted_the_day_binds(pool, merchant):
    limiter = RateLimiter(pool, clock=Clock())
    day_start = datetime(2030, 5, 17, tzinfo=UTC)
    await pool.execute("INSERT INTO rate_limit_counters VALUES ($1, 'day', $2, 9900)",
                       merchant, day_start)
    decisions = [await limiter.hit(merchant, "STARTER") for _ in range(101)]
    assert all(d.allowed for d in decisions[:100])
    assert decisions[99].limit == 10_000  # both exhausted: the later reset binds
    refused = decisions[100]
    assert not refused.allowed and refused.limit == 10_000
    assert refused.reset == int((day_start + timedelta(days=1)).timestamp())


async def test_two_replicas_hitting_one_merchant_at_once_allow_exactly_the_minute_budget(
        settings, pool, merchant):
    other = await _pool(settings)  # a second replica: its own pool and connections
    try:
        replicas = [RateLimiter(pool, clock=Clock()), RateLimiter(other, clock=Clock())]
        decisions = await asyncio.gather(
            *(replicas[i % 2].hit(merchant, "STARTER") for i in range(150)))
    finally:
        await other.close()

    assert sum(d.allowed for d in decisions) == 100
    assert sum(not d.allowed for d in decisions) == 50
    assert all(d.retry_after == 45 for d in decisions if not d.allowed)
    assert sorted((await _counts(pool, merchant)).values()) == [150, 150]


async def test_cleanup_removes_only_windows_that_ended_more_than_a_day_ago(pool, merchant):
    now = datetime(2030, 6, 10, 12, 0, tzinfo=UTC)
    rows = [
        ("minute", now - timedelta(days=1, minutes=2)),  # ended 1 d 1 min ago: deleted
        ("minute", now - timedelta(days=1)),             # ends in 1 min, a day ago: kept
        ("minute", now - timedelta(minutes=5)),          # kept
        ("day", datetime(2030, 6, 8, tzinfo=UTC)),       # ended 1 d 12 h ago: deleted
        ("day", datetime(2030, 6, 9, tzinfo=UTC)),       # ended 12 h ago: kept
        ("day", datetime(2030, 6, 10, tzinfo=UTC)),      # current: kept
    ]
    await pool.executemany("INSERT INTO rate_limit_counters VALUES ($1, $2, $3, 1)",
                           [(merchant, kind, start) for kind, start in rows])
    deleted = await RateLimiter(pool, clock=Clock(now)).cleanup()

    assert deleted >= 2  # other tests' 2030-05-17 windows are old too
    assert set(await _counts(pool, merchant)) == {(k, s) for k, s in rows[1:3] + rows[4:]}


async def test_an_unknown_plan_gets_the_starter_limits(pool, merchant):
    limiter = RateLimiter(pool, clock=Clock())
    decisions = [await limiter.hit(merchant, "PLATINUM") for _ in range(101)]
    assert decisions[0].limit == PLANS["STARTER"][0]
    assert sum(d.allowed for d in decisions) == 100
    assert decisions[100].retry_after == 45


async def test_plans_have_the_seed_limits_and_lower_case_names_match(pool, merchant):
    assert PLANS == {"STARTER": (100, 10_000), "PROFESSIONAL": (1_000, 100_000),
                     "ENTERPRISE": (10_000, 1_000_000)}
    decision = await RateLimiter(pool, clock=Clock()).hit(merchant, "enterprise")
    assert (decision.limit, decision.remaining) == (10_000, 9_999)


async def test_a_misaligned_window_is_rejected_by_the_table(pool, merchant):
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("INSERT INTO rate_limit_counters VALUES ($1, 'minute', $2, 1)",
                           merchant, T0)


async def test_a_large_budget_is_leased_a_hundredth_at_a_time(pool, merchant):
    limiter = RateLimiter(pool, clock=Clock())
    assert (lease_size(100), lease_size(1_000), lease_size(10_000)) == (1, 10, 100)
    decisions = [await limiter.hit(merchant, "ENTERPRISE") for _ in range(150)]

    assert all(d.allowed for d in decisions)
    # Two claims of 100 (one round trip each), not 150 increments.
    assert set((await _counts(pool, merchant)).values()) == {200}
    assert [d.remaining for d in decisions[:3]] == [9_999, 9_998, 9_997]
    assert decisions[-1].remaining == 10_000 - 150


async def test_two_replicas_leasing_one_budget_never_let_more_through_than_is_left(
        settings, pool, merchant):
    minute_start = T0.replace(second=0)
    await pool.execute("INSERT INTO rate_limit_counters VALUES ($1, 'minute', $2, 9850)",
                       merchant, minute_start)
    other = await _pool(settings)
    try:
        replicas = [RateLimiter(pool, clock=Clock()), RateLimiter(other, clock=Clock())]
        decisions = await asyncio.gather(
            *(replicas[i % 2].hit(merchant, "ENTERPRISE") for i in range(300)))
        # Refused for the rest of the minute without another claim.
        before = await _counts(pool, merchant)
        again = [await replicas[0].hit(merchant, "ENTERPRISE") for _ in range(5)]
        assert await _counts(pool, merchant) == before
    finally:
        await other.close()

    # 150 were left; each replica asked for 150: its leases were used up whole.
    assert sum(d.allowed for d in decisions) == 150
    refused = [d for d in decisions + again if not d.allowed]
    assert len(refused) == 155
    assert all(d.retry_after == 45 and d.remaining == 0 and d.limit == 10_000
               for d in refused)


async def test_a_leased_budget_refused_by_the_day_waits_for_midnight(pool, merchant):
    clock = Clock()
    limiter = RateLimiter(pool, clock=clock)
    day_start = datetime(2030, 5, 17, tzinfo=UTC)
    await pool.execute("INSERT INTO rate_limit_counters VALUES ($1, 'day', $2, 999950)",
                       merchant, day_start)
    decisions = [await limiter.hit(merchant, "ENTERPRISE") for _ in range(60)]

    assert sum(d.allowed for d in decisions) == 50  # a partial grant: what the day had
    refused = decisions[-1]
    assert (refused.limit, refused.remaining) == (1_000_000, 0)
    midnight = day_start + timedelta(days=1)
    assert refused.retry_after == int((midnight - clock.now).total_seconds())
    clock.now = midnight
    assert (await limiter.hit(merchant, "ENTERPRISE")).allowed


async def test_a_minutes_unspent_lease_goes_back_to_the_day(pool, merchant):
    clock = Clock()
    limiter = RateLimiter(pool, clock=clock)
    for _ in range(3):  # PROFESSIONAL leases 10 at a time; 7 are left unspent
        assert (await limiter.hit(merchant, "PROFESSIONAL")).allowed
    clock.now = T0 + timedelta(minutes=1)
    for _ in range(3):
        assert (await limiter.hit(merchant, "PROFESSIONAL")).allowed
    counts = await _counts(pool, merchant)
    day = datetime(2030, 5, 17, tzinfo=UTC)
    # Ten claimed in each minute; the day holds the 3 + 10 still counted, not 20.
    assert counts[("day", day)] == 13
    assert counts[("minute", T0.replace(second=0))] == 10
    assert counts[("minute", (T0 + timedelta(minutes=1)).replace(second=0))] == 10


async def test_concurrent_claims_pool_more_than_a_lease_and_the_next_minute_still_counts(
        pool, merchant):
    clock = Clock()
    limiter = RateLimiter(pool, clock=clock)
    # Thirty at once: several claims of 10 go out together and pool their grants.
    assert all(d.allowed for d in await asyncio.gather(
        *(limiter.hit(merchant, "PROFESSIONAL") for _ in range(30))))
    claimed = (await _counts(pool, merchant))[("minute", T0.replace(second=0))]
    assert claimed >= 30
    clock.now = T0 + timedelta(minutes=1)
    assert (await limiter.hit(merchant, "PROFESSIONAL")).allowed  # (was a CHECK violation)
    day = (await _counts(pool, merchant))[("day", datetime(2030, 5, 17, tzinfo=UTC))]
    # What the first minute left unspent went back, up to one lease less one.
    assert claimed + 1 <= day <= claimed + 10
