"""Handlers that write a consumer batch's events with one statement each (billing's
payment projections and customers, the notifier's webhook fan-out) write what handling
the events one by one, in the same order, would have written."""
from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.billing import projections
from services.notifier.webhooks import use_cases
from shared.events import Event


def _payment_event(payment_id: str, status: str, at: datetime, **data) -> dict:
    return {"paymentId": payment_id, "amount": "1000", "currency": "NOR", "status": status,
            **data}


def _row(payment_id: str, status: str, at: datetime, *, charges: int = 0,
         refunded: int = 0, merchant: int = 7) -> tuple:
    return projections.payment_row(
        data=_payment_event(payment_id, status, at, charges=str(charges),
                            refundedAmount=str(refunded),
                            metadata={"customerId": "cus_1"}),
        company_id=1, merchant_id=merchant, livemode=False, kind="payment",
        product="Product Sales", at=at)


async def _projection(conn, ids: list[str]) -> dict:
    rows = await conn.fetch(
        """SELECT payment_id, status, status_rank, charges, refunded_amount, created_at,
                  completed_at FROM payment_projection WHERE payment_id = ANY($1)""", ids)
    return {r["payment_id"]: dict(r) for r in rows}


async def test_one_statement_for_a_batch_writes_what_one_by_one_writes(billing_pool):
    """Random batches of events for a few payments (several for one payment in the same
    batch, out of order): the batch upsert ends where upserting each in turn ends."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    statuses = ["pending", "processing", "completed", "failed", "refunded"]
    rng = random.Random(7)
    for trial in range(20):
        tag = uuid.uuid4().hex[:8]
        ids = [f"pay_b{tag}_{i}" for i in range(3)]
        rows = [_row(rng.choice(ids), rng.choice(statuses),
                     t0 + timedelta(seconds=rng.randint(0, 50)),
                     charges=rng.randint(0, 9), refunded=rng.randint(0, 9))
                for _ in range(rng.randint(1, 8))]
        async with billing_pool.acquire() as conn, conn.transaction():
            batch_ids = [f"{i}_batch" for i in ids]
            await projections.upsert_payments(
                conn, [(r[0] + "_batch", *r[1:]) for r in rows])
            for r in rows:  # the reference: one statement per event, in order
                await projections.upsert_payments(conn, [(r[0] + "_alone", *r[1:])])
            batch = await _projection(conn, batch_ids)
            alone = await _projection(conn, [f"{i}_alone" for i in ids])
        assert {k.removesuffix("_batch"): v | {"payment_id": None} for k, v in batch.items()} \
            == {k.removesuffix("_alone"): v | {"payment_id": None} for k, v in alone.items()}, \
            (trial, rows)


async def test_a_customer_seen_twice_in_a_batch_keeps_the_first_sighting(billing_pool):
    customer = f"cus_{uuid.uuid4().hex[:8]}"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    async with billing_pool.acquire() as conn:
        await projections.see_customers(conn, [
            (1, 7, False, customer, t0 + timedelta(hours=1)), (1, 7, False, customer, t0),
            (1, 8, False, customer, t0 + timedelta(hours=2)),
            (1, 7, True, customer, t0 + timedelta(hours=3))])  # live: a customer of its own
        rows = await conn.fetch("SELECT merchant_id, livemode, first_seen_at FROM customers "
                                "WHERE customer_id = $1 ORDER BY merchant_id, livemode",
                                customer)
    assert [(r["merchant_id"], r["livemode"], r["first_seen_at"]) for r in rows] == \
        [(7, False, t0), (7, True, t0 + timedelta(hours=3)), (8, False, t0 + timedelta(hours=2))]




async def test_fan_out_of_a_batch_gives_each_event_its_subscribers_in_order(
        notifier_pool):
    base = random.randint(10**9, 2 * 10**9)
    every, paid_only, silent = base, base + 1, base + 2  # merchants
    endpoints = {}
    async with notifier_pool.acquire() as conn:
        for merchant, types, enabled in [(every, ["*"], True),
                                         (paid_only, ["payment.completed"], True),
                                         (paid_only, ["*"], False)]:
            ep = f"ep_t{uuid.uuid4().hex[:10]}"
            endpoints.setdefault(merchant, []).append((ep, enabled))
            await conn.execute(
                """INSERT INTO webhook_endpoints (endpoint_id, company_id, merchant_id, url,
                       event_types, secret, enabled) VALUES ($1, 1, $2, $3, $4, 's', $5)""",
                ep, merchant, f"https://example.com/{ep}", types, enabled)
        events = [Event(type=t, producer="tests", merchant_id=str(m), company_id="1",
                        data={"paymentId": f"pay_{n}"})
                  for n, (t, m) in enumerate([
                      ("payment.created", every), ("payment.created", paid_only),
                      ("payment.completed", paid_only), ("payment.completed", silent),
                      ("payment.completed", every)])]
        async with conn.transaction():
            fanned, leased = await use_cases.fan_out(conn, events)
        rows = await conn.fetch(
            """SELECT d.delivery_id, d.endpoint_id, d.event_id, d.occurred_at, e.body
               FROM webhook_deliveries d JOIN webhook_events e USING (event_id)
               WHERE d.event_id = ANY($1) ORDER BY d.seq""", [e.id for e in events])
        stored = await conn.fetchval(
            "SELECT count(*) FROM webhook_events WHERE event_id = ANY($1)",
            [e.id for e in events])
    every_ep, paid_ep = endpoints[every][0][0], endpoints[paid_only][0][0]
    expected = [(events[0].id, every_ep), (events[2].id, paid_ep), (events[4].id, every_ep)]
    assert [(r["event_id"], r["endpoint_id"]) for r in rows] == expected
    assert [(e.id, ids) for e, ids in fanned] == \
        [(eid, [r["delivery_id"]]) for (eid, _), r in zip(expected, rows, strict=True)]
    assert stored == 3  # events nobody takes are not stored
    assert leased == []  # nobody to send them at once: all wait for a claim
    occurred = {e.id: e.occurred_at for e in events}
    assert [r["occurred_at"] for r in rows] == [occurred[r["event_id"]] for r in rows]
    assert b'"paymentId":"pay_2"' in rows[1]["body"].replace(b" ", b"")


class _RecordingTaker:
    """The dispatcher's side of a fan-out, recorded: room asked for and given back."""

    lease_seconds = 60.0

    def __init__(self):
        self.reserved: list[str] = []
        self.given_back: list[str] = []

    def reserve(self, endpoint_id: str, merchant_id: int) -> bool:
        self.reserved.append(endpoint_id)
        return True

    def unreserve(self, rows: list) -> None:
        self.given_back += [r["endpoint_id"] for r in rows]


