"""The dashboard's series (GET /api/v2/merchants/dashboard/series): payments made through
checkout (completed and failed, USD and NOR, test and live mode), two of them moved
into earlier days in billing's projection (its update trigger moves the rollups, as a
late event would), then the buckets of this period and of the previous one per
currency, the mode and the merchant scope, and the 400s of bad ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.billing.context import ManualClock
from tests.integration.test_billing_api import WALLET, _ok, billing_stack
from tests.support.auth import make_company_admin, make_merchant
from tests.support.poll import poll_until

CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2030, "cvc": "123"}
DECLINED = {**CARD, "number": "4000000000000002"}
ONE_NOR = 10**18
SERIES = "/api/v2/merchants/dashboard/series"


@pytest.fixture
async def shop(settings):
    async with billing_stack(settings) as (billing, checkout, _app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        yield billing, checkout, merchant, admin


async def _create(checkout, headers, amount: int, currency: str) -> str:
    created = await checkout.post("/api/v2/payments/create", headers=headers, json={
        "amount": str(amount), "currency": currency, "description": "Series order"})
    body = await created.json()
    assert created.status == 201, body
    return body["result"]["paymentId"]


async def _pay(checkout, headers, amount: int, currency: str, *, card=CARD) -> str:
    pid = await _create(checkout, headers, amount, currency)
    method = {"paymentMethod": "NOR_WALLET", "payer": WALLET} if currency == "NOR" else \
        {"paymentMethod": "VISA_MASTER", "card": card}
    resp = await checkout.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                               json=method)
    assert resp.status in (200, 402), await resp.text()
    return pid


async def _projected(settings, ids: list[str], settled_only: bool = True
                     ) -> dict[str, asyncpg.Record] | None:
    """Billing's projection of these payments, once each is settled there."""
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        rows = await conn.fetch("SELECT payment_id, status, created_at, completed_at "
                                "FROM payment_projection WHERE payment_id = ANY($1)", ids)
    finally:
        await conn.close()
    settled = {r["payment_id"]: r for r in rows
               if r["status"] in ("completed", "failed") or not settled_only}
    return settled if len(settled) == len(ids) else None


async def _complete(settings, pid: str) -> None:
    """Live mode has no rail here (docs/modes.md): its payment is completed in billing's
    projection as its completed event would (the update trigger moves the rollups)."""
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        done = await conn.execute(
            "UPDATE payment_projection SET status = 'completed', status_rank = 2, "
            "completed_at = created_at WHERE payment_id = $1", pid)
    finally:
        await conn.close()
    assert done == "UPDATE 1"


async def _move(settings, pid: str, back: timedelta) -> None:
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        done = await conn.execute(
            "UPDATE payment_projection SET created_at = created_at - $2::interval, "
            "completed_at = completed_at - $2::interval WHERE payment_id = $1", pid, back)
    finally:
        await conn.close()
    assert done == "UPDATE 1"


def _nonzero(buckets: list[dict]) -> dict[str, tuple]:
    return {b["start"]: (b["revenue"], b["completed"], b["failed"]) for b in buckets
            if (b["revenue"], b["completed"], b["failed"]) != ("0", 0, 0)}


def _nonzero_previous(buckets: list[dict]) -> dict[str, tuple]:
    return _nonzero([b["previous"] for b in buckets if b["previous"]])


def _hour(at: datetime) -> str:
    return str(int(at.astimezone(UTC).replace(minute=0, second=0, microsecond=0).timestamp()))


