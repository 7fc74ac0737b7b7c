"""Consumer batches: messages delivered together are handled in one transaction, with
the same guarantees as one by one (inbox dedup per event id; a failing message is
retried or dead-lettered alone, the others' effects are written exactly once)."""

from __future__ import annotations

import asyncio

import pytest

from shared.events import Event, PermanentError, Topology, UnitOfWork, handles_batches
from shared.events.consumer import ATTEMPTS_HEADER, ERROR_HEADER
from tests.integration import test_consumer as base
from tests.integration.test_consumer import _effects, _publish, _queue_empty
from tests.support.broker import queue_messages
from tests.support.poll import poll_until

harness = base.harness  # the fixture: consumers on a real broker connection


@pytest.fixture
def gated(unique):
    """A handler table whose gate event blocks until released, so the events published
    after it pile up in the consumer and arrive at the handlers as one batch."""
    gate_type, event_type = f"test.gate_{unique}", f"test.batched_{unique}"
    opened, release = asyncio.Event(), asyncio.Event()

    async def gate(event: Event, uow: UnitOfWork) -> None:
        opened.set()
        await release.wait()

    return gate_type, event_type, opened, release, gate


def _recorder(key: str):
    """A handler that writes an effect under `key` per event, and the ids it saw."""
    calls: list = []

    async def record(event: Event, uow: UnitOfWork) -> None:
        calls.append(event.id)
        await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, event.id)
    return calls, record


def poisonable_recorder(key: str, calls: list):
    """A handler that writes an effect under `key` per event and notes its id, then
    fails for good on an event whose data says `poison` (its effect rolled back)."""
    async def record(event: Event, uow: UnitOfWork) -> None:
        calls.append(event.id)
        await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, event.id)
        if event.data.get("poison"):
            raise PermanentError("cannot be handled")  # after writing an effect
    return record


async def _recording(harness, gated, unique: str, name: str, **kw):
    """A consumer named `name` with the gate and a recorder under its own key: the
    consumer, the key, the recorder's calls and the consumer's purpose."""
    start, _ = harness
    gate_type, event_type, _, _, gate = gated
    key, purpose = f"{name}-{unique}", f"{name}_{unique}"
    calls, record = _recorder(key)
    consumer = await start(purpose, {gate_type: gate, event_type: record}, **kw)
    return consumer, key, calls, purpose


async def _pile_up(settings, topology, consumer, gate_type, opened, events) -> None:
    await _publish(settings, topology, Event(type=gate_type, producer="tests"))
    await poll_until(lambda: opened.is_set(), what="gate handler running")
    for event in events:
        await _publish(settings, topology, event)
    # Every message delivered to the consumer (unacked, held behind the gate).
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name),
                     what="messages delivered")


async def _handled_at(pool, consumer: str, ids) -> list:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT event_id, handled_at FROM inbox WHERE consumer = $1 AND event_id = ANY($2)",
            consumer, list(ids))


async def test_messages_delivered_together_are_handled_in_one_transaction(
        harness, settings, billing_pool, unique, gated):
    _, topology = harness
    gate_type, event_type, opened, release, _ = gated
    consumer, key, calls, purpose = await _recording(harness, gated, unique, "batch")
    events = [Event(type=event_type, producer="tests", data={"n": n}) for n in range(5)]
    # The first event twice: the copy in the same batch is a duplicate.
    await _pile_up(settings, topology, consumer, gate_type, opened, events + events[:1])
    release.set()
    await poll_until(lambda: _count_is(billing_pool, key, 5), what="five effects")
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name), what="drained")
    assert sorted(calls) == sorted(e.id for e in events)
    rows = await _handled_at(billing_pool, f"billing.{purpose}", [e.id for e in events])
    assert len(rows) == 5
    assert len({r["handled_at"] for r in rows}) == 1  # one transaction (its start time)
    await asyncio.sleep(0.3)  # nothing handled twice later either
    assert await _effects(billing_pool, key) == 5


async def _count_is(pool, key: str, n: int) -> bool:
    return await _effects(pool, key) == n


async def test_a_failing_message_in_a_batch_is_dead_lettered_alone(
        harness, settings, billing_pool, unique, gated):
    start, topology = harness
    gate_type, event_type, opened, release, gate = gated
    key, calls = f"batchfail-{unique}", []
    poison = Event(type=event_type, producer="tests", data={"poison": True})
    record = poisonable_recorder(key, calls)

    purpose = f"batchfail_{unique}"
    consumer = await start(purpose, {gate_type: gate, event_type: record})
    good = [Event(type=event_type, producer="tests", data={"n": n}) for n in range(4)]
    await _pile_up(settings, topology, consumer, gate_type, opened, good[:2] + [poison] + good[2:])
    release.set()
    dlq = Topology.dead_letter_queue(consumer.queue_name)
    messages = await poll_until(lambda: queue_messages(settings.amqp_url, dlq), timeout=10,
                                what="poison in the dead-letter queue")
    await poll_until(lambda: _count_is(billing_pool, key, 4), what="the good ones' effects")
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name), what="drained")
    assert [Event.from_bytes(m.body).id for m in messages] == [poison.id]
    assert messages[0].headers[ATTEMPTS_HEADER] == 1
    assert "PermanentError: cannot be handled" in messages[0].headers[ERROR_HEADER]
    async with billing_pool.acquire() as conn:
        effects = await conn.fetch("SELECT event_id FROM test_effects WHERE key = $1", key)
    assert sorted(r["event_id"] for r in effects) == sorted(e.id for e in good)
    rows = await _handled_at(billing_pool, f"billing.{purpose}", [e.id for e in good + [poison]])
    assert sorted(r["event_id"] for r in rows) == sorted(e.id for e in good)


