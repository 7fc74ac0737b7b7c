"""Event bundles: a relay publishes a batch of events as one message routed by all of
their types; every queue and subscriber bound to any of them gets each of its events
once, in outbox order, and a consumer retries or dead-letters a bundle's events one by
one, as it would lone messages."""

from __future__ import annotations

import pytest

from shared import jsontext
from shared.events import Event, OutboxRelay, Topology, UnitOfWork
from shared.events.broker import Broker
from shared.events.consumer import ATTEMPTS_HEADER, ERROR_HEADER
from shared.events.envelope import BUNDLE_CONTENT_TYPE, events_of, topic_matches
from tests.integration import test_consumer as base
from tests.integration.test_consumer import _effects, _queue_empty
from tests.integration.test_consumer_batches import poisonable_recorder
from tests.support.broker import EventTap, publish_bundle, queue_messages
from tests.support.poll import poll_until

harness = base.harness  # the fixture: consumers on a real broker connection


# These tests emit types of their own (unique ones, for their queues).
pytestmark = pytest.mark.usefixtures("any_event_type")


def test_topic_patterns_match_as_rabbitmq_routes():
    assert topic_matches("payment.created", "payment.created")
    assert not topic_matches("payment.created", "payment.completed")
    assert topic_matches("payment.*", "payment.created")
    assert not topic_matches("payment.*", "payment.created.late")
    assert topic_matches("payment.#", "payment.created.late")
    assert topic_matches("#", "invoice.paid")
    assert topic_matches("payment.#", "payment")  # '#' is zero or more words
    assert not topic_matches("*.paid", "invoice.paid.twice")


def test_a_bundle_yields_only_the_wanted_events_in_order():
    events = [Event(type=t, producer="tests", data={"n": n})
              for n, t in enumerate(["a.one", "b.two", "a.one", "c.three"])]
    body = b"[" + b",".join(e.to_bytes() for e in events) + b"]"
    got = events_of(body, BUNDLE_CONTENT_TYPE, lambda t: t != "b.two")
    assert [e.id for e in got] == [events[0].id, events[2].id, events[3].id]
    # A lone envelope is what it is, whatever the content type says otherwise.
    assert [e.id for e in events_of(events[1].to_bytes(), "application/json",
                                    lambda t: False)] == [events[1].id]
    with pytest.raises(ValueError):
        events_of(b'{"not": "a list"}', BUNDLE_CONTENT_TYPE, lambda t: True)


async def test_a_relay_batch_reaches_each_queue_as_one_bundle_in_outbox_order(
        settings, billing_pool, unique):
    topology = Topology(settings.events_namespace)
    a, b = f"test.bundle_{unique}.paid", f"test.bundle_{unique}.sent"
    broker = Broker(settings.amqp_url, name=f"test-bundle-{unique}")
    relay = OutboxRelay(billing_pool, broker, topology, service="billing", poll_seconds=0.1)
    async with EventTap(settings.amqp_url, topology, [a]) as only_a, \
            EventTap(settings.amqp_url, topology, [f"test.bundle_{unique}.*"]) as both:
        emitted = []
        for _ in range(3):  # three transactions, committed before the relay runs
            async with UnitOfWork(billing_pool, producer="billing") as uow:
                emitted += [uow.emit(t, {"n": len(emitted) + i})
                            for i, t in enumerate([a, b, b, a, b])]
        await broker.start()
        await relay.start()
        try:
            await poll_until(lambda: len(both.events) == 15, what="all fifteen events")
            await poll_until(lambda: len(only_a.events) == 6, what="the six of one type")
        finally:
            await relay.stop()
            await broker.stop()
    assert [e.id for e in both.events] == [e.id for e in emitted]
    assert [e.id for e in only_a.events] == [e.id for e in emitted if e.type == a]
    # One message to each queue, though the events have two types.
    assert len(both.messages) == 1 and len(only_a.messages) == 1
    assert both.messages[0].content_type == BUNDLE_CONTENT_TYPE
    async with billing_pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_id = ANY($1) AND published_at IS NULL",
            [e.id for e in emitted]) == 0


