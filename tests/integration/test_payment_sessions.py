"""A payment session of the length the create asks for (`expiresAt`, 5 minutes to 24
hours), and the expiry sweep that cancels pending payments whose session has ended:
through the real gateway in front of the real auth, fees and checkout services, with
the sweep made quick (payments.SWEEP_EVERY_SECONDS) for this module's stack."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.checkout import domain, payments
from services.checkout.pages import csrf_token
from shared.db import create_pool
from shared.events import Topology, UnitOfWork
from shared.money import parse_minor_string
from tests.integration.test_publishable_keys import SHOP, _create_key, _widget_create, stack
from tests.support.auth import make_company_admin, make_merchant
from tests.support.broker import EventTap
from tests.support.poll import poll_until

WALLET = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}
BOUNDS = "must be between 5 minutes and 24 hours from now"


@pytest.fixture(scope="module")
async def env(settings):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(payments, "SWEEP_EVERY_SECONDS", 0.2)
        async with stack(settings) as (gateway, auth):
            yield gateway, auth


@pytest.fixture
async def shop(settings, env):
    """(gateway, secret-key headers, publishable key) of a new active merchant."""
    gateway, auth = env
    merchant = await make_merchant(settings, await make_company_admin(settings),
                                   status="ACTIVE")
    pub = await _create_key(settings, auth, merchant, type="publishable",
                            allowedOrigins=[SHOP], name="web shop")
    secret = await _create_key(settings, auth, merchant)
    return gateway, {"X-API-Key": secret["key"]}, pub["key"]


async def _create(gateway, headers, **extra):
    return await gateway.post("/api/v2/payments/create", headers=headers, json={
        "amount": "1050", "currency": "USD", "description": "Concert ticket",
        "cancelUrl": "https://shop.example.com/cancel", **extra})


async def _made(resp) -> dict:
    assert resp.status == 201, await resp.text()
    return (await resp.json())["result"]


async def _expire(settings, *pids: str) -> None:
    """End the sessions now, as the clock would have (the shortest one is 5 minutes)."""
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        await conn.execute("UPDATE payments SET expires_at = now() - interval '1 second' "
                           "WHERE payment_id = ANY($1)", list(pids))
    finally:
        await conn.close()


async def _status(gateway, headers, pid: str) -> str:
    resp = await gateway.get(f"/api/v2/payments/{pid}", headers=headers)
    return (await resp.json())["result"]["status"]


# Choosing the length ------------------------------------------------------------------

async def test_a_create_keeps_the_session_end_it_asked_for(shop):
    gateway, headers, _ = shop
    ten_minutes = int(time.time()) + 600
    made = await _made(await _create(gateway, headers, expiresAt=str(ten_minutes)))
    assert made["expiresAt"] == str(ten_minutes)
    got = await gateway.get(f"/api/v2/payments/{made['paymentId']}", headers=headers)
    assert (await got.json())["result"]["expiresAt"] == str(ten_minutes)
    # A JSON integer is taken too (as `amount` takes one), up to a day ahead.
    a_day = int(time.time()) + 86400 - 60
    assert (await _made(await _create(gateway, headers, expiresAt=a_day)))["expiresAt"] == \
        str(a_day)
    default = await _made(await _create(gateway, headers))
    assert int(default["expiresAt"]) - int(default["createdAt"]) == 3600


AHEAD = object()  # the value is seconds from now, sent as Unix seconds


@pytest.mark.parametrize(("ahead", "value", "words"), [
    (AHEAD, 60, BOUNDS), (AHEAD, 2 * 86400, BOUNDS), (AHEAD, -3600, BOUNDS),
    (None, "abc", "must be Unix seconds"), (None, "", "must be Unix seconds"),
    (None, "12.5", "must be Unix seconds"), (None, 1.5, "must be Unix seconds"),
    (None, True, "must be Unix seconds"), (None, -5, "must be Unix seconds"),
    (None, "9" * 40, "must be Unix seconds"), (None, 10**20, BOUNDS),
])
async def test_an_expiry_outside_the_bounds_or_not_unix_seconds_is_a_400_naming_it(
        shop, ahead, value, words):
    gateway, headers, _ = shop
    if ahead is AHEAD:
        value = str(int(time.time()) + value)
    resp = await _create(gateway, headers, expiresAt=value)
    body = await resp.json()
    assert resp.status == 400, body
    assert resp.headers["X-Error-Code"] == "validation_error"
    assert body["status"] == "0" and body["result"] is None
    assert body["message"].startswith("Error! expiresAt: ") and words in body["message"], body


async def test_creates_batched_together_keep_each_ones_session_end(settings, shop):
    """Concurrent creates share one insert (payments.PaymentCreates): each row still
    gets the end its own request asked for, or the default hour."""
    gateway, headers, _ = shop
    now = int(time.time())
    asked = [now + 600 + 60 * i if i % 3 else None for i in range(15)]
    answers = await asyncio.gather(*(
        _create(gateway, headers, amount=str(100 + i),
                **({} if end is None else {"expiresAt": str(end)}))
        for i, end in enumerate(asked)))
    made = [await _made(a) for a in answers]
    for end, result in zip(asked, made, strict=True):
        if end is None:
            assert int(result["expiresAt"]) - int(result["createdAt"]) == 3600
        else:
            assert result["expiresAt"] == str(end)
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        held = dict(await conn.fetch(
            "SELECT payment_id, floor(extract(epoch FROM expires_at))::bigint FROM payments "
            "WHERE payment_id = ANY($1)", [m["paymentId"] for m in made]))
    finally:
        await conn.close()
    assert [str(held[m["paymentId"]]) for m in made] == [m["expiresAt"] for m in made]


async def test_the_widgets_create_takes_the_same_bounds(shop):
    gateway, _, pub = shop
    ten_minutes = int(time.time()) + 600
    resp = await _widget_create(gateway, pub, expiresAt=str(ten_minutes))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["expiresAt"] == str(ten_minutes)
    for value in (str(int(time.time()) + 60), str(int(time.time()) + 2 * 86400), "soon"):
        resp = await _widget_create(gateway, pub, expiresAt=value)
        assert resp.status == 400, await resp.text()
        assert resp.headers["Access-Control-Allow-Origin"] == SHOP  # the page can show why
        error = (await resp.json())["error"]
        assert error["field"] == "expiresAt" and error["code"] == "validation_error"


async def test_a_create_in_a_unit_of_work_keeps_the_end_its_caller_chose(settings, env):
    """payments.create, the one-by-one path (internal flows): the end it is given, which
    may be longer than a public create may ask (an invoice's link), or the default."""
    merchant = await make_merchant(settings, await make_company_admin(settings),
                                   status="ACTIVE")
    account = {"companyId": merchant.company_id, "merchantId": merchant.merchant_id,
               "merchantName": "Shop", "paymentMethods": None}
    body = domain.CreatePayment(amount="1234", currency="USD", description="Invoice")
    quote = {"charges": "34", "netAmount": "1200", "breakdown": []}
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    pool = await create_pool(settings.dsn_of("checkout"), schema="checkout",
                             application_name="tests")
    try:
        async with UnitOfWork(pool, producer="checkout") as work:
            chosen = await payments.create(
                work, merchant=account, origin="norpay", quote=quote, body=body,
                money=parse_minor_string("1234", "USD"), expires_at=end)
            default = await payments.create(
                work, merchant=account, origin="norpay", quote=quote, body=body,
                money=parse_minor_string("1234", "USD"))
        held = dict(await pool.fetch(
            "SELECT payment_id, expires_at FROM payments WHERE payment_id = ANY($1)",
            [chosen["payment_id"], default["payment_id"]]))
    finally:
        await pool.close()
    assert chosen["expires_at"] == held[chosen["payment_id"]] == end
    assert default["expires_at"] == held[default["payment_id"]]
    assert default["expires_at"] - default["created_at"] == domain.SESSION_TTL


# When it has passed -----------------------------------------------------------------

async def test_an_ended_session_is_refused_shown_expired_and_swept_to_canceled(
        settings, shop):
    gateway, headers, _ = shop
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["payment.canceled"]) as tap:
        pid = (await _made(await _create(gateway, headers,
                                         expiresAt=str(int(time.time()) + 600))))["paymentId"]
        assert (await gateway.get(f"/checkout/{pid}")).status == 200
        await _expire(settings, pid)
        # Refused at once, whether or not the sweep got to it yet...
        early = await gateway.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                                   json={"paymentMethod": "VISA_MASTER", "card": CARD})
        assert early.status == 410
        assert await early.json() == {"status": "0", "message": "Error! Payment session expired",
                                      "result": None}
        # ...and the sweep makes its status follow, with its event.
        await poll_until(lambda: _is_canceled(gateway, headers, pid), timeout=10,
                         what="the expiry sweep")
        [event] = await poll_until(lambda: [e for e in tap.events
                                            if e.data["paymentId"] == pid],
                                   timeout=10, what="payment.canceled")
    assert event.data["status"] == "canceled"
    assert event.data["cancellationReason"] == "expired"
    for confirm in ({"paymentMethod": "VISA_MASTER", "card": CARD},  # the batched path
                    {"paymentMethod": "NOR_WALLET", "payer": WALLET}):  # the locked one
        late = await gateway.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                                  json=confirm)
        assert late.status == 410 and late.headers["X-Error-Code"] == "payment_expired"
        assert (await late.json())["message"] == "Error! Payment session expired"
    page = await gateway.get(f"/checkout/{pid}")
    assert page.status == 410 and "This payment session has expired" in await page.text()
    paid = await gateway.post(f"/checkout/{pid}/pay", allow_redirects=False, data={
        "csrf": csrf_token(settings, pid), "method": "VISA_MASTER",
        "card_number": CARD["number"], "exp_month": "12", "exp_year": "2099", "cvc": "123"})
    assert paid.status == 410 and "This payment session has expired" in await paid.text()
    timeline = await gateway.get(f"/api/v2/payments/{pid}/timeline", headers=headers)
    events = (await timeline.json())["result"]["events"]
    assert [(e["status"], e["event"], e["detail"]) for e in events] == [
        ("pending", "payment.created", {"origin": "norpay"}),
        ("canceled", "payment.canceled", {"cancellationReason": "expired"})]
    assert events[1]["eventId"] == str(event.id)
    got = (await (await gateway.get(f"/api/v2/payments/{pid}", headers=headers)).json())
    assert (got["result"]["status"], got["result"]["cancellationReason"]) == \
        ("canceled", "expired")