async def test_an_unbatched_consumer_runs_outside_effects_once_when_a_neighbour_fails(
        harness, settings, billing_pool, unique):
    """batch=False (the e-mail consumer): an effect outside the database (here a list,
    there an SMTP send) happens once per event even when another event fails."""
    start, topology = harness
    event_type = f"test.unbatched_{unique}"
    sent: list = []
    poison = Event(type=event_type, producer="tests", data={"poison": True})

    async def send(event: Event, uow: UnitOfWork) -> None:
        if event.data.get("poison"):
            raise PermanentError("cannot be sent")
        sent.append(event.id)

    consumer = await start(f"unbatched_{unique}", {event_type: send}, batch=False)
    good = [Event(type=event_type, producer="tests", data={"n": n}) for n in range(6)]
    for event in good[:3] + [poison] + good[3:]:
        await _publish(settings, topology, event)
    dlq = Topology.dead_letter_queue(consumer.queue_name)
    await poll_until(lambda: queue_messages(settings.amqp_url, dlq), timeout=10,
                     what="poison in the dead-letter queue")
    await poll_until(lambda: len(sent) == 6, what="six sends")
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name), what="drained")
    await asyncio.sleep(0.3)
    assert sorted(sent) == sorted(e.id for e in good)  # each once


async def test_events_the_consumer_does_not_want_are_acked_without_a_transaction(
        harness, settings, billing_pool, unique, gated):
    _, topology = harness
    gate_type, event_type, opened, release, _ = gated

    def wants(event: Event) -> bool:
        if event.data.get("odd"):
            raise ValueError("a predicate that fails hands the event to its handler")
        return event.type == gate_type or event.data.get("mine", False)

    consumer, key, calls, purpose = await _recording(harness, gated, unique, "wants",
                                                     wants=wants)
    unwanted = [Event(type=event_type, producer="tests", data={"n": n}) for n in range(40)]
    wanted = [Event(type=event_type, producer="tests", data={"mine": True, "n": n})
              for n in range(2)] + [Event(type=event_type, producer="tests", data={"odd": 1})]
    # A batch mixing both (held behind the gate), then more unwanted than the prefetch
    # (32) one by one: were they left unacked, the last wanted event would never come.
    await _pile_up(settings, topology, consumer, gate_type, opened,
                   unwanted[:5] + wanted[:2] + unwanted[5:8])
    release.set()
    await poll_until(lambda: _count_is(billing_pool, key, 2), what="two wanted effects")
    for event in unwanted[8:] + wanted[2:]:
        await _publish(settings, topology, event)
    await poll_until(lambda: _count_is(billing_pool, key, 3), what="the last wanted effect")
    assert sorted(calls) == sorted(e.id for e in wanted)
    rows = await _handled_at(billing_pool, f"billing.{purpose}", [e.id for e in unwanted])
    assert rows == []  # no inbox row, no transaction for them
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name), what="drained")


async def test_a_batch_handler_takes_consecutive_events_in_one_call_in_order(
        harness, settings, billing_pool, unique, gated):
    start, topology = harness
    gate_type, event_type, opened, release, gate = gated
    other_type, key = f"test.other_{unique}", f"many-{unique}"
    order, calls = [], []

    async def many(events: list[Event], uow: UnitOfWork) -> None:
        calls.append([e.id for e in events])
        order.extend(e.id for e in events)
        await uow.conn.execute(
            "INSERT INTO test_effects (key, event_id) SELECT $1, unnest($2::uuid[])",
            key, [e.id for e in events])

    async def other(event: Event, uow: UnitOfWork) -> None:
        order.append(event.id)

    purpose = f"many_{unique}"
    consumer = await start(purpose, {gate_type: gate, event_type: handles_batches(many),
                                     other_type: other})
    first = [Event(type=event_type, producer="tests", data={"n": n}) for n in range(3)]
    between = Event(type=other_type, producer="tests")
    last = [Event(type=event_type, producer="tests", data={"n": n}) for n in range(3, 5)]
    # The first event twice: its copy in the same batch is a duplicate, not handled.
    await _pile_up(settings, topology, consumer, gate_type, opened,
                   first + [between] + first[:1] + last)
    release.set()
    await poll_until(lambda: _count_is(billing_pool, key, 5), what="five effects")
    assert calls == [[e.id for e in first], [e.id for e in last]]
    assert order == [e.id for e in first] + [between.id] + [e.id for e in last]
    # Alone, an event goes to the batch handler as a list of one.
    lone = Event(type=event_type, producer="tests")
    await _publish(settings, topology, lone)
    await poll_until(lambda: _count_is(billing_pool, key, 6), what="the lone effect")
    assert calls[-1] == [lone.id]
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name), what="drained")