def _midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def test_the_series_gives_each_bucket_with_the_previous_periods_beside_it(
        settings, shop):
    client, checkout, merchant, admin = shop
    test, live = merchant.headers(settings), merchant.headers(settings, "live")
    made = {
        "usd1": await _pay(checkout, test, 1250, "USD"),
        "usd2": await _pay(checkout, test, 990, "USD"),
        "failed": await _pay(checkout, test, 500, "USD", card=DECLINED),
        "nor": await _pay(checkout, test, 2 * ONE_NOR, "NOR"),
        "yesterday": await _pay(checkout, test, 700, "USD"),
        "last_week": await _pay(checkout, test, 300, "USD"),
    }
    rows = await poll_until(lambda: _projected(settings, list(made.values())),
                            what="the payments in billing's projection")
    live_pid = await _create(checkout, live, 4000, "USD")
    await poll_until(lambda: _projected(settings, [live_pid], settled_only=False),
                     what="the live payment in billing's projection")
    await _complete(settings, live_pid)
    assert rows[made["failed"]]["status"] == "failed"
    await _move(settings, made["yesterday"], timedelta(days=1))
    await _move(settings, made["last_week"], timedelta(days=7))
    at = {name: rows[pid]["created_at"] for name, pid in made.items()}

    # Today, by the hour; yesterday's same hours beside it.
    today = await _ok(await client.get(SERIES, headers=test, params={"period": "today"}))
    midnight = _midnight(datetime.now(UTC))
    assert (today["period"], today["granularity"], today["livemode"]) == ("today", "hour",
                                                                          False)
    assert today["current"]["start"] == str(int(midnight.timestamp()))
    assert today["previous"]["start"] == str(int((midnight - timedelta(days=1)).timestamp()))
    assert [c["currency"] for c in today["currencies"]] == ["NOR", "USD"]
    nor, usd = today["currencies"]
    assert len(usd["buckets"]) == datetime.now(UTC).hour + 1  # midnight to the running hour
    assert [int(b["start"]) - int(usd["buckets"][0]["start"]) for b in usd["buckets"]] == \
        [3600 * i for i in range(len(usd["buckets"]))]
    assert usd["current"] == {"revenue": "2240", "completed": 2, "failed": 1}
    assert usd["previous"] == {"revenue": "700", "completed": 1, "failed": 0}
    assert nor["current"] == {"revenue": str(2 * ONE_NOR), "completed": 1, "failed": 0}
    assert nor["previous"] == {"revenue": "0", "completed": 0, "failed": 0}
    expected: dict[str, list] = {}
    for name, revenue, completed, failed in (("usd1", 1250, 1, 0), ("usd2", 990, 1, 0),
                                             ("failed", 0, 0, 1)):
        cell = expected.setdefault(_hour(at[name]), [0, 0, 0])
        cell[0], cell[1], cell[2] = cell[0] + revenue, cell[1] + completed, cell[2] + failed
    assert _nonzero(usd["buckets"]) == {k: (str(v[0]), v[1], v[2]) for k, v in expected.items()}
    yesterday_hour = _hour(at["yesterday"] - timedelta(days=1))
    assert _nonzero_previous(usd["buckets"]) == {yesterday_hour: ("700", 1, 0)}
    beside = [b for b in usd["buckets"] if b["previous"]["start"] == yesterday_hour][0]
    assert int(beside["start"]) - int(yesterday_hour) == 86400  # the same hour, a day on

    # A custom week by the day: yesterday's payment in this range, last week's beside
    # today in the previous one.
    start = midnight - timedelta(days=6)
    week = await _ok(await client.get(SERIES, headers=test, params={
        "from": str(int(start.timestamp())),
        "to": str(int((midnight + timedelta(days=1)).timestamp()))}))
    assert (week["period"], week["granularity"]) == ("custom", "day")
    assert week["previous"] == {"start": str(int((start - timedelta(days=7)).timestamp())),
                                "end": str(int(start.timestamp()))}
    usd = [c for c in week["currencies"] if c["currency"] == "USD"][0]
    assert [b["start"] for b in usd["buckets"]] == [
        str(int((start + timedelta(days=i)).timestamp())) for i in range(7)]
    assert _nonzero(usd["buckets"]) == {
        str(int((midnight - timedelta(days=1)).timestamp())): ("700", 1, 0),
        str(int(midnight.timestamp())): ("2240", 2, 1)}
    assert usd["buckets"][6]["previous"] == {
        "start": str(int((midnight - timedelta(days=7)).timestamp())), "revenue": "300",
        "completed": 1, "failed": 0}
    assert usd["previous"] == {"revenue": "300", "completed": 1, "failed": 0}

    # This month by the day: the 1st to today, last month's same days beside them.
    month = await _ok(await client.get(SERIES, headers=test, params={"period": "month"}))
    assert month["granularity"] == "day"
    usd = [c for c in month["currencies"] if c["currency"] == "USD"][0]
    assert len(usd["buckets"]) == midnight.day
    assert usd["buckets"][-1]["start"] == str(int(midnight.timestamp()))
    assert (usd["buckets"][-1]["revenue"], usd["buckets"][-1]["failed"]) == ("2240", 1)

    # Live mode sees its own payment only; test mode never sees it.
    live_series = await _ok(await client.get(SERIES, headers=live, params={"period": "today"}))
    assert live_series["livemode"] is True
    assert [(c["currency"], c["current"]) for c in live_series["currencies"]] == [
        ("USD", {"revenue": "4000", "completed": 1, "failed": 0})]

    # The company's ADMIN reads its merchant's; another company reads nothing of it.
    mine = await _ok(await client.get(SERIES, headers=admin.headers(settings), params={
        "period": "today", "merchantId": str(merchant.merchant_id)}))
    assert [c["current"]["revenue"] for c in mine["currencies"]] == [str(2 * ONE_NOR), "2240"]
    stranger = await make_company_admin(settings)
    theirs = await _ok(await client.get(SERIES, headers=stranger.headers(settings), params={
        "period": "today", "merchantId": str(merchant.merchant_id)}))
    assert theirs["currencies"] == []

    # The existing dashboard's answer is unchanged by the series beside it.
    dash = await _ok(await client.get("/api/v2/merchants/dashboard", headers=test,
                                      params={"period": "today", "currency": "USD"}))
    assert dash["revenue"]["total"] == "2240" and dash["payments"]["failed"] == 1


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"period": "decade"}, "period", "must be one of today, week, month, year"),
    ({"from": "1700000000"}, "to", "give both from and to"),
    ({"to": "1700000000"}, "from", "give both from and to"),
    ({"from": "yesterday", "to": "1700000000"}, "from", "must be Unix seconds"),
    ({"from": "1700000000", "to": "1700000000"}, "to", "must be after from"),
    ({"from": "1600000000", "to": "1700000000"}, "to", "at most 366 days"),
    ({"period": "week", "from": "1700000000", "to": "1700003600"}, "period", "not both"),
])
async def test_a_bad_range_is_a_400_naming_it(settings, shop, params, field, says):
    client, _checkout, merchant, _admin = shop
    resp = await client.get(SERIES, headers=merchant.headers(settings), params=params)
    body = await resp.json()
    assert resp.status == 400, body
    assert field in body["message"] and says in body["message"], body