async def _is_canceled(gateway, headers, pid: str) -> bool:
    return await _status(gateway, headers, pid) == "canceled"


async def test_the_sweep_leaves_open_sessions_and_payments_past_pending_alone(
        settings, shop):
    gateway, headers, _ = shop
    open_one = (await _made(await _create(gateway, headers)))["paymentId"]
    paid = (await _made(await _create(gateway, headers)))["paymentId"]
    resp = await gateway.post(f"/api/v2/payments/{paid}/confirm", headers=headers,
                              json={"paymentMethod": "VISA_MASTER", "card": CARD})
    assert resp.status == 200, await resp.text()
    waiting = (await _made(await _create(gateway, headers)))["paymentId"]  # OTP asked
    resp = await gateway.post(f"/api/v2/payments/{waiting}/confirm", headers=headers,
                              json={"paymentMethod": "OMARI", "phoneNumber": "263771234567"})
    assert (await resp.json())["result"]["status"] == "processing"
    ended = (await _made(await _create(gateway, headers)))["paymentId"]
    await _expire(settings, paid, waiting, ended)
    # `ended` canceled: a sweep ran after the others' sessions ended too.
    await poll_until(lambda: _is_canceled(gateway, headers, ended), timeout=10,
                     what="the expiry sweep")
    assert [await _status(gateway, headers, p) for p in (open_one, paid, waiting)] == [
        "pending", "completed", "processing"]
    # A merchant's own cancel says nothing of expiry: an ordinary 409 on confirm.
    assert (await gateway.post(f"/api/v2/payments/{open_one}/cancel",
                               headers=headers)).status == 200
    resp = await gateway.post(f"/api/v2/payments/{open_one}/confirm", headers=headers,
                              json={"paymentMethod": "VISA_MASTER", "card": CARD})
    assert resp.status == 409
    assert (await resp.json())["message"] == "Error! A canceled payment cannot be confirmed"