async def test_a_bundles_failing_and_unreadable_events_are_dead_lettered_alone(
        harness, settings, billing_pool, unique):
    start, topology = harness
    bound, other = f"test.bundled_{unique}", f"test.unbound_{unique}"
    key, calls = f"bundle-{unique}", []
    consumer = await start(f"bundle_{unique}", {bound: poisonable_recorder(key, calls)})
    good = [Event(type=bound, producer="tests", data={"n": n}) for n in range(3)]
    poison = Event(type=bound, producer="tests", data={"poison": True})
    unbound = Event(type=other, producer="tests")
    garbage = jsontext.dumps({"type": bound, "id": "not-a-uuid", "producer": "tests"})
    await publish_bundle(settings.amqp_url, topology,
                         [good[0].to_bytes(), unbound.to_bytes(), poison.to_bytes(),
                          garbage, good[1].to_bytes(), good[2].to_bytes()], [bound, other])
    dlq = Topology.dead_letter_queue(consumer.queue_name)
    await poll_until(lambda: _effects_are(billing_pool, key, 3), what="the good events")
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name), what="drained")
    messages: list = []

    async def two_dead_letters() -> bool:
        messages.extend(await queue_messages(settings.amqp_url, dlq))  # taken off it
        return len(messages) >= 2

    await poll_until(two_dead_letters, timeout=10, what="two dead letters")
    by_error = {("unparseable" in m.headers[ERROR_HEADER]): m for m in messages}
    dead = by_error[False]
    assert dead.content_type == "application/json"  # a lone envelope, not the bundle
    assert Event.from_bytes(dead.body).id == poison.id
    assert dead.headers[ATTEMPTS_HEADER] == 1
    assert "PermanentError: cannot be handled" in dead.headers[ERROR_HEADER]
    assert jsontext.loads(by_error[True].body)["id"] == "not-a-uuid"
    assert unbound.id not in calls  # another queue's event, ignored
    assert await _effects(billing_pool, key) == 3  # the poison's effect rolled back
    async with billing_pool.acquire() as conn:
        handled = await conn.fetch(
            "SELECT event_id FROM inbox WHERE consumer = $1", f"billing.bundle_{unique}")
    assert sorted(r["event_id"] for r in handled) == sorted(e.id for e in good)


async def test_a_bundled_event_failing_once_is_retried_alone_and_handled_once(
        harness, settings, billing_pool, unique):
    start, topology = harness
    bound = f"test.retried_{unique}"
    key, failed = f"retry-{unique}", []

    async def flaky(event: Event, uow: UnitOfWork) -> None:
        await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, event.id)
        if event.data.get("flaky") and len(failed) < 2:
            # Fails in the bundle's batch and again alone: only the retry succeeds.
            failed.append(event.id)
            raise ConnectionError("downstream away")  # rolls back the insert above

    consumer = await start(f"retried_{unique}", {bound: flaky}, max_attempts=5)
    events = [Event(type=bound, producer="tests", data={"flaky": n == 1}) for n in range(4)]
    await publish_bundle(settings.amqp_url, topology, [e.to_bytes() for e in events], [bound])
    await poll_until(lambda: _effects_are(billing_pool, key, 4), timeout=10,
                     what="all four handled, the flaky one after its retry")
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name), what="drained")
    assert failed == [events[1].id] * 2
    async with billing_pool.acquire() as conn:
        rows = await conn.fetch("SELECT event_id FROM test_effects WHERE key = $1", key)
    assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in events)
    assert await queue_messages(settings.amqp_url,
                                Topology.dead_letter_queue(consumer.queue_name)) == []


async def _effects_are(pool, key: str, n: int) -> bool:
    return await _effects(pool, key) == n
