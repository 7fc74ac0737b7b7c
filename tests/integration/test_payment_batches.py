"""Public creates that arrive together share one statement (payments.PaymentCreates):
each still gets its own payment, history row and payment.created event, and a row the
database refuses fails only its own create."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from services.checkout import domain, store
from services.checkout.payments import PaymentCreates
from shared.db import create_pool
from shared.events import Event
from shared.money import parse_minor_string
from tests.integration.test_payments import _create, shop  # noqa: F401 - fixture


async def test_fifty_concurrent_creates_each_get_their_payment_history_and_event(
        settings, shop):  # noqa: F811
    client, headers, merchant = shop
    answers = await asyncio.gather(*(
        _create(client, headers, amount=str(100 + i), currency="USD") for i in range(50)))
    bodies = [await a.json() for a in answers]
    assert [a.status for a in answers] == [201] * 50, bodies[:2]
    ids = [b["result"]["paymentId"] for b in bodies]
    assert len(set(ids)) == 50
    assert sorted(int(b["result"]["amount"]) for b in bodies) == list(range(100, 150))

    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        rows = await conn.fetch(
            """SELECT p.payment_id, p.amount, p.status, p.methods,
                      (SELECT count(*) FROM payment_history h WHERE h.payment_pk = p.id) AS h,
                      (SELECT h.detail->>'eventId' FROM payment_history h
                        WHERE h.payment_pk = p.id) AS event_id
                 FROM payments p WHERE p.payment_id = ANY($1)""", ids)
        events = await conn.fetch(
            "SELECT event_id::text AS id, event_type FROM outbox WHERE event_id::text = ANY($1)",
            [r["event_id"] for r in rows])
    finally:
        await conn.close()
    assert len(rows) == 50 and all(r["status"] == "pending" and r["h"] == 1 for r in rows)
    # Each history row names the payment.created event that went out with it.
    assert sorted(e["id"] for e in events) == sorted(r["event_id"] for r in rows)
    assert {e["event_type"] for e in events} == {"payment.created"}
    by_id = {b["result"]["paymentId"]: b["result"] for b in bodies}
    assert all(Decimal(by_id[r["payment_id"]]["amount"]) == r["amount"] for r in rows)


@pytest.fixture
async def checkout_pool(settings, shop):  # noqa: F811 - shop: checkout has migrated
    pool = await create_pool(settings.dsn_of("checkout"), schema="checkout",
                             application_name="tests")
    yield pool, shop[2]
    await pool.close()


async def test_a_row_the_database_refuses_fails_only_its_own_create(checkout_pool):
    pool, merchant = checkout_pool
    creates = PaymentCreates(pool)
    account = {"companyId": merchant.company_id, "merchantId": merchant.merchant_id,
               "merchantName": "Shop", "paymentMethods": ["CARD"]}
    quote = {"charges": "0", "netAmount": "100", "breakdown": []}

    def create(amount: int):
        body = domain.CreatePayment(amount=str(amount), currency="USD", description="x")
        # Zero is what validation never lets through: the table's CHECK refuses it.
        money = parse_minor_string(str(amount), "USD", allow_zero=True)
        return creates.create(merchant=account, origin="norpay", money=money, body=body,
                              quote=quote)

    outbox_before = await pool.fetchval("SELECT count(*) FROM outbox")
    results = await asyncio.gather(*(create(0 if i == 7 else 100 + i) for i in range(20)),
                                   return_exceptions=True)
    assert isinstance(results[7], asyncpg.CheckViolationError)
    good = [r for i, r in enumerate(results) if i != 7]
    assert all(not isinstance(r, BaseException) for r in good), good
    assert sorted(int(r["amount"]) for r in good) == [100 + i for i in range(20) if i != 7]
    assert all(r["methods"] == ["CARD"] and r["status"] == "pending" for r in good)
    # Each good one has its history row and its event; the refused one left nothing.
    event_ids = await pool.fetch(
        """SELECT (h.detail->>'eventId')::uuid AS id FROM payment_history h
             JOIN payments p ON p.id = h.payment_pk WHERE p.payment_id = ANY($1)""",
        [r["payment_id"] for r in good])
    assert len(event_ids) == 19
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_id = ANY($1)",
                               [r["id"] for r in event_ids]) == 19
    assert await pool.fetchval("SELECT count(*) FROM outbox") - outbox_before == 19


async def test_a_created_row_is_the_row_the_database_holds(checkout_pool):
    """The insert reads back only id and the clock and fills in the rest from what it
    wrote and the columns' defaults (store.NEW_PAYMENT_DEFAULTS): every column must be
    what `SELECT *` gives, so a new column or a changed default fails here."""
    pool, merchant = checkout_pool
    creates = PaymentCreates(pool)
    account = {"companyId": merchant.company_id, "merchantId": merchant.merchant_id,
               "merchantName": "Shop", "paymentMethods": ["CARD", "ECOCASH"]}
    body = domain.CreatePayment(amount="1234", currency="USD", description="Tea",
                                metadata={"order": "A-1", "rate": Decimal("0.15")},
                                successUrl="https://shop.example/ok")
    made = await asyncio.gather(*(creates.create(
        merchant=account, origin="norpay", money=parse_minor_string("1234", "USD"),
        body=body, quote={"charges": "34", "netAmount": "1200", "breakdown": []})
        for _ in range(3)))
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM payments WHERE payment_id = ANY($1)",
                                [m["payment_id"] for m in made])
    held = {r["payment_id"]: dict(r) for r in rows}
    assert len(held) == 3
    for row in made:
        assert row == held[row["payment_id"]]
        assert row.keys() == held[row["payment_id"]].keys()


async def test_fractional_and_huge_numbers_in_metadata_are_kept_and_fail_nobody(
        settings, shop):  # noqa: F811
    client, headers, _ = shop
    # Raw JSON: a Python float could not even hold 1.123456789012345678.
    odd = ('{"amount": "%d", "currency": "USD", "metadata": {"taxRate": 0.15, '
           '"big": 1180591620717411303424, "exact": 1.123456789012345678}}')

    def create(i: int):
        if i in (3, 7):
            return client.post("/api/v2/payments/create", data=(odd % (100 + i)).encode(),
                               headers={**headers, "Content-Type": "application/json"})
        return _create(client, headers, amount=str(100 + i), currency="USD",
                       metadata={"n": i})

    answers = await asyncio.gather(*(create(i) for i in range(20)))
    assert [a.status for a in answers] == [201] * 20, [await a.text() for a in answers][:3]
    ids = [(await answers[i].json())["result"]["paymentId"] for i in (3, 7)]
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        stored = await conn.fetch(
            "SELECT metadata::text AS m FROM payments WHERE payment_id = ANY($1)", ids)
    finally:
        await conn.close()
    # The numbers as sent, not rounded through a float.
    assert all('"exact": 1.123456789012345678' in r["m"] and '"taxRate": 0.15' in r["m"]
               and '"big": 1180591620717411303424' in r["m"] for r in stored), stored
    # ...and read back exactly too.
    got = await client.get(f"/api/v2/payments/{ids[0]}", headers=headers)
    raw = await got.text()
    assert '"exact":1.123456789012345678' in raw and '"big":1180591620717411303424' in raw


async def test_confirms_written_together_skip_exactly_the_payments_that_changed(
        checkout_pool):
    """store.transitions_if_unchanged: three payments in one statement, one of them
    changed after it was read. That one gets no update, no history row and no event;
    the other two get all three, each with its own columns (and the ones it does not
    set left as they were)."""
    pool, merchant = checkout_pool
    account = {"companyId": merchant.company_id, "merchantId": merchant.merchant_id,
               "merchantName": "Shop", "paymentMethods": ["CARD"]}
    creates = PaymentCreates(pool)
    made = [await creates.create(
        merchant=account, origin="norpay", money=parse_minor_string(str(100 + i), "USD"),
        body=domain.CreatePayment(amount=str(100 + i), currency="USD", description="x"),
        quote={"charges": "0", "netAmount": "100", "breakdown": []}) for i in range(3)]
    read = [await pool.fetchrow("SELECT * FROM payments WHERE id = $1", m["id"])
            for m in made]
    await pool.execute("UPDATE payments SET description = 'y', updated_at = now() "
                       "WHERE id = $1", made[1]["id"])  # changed after it was read
    done_at = datetime(2026, 1, 2, tzinfo=UTC)
    changes = [
        {"status": "completed", "completed_at": done_at, "card_last4": "4242",
         "payment_method": "VISA_MASTER"},
        {"status": "completed", "completed_at": done_at},
        {"status": "failed", "failure_reason": "Card declined", "payment_method": "VISA_MASTER"},
    ]
    events = [Event(type="payment." + c["status"], producer="tests", data={"n": i})
              for i, c in enumerate(changes)]
    rows = await store.transitions_if_unchanged(pool, [
        (row, change, {"eventId": str(ev.id)}, ev)
        for row, change, ev in zip(read, changes, events, strict=True)])

    assert rows[1] is None
    assert (rows[0]["status"], rows[0]["completed_at"], rows[0]["card_last4"],
            rows[0]["failure_reason"]) == ("completed", done_at, "4242", None)
    assert (rows[2]["status"], rows[2]["failure_reason"], rows[2]["completed_at"],
            rows[2]["card_last4"]) == ("failed", "Card declined", None, None)
    assert await pool.fetchval("SELECT status FROM payments WHERE id = $1",
                               made[1]["id"]) == "pending"
    outbox = {r["event_id"] for r in await pool.fetch(
        "SELECT event_id FROM outbox WHERE event_id = ANY($1)", [e.id for e in events])}
    assert outbox == {events[0].id, events[2].id}
    history = await pool.fetch(
        """SELECT payment_pk, status, detail->>'eventId' AS event FROM payment_history
            WHERE payment_pk = ANY($1) AND status <> 'pending' ORDER BY payment_pk""",
        [m["id"] for m in made])
    assert [(h["payment_pk"], h["status"], h["event"]) for h in history] == [
        (made[0]["id"], "completed", str(events[0].id)),
        (made[2]["id"], "failed", str(events[2].id))]


async def test_a_batched_create_expires_exactly_one_session_after_it_was_created(
        settings, shop):  # noqa: F811
    """Found by the SDK e2e (expiresAt - createdAt was 3599 once): a create waiting for
    its batch took its creation time from the insert's clock and its expiry from the
    request's, a few milliseconds apart."""
    client, headers, _ = shop
    answers = await asyncio.gather(*(_create(client, headers, amount=str(100 + i),
                                             currency="USD") for i in range(20)))
    ids = [(await a.json())["result"]["paymentId"] for a in answers]
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        rows = await conn.fetch("SELECT expires_at - created_at AS ttl FROM payments "
                                "WHERE payment_id = ANY($1)", ids)
    finally:
        await conn.close()
    assert [r["ttl"] for r in rows] == [domain.SESSION_TTL] * 20