async def test_a_fan_out_whose_writes_fail_gives_back_the_room_it_reserved(notifier_pool):
    merchant = random.randint(2 * 10**9, 3 * 10**9)
    ep = f"ep_t{uuid.uuid4().hex[:10]}"
    event = Event(type="payment.created", producer="tests", merchant_id=str(merchant),
                  company_id="1", data={"paymentId": "pay_x"})
    taker = _RecordingTaker()
    async with notifier_pool.acquire() as conn, notifier_pool.acquire() as other:
        await conn.execute(
            """INSERT INTO webhook_endpoints (endpoint_id, company_id, merchant_id, url,
                   event_types, secret, enabled) VALUES ($1, 1, $2, $3, $4, 's', true)""",
            ep, merchant, f"https://example.com/{ep}", ["*"])
        holder = other.transaction()
        await holder.start()
        # Another transaction is writing the same event: ours must wait for it, and
        # gives up after its lock timeout, once the room is reserved.
        await other.execute(
            """INSERT INTO webhook_events (event_id, event_type, merchant_id, occurred_at,
                   body) VALUES ($1, 'payment.created', $2, now(), '')""", event.id, merchant)
        with pytest.raises(asyncpg.LockNotAvailableError):
            async with conn.transaction():
                await conn.execute("SET LOCAL lock_timeout = '200ms'")
                await use_cases.fan_out(conn, [event], taker)
        await holder.rollback()
    assert taker.reserved == [ep] and taker.given_back == [ep]