async def test_a_longer_month_after_a_shorter_one_has_no_previous_for_its_last_days(settings):
    """31 March against February: the buckets past 28 February have no previous bucket
    (null), and February's totals are its own days only."""
    clock = ManualClock(datetime(2026, 3, 31, 12, 0, tzinfo=UTC))
    async with billing_stack(settings, clock=clock) as (client, checkout, _app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        headers = merchant.headers(settings)
        march, feb = await _pay(checkout, headers, 600, "USD"), \
            await _pay(checkout, headers, 400, "USD")
        rows = await poll_until(lambda: _projected(settings, [march, feb]),
                                what="the payments in billing's projection")
        for pid, day in ((march, datetime(2026, 3, 30, 9, tzinfo=UTC)),
                         (feb, datetime(2026, 2, 28, 9, tzinfo=UTC))):
            await _move(settings, pid, rows[pid]["created_at"] - day)
        got = await _ok(await client.get(SERIES, headers=headers, params={"period": "month"}))
    assert got["current"] == {"start": str(int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())),
                              "end": str(int(clock.now().timestamp()))}
    assert got["previous"] == {"start": str(int(datetime(2026, 2, 1, tzinfo=UTC).timestamp())),
                               "end": str(int(datetime(2026, 3, 1, tzinfo=UTC).timestamp()))}
    (usd,) = got["currencies"]
    assert len(usd["buckets"]) == 31
    assert [b["previous"] is None for b in usd["buckets"]] == [False] * 28 + [True] * 3
    assert usd["buckets"][27]["previous"]["revenue"] == "400"  # 28 February beside 28 March
    assert usd["buckets"][29]["revenue"] == "600"
    assert (usd["current"]["revenue"], usd["previous"]["revenue"]) == ("600", "400")