async def test_sweepers_running_at_once_cancel_each_payment_once(settings, shop):
    """Replicas sweep at the same time (rows taken FOR UPDATE SKIP LOCKED), in small
    batches here: every payment gets one canceled history row and one event."""
    gateway, headers, _ = shop
    answers = await asyncio.gather(*(_create(gateway, headers, amount=str(200 + i))
                                     for i in range(30)))
    pids = [(await _made(a))["paymentId"] for a in answers]
    pool = await create_pool(settings.dsn_of("checkout"), schema="checkout",
                             application_name="tests")
    try:
        await _expire(settings, *pids)
        swept = await asyncio.gather(*(payments.sweep_expired(pool, batch=4)
                                       for _ in range(4)))

        async def all_canceled():
            # The stack's own sweep may hold some rows (skipped above) until it commits.
            async with pool.acquire() as conn:
                found = await conn.fetch(
                    """SELECT p.payment_id, p.status, p.cancellation_reason,
                              array_agg(h.detail->>'eventId') AS events
                         FROM payments p JOIN payment_history h
                           ON h.payment_pk = p.id AND h.status = 'canceled'
                        WHERE p.payment_id = ANY($1) GROUP BY p.id""", pids)
            return found if len(found) == len(pids) else None

        rows = await poll_until(all_canceled, timeout=10, what="every payment canceled")
        async with pool.acquire() as conn:
            outbox = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE event_id::text = ANY($1)",
                [e for r in rows for e in r["events"]])
    finally:
        await pool.close()
    assert sum(swept) <= 30  # the stack's own sweep may have taken some
    assert sorted(r["payment_id"] for r in rows) == sorted(pids)
    assert all(r["status"] == "canceled" and r["cancellation_reason"] == "expired"
               and len(r["events"]) == 1 for r in rows)
    assert outbox == 30
