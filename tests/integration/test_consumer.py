"""Consumer: inbox de-duplication, retries, dead letters, against the real broker."""

from __future__ import annotations

import aio_pika
import pytest

from shared.events import Consumer, Event, OutboxRelay, PermanentError, Topology, UnitOfWork
from shared.events.broker import Broker
from shared.events.consumer import ATTEMPTS_HEADER, ERROR_HEADER
from tests.conftest import DECLARED_DELAYS, DECLARED_QUEUES
from tests.support.broker import EventTap, publish, queue_messages
from tests.support.poll import poll_until

# These tests' handlers emit types of their own (unique ones, for their queues).
pytestmark = pytest.mark.usefixtures("any_event_type")


@pytest.fixture
async def harness(settings, billing_pool, unique):
    """Start consumers on a real broker connection; stops them afterwards."""
    topology = Topology(settings.events_namespace)
    broker = Broker(settings.amqp_url, name=f"test-consumer-{unique}")
    await broker.start()
    relay = OutboxRelay(billing_pool, broker, topology, service="billing", poll_seconds=0.1)
    await relay.start()
    started: list[Consumer] = []

    async def start(purpose: str, handlers, **kw) -> Consumer:
        DECLARED_DELAYS.extend(kw.get("retry_delays", (0.1, 0.2)))
        consumer = Consumer(pool=billing_pool, broker=broker, topology=topology,
                            service="billing", purpose=purpose, handlers=handlers, relay=relay,
                            max_attempts=kw.get("max_attempts", 3),
                            retry_delays=kw.get("retry_delays", (0.1, 0.2)),
                            batch=kw.get("batch", True), wants=kw.get("wants"))
        DECLARED_QUEUES.append(consumer.queue_name)
        await consumer.start()
        await poll_until(lambda: _queue_has_consumer(settings, consumer.queue_name),
                         what=f"consumer on {consumer.queue_name}")
        started.append(consumer)
        return consumer

    yield start, topology
    await relay.stop()
    await broker.stop()


async def _queue_has_consumer(settings, queue: str) -> bool:
    conn = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await conn.channel()
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.consumer_count > 0
    except Exception:
        return False
    finally:
        await conn.close()


async def _publish(settings, topology: Topology, event: Event, body: bytes | None = None):
    await publish(settings.amqp_url, topology, event, body)


async def _effects(pool, key: str) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM test_effects WHERE key = $1", key)


def _recording_handler(key: str, calls: list):
    async def handler(event: Event, uow: UnitOfWork) -> None:
        calls.append(event.id)
        await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, event.id)
    return handler


async def test_a_duplicated_delivery_is_handled_once(harness, settings, billing_pool, unique):
    start, topology = harness
    key, calls = f"dup-{unique}", []
    event_type = f"test.dup_{unique}"
    consumer = await start(f"dup_{unique}", {event_type: _recording_handler(key, calls)})
    event = Event(type=event_type, producer="tests", data={"n": 1})
    for _ in range(3):
        await _publish(settings, topology, event)
    await poll_until(lambda: _effects(billing_pool, key), what="first handling")
    # The other two copies are acknowledged as duplicates; wait until the queue is empty.
    await poll_until(lambda: _queue_empty(settings, consumer.queue_name),
                     what="queue drained")
    assert await _effects(billing_pool, key) == 1
    assert calls == [event.id]


async def _queue_empty(settings, queue: str) -> bool:
    conn = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await conn.channel()
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count == 0
    finally:
        await conn.close()


async def test_a_handler_failing_transiently_is_retried_then_succeeds(
        harness, settings, billing_pool, unique):
    start, topology = harness
    key, calls = f"flaky-{unique}", []
    event_type = f"test.flaky_{unique}"

    async def flaky(event: Event, uow: UnitOfWork) -> None:
        calls.append(event.id)
        await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, event.id)
        if len(calls) < 3:
            raise ConnectionError("downstream away")  # rolls back the insert above

    await start(f"flaky_{unique}", {event_type: flaky}, max_attempts=5)
    event = Event(type=event_type, producer="tests")
    await _publish(settings, topology, event)
    await poll_until(lambda: _effects(billing_pool, key), timeout=10, what="eventual success")
    assert len(calls) == 3
    assert await _effects(billing_pool, key) == 1


async def test_a_handler_that_keeps_failing_ends_in_the_dead_letter_queue(
        harness, settings, unique):
    start, topology = harness
    calls = []
    event_type = f"test.poison_{unique}"

    async def always_fails(event: Event, uow: UnitOfWork) -> None:
        calls.append(event.id)
        raise ValueError("cannot handle this")

    consumer = await start(f"poison_{unique}", {event_type: always_fails}, max_attempts=3)
    event = Event(type=event_type, producer="tests", data={"x": 1})
    await _publish(settings, topology, event)
    dlq = Topology.dead_letter_queue(consumer.queue_name)
    messages = await poll_until(lambda: queue_messages(settings.amqp_url, dlq), timeout=15,
                                what="message in the dead-letter queue")
    assert len(messages) == 1
    assert Event.from_bytes(messages[0].body).id == event.id
    assert messages[0].headers[ATTEMPTS_HEADER] == 3
    assert "ValueError: cannot handle this" in messages[0].headers[ERROR_HEADER]
    assert calls == [event.id] * 3


async def test_a_permanent_error_goes_to_the_dead_letter_queue_without_retries(
        harness, settings, unique):
    start, topology = harness
    calls = []
    event_type = f"test.permanent_{unique}"

    async def invalid(event: Event, uow: UnitOfWork) -> None:
        calls.append(event.id)
        raise PermanentError("missing field 'to'")

    consumer = await start(f"permanent_{unique}", {event_type: invalid}, max_attempts=5)
    await _publish(settings, topology, Event(type=event_type, producer="tests"))
    messages = await poll_until(
        lambda: queue_messages(settings.amqp_url, Topology.dead_letter_queue(consumer.queue_name)),
        timeout=10, what="dead-lettered message")
    assert messages[0].headers[ATTEMPTS_HEADER] == 1
    assert len(calls) == 1


async def test_an_unparseable_message_is_dead_lettered(harness, settings, unique):
    start, topology = harness
    event_type = f"test.garbage_{unique}"
    consumer = await start(f"garbage_{unique}", {event_type: _recording_handler("x", [])})
    await _publish(settings, topology, Event(type=event_type, producer="tests"),
                   body=b"{not json")
    messages = await poll_until(
        lambda: queue_messages(settings.amqp_url, Topology.dead_letter_queue(consumer.queue_name)),
        timeout=10, what="dead-lettered garbage")
    assert messages[0].body == b"{not json"
    assert "unparseable envelope" in messages[0].headers[ERROR_HEADER]


async def test_events_emitted_by_a_handler_are_published_with_the_same_correlation_id(
        harness, settings, unique):
    start, topology = harness
    in_type, out_type = f"test.asked_{unique}", f"test.answered_{unique}"

    async def answer(event: Event, uow: UnitOfWork) -> None:
        uow.emit(out_type, {"answer_to": str(event.id)})

    await start(f"chain_{unique}", {in_type: answer})
    async with EventTap(settings.amqp_url, topology, [out_type]) as tap:
        asked = Event(type=in_type, producer="tests", correlation_id=f"corr-{unique}")
        await _publish(settings, topology, asked)
        await poll_until(lambda: len(tap.events) == 1, timeout=10, what="answer event")
    assert tap.events[0].data == {"answer_to": str(asked.id)}
    assert tap.events[0].correlation_id == f"corr-{unique}"


async def test_an_event_whose_data_does_not_match_its_schema_is_dead_lettered_unhandled(
        harness, settings, unique):
    """shared/events/payloads.py: a payment.completed without its amount never reaches
    the handler; it waits in the dead-letter queue with the reason."""
    start, topology = harness
    calls: list = []
    consumer = await start(f"schema_{unique}",
                           {"payment.completed": _recording_handler(f"schema.{unique}", calls)})
    bad = Event(type="payment.completed", producer="tests",
                data={"paymentId": f"pay_bad_{unique}", "status": "completed"})
    await _publish(settings, topology, bad)
    dead: list = []

    async def dead_lettered():
        dead.extend(await queue_messages(settings.amqp_url,
                                         Topology.dead_letter_queue(consumer.queue_name)))
        return [m for m in dead if m.message_id == str(bad.id)] or None
    messages = await poll_until(dead_lettered, timeout=10, what="dead-lettered bad payload")
    assert "invalid payment.completed data" in messages[0].headers[ERROR_HEADER]
    assert bad.id not in calls
