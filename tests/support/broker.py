"""Taps on the real broker: a queue bound to event types, drained into a list."""

from __future__ import annotations

import aio_pika

from shared.events import Event, Topology
from shared.events.envelope import (
    BUNDLE_CONTENT_TYPE,
    bundle_body,
    events_of,
    topic_matches,
)


class EventTap:
    """An exclusive, auto-deleted queue bound to `keys` on the namespace's exchange."""

    def __init__(self, amqp_url: str, topology: Topology, keys: list[str]):
        self._url = amqp_url
        self._topology = topology
        self._keys = keys
        self.events: list[Event] = []
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def __aenter__(self) -> "EventTap":
        self._conn = await aio_pika.connect(self._url)
        channel = await self._conn.channel()
        exchange = await self._topology.declare_exchange(channel)
        self._queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in self._keys:
            await self._queue.bind(exchange, routing_key=key)
        await self._queue.consume(self._on_message, no_ack=True)
        return self

    async def _on_message(self, message) -> None:
        self.messages.append(message)
        self.events.extend(events_of(message.body, message.content_type, lambda t: any(
            topic_matches(key, t) for key in self._keys)))

    async def __aexit__(self, *exc) -> None:
        await self._conn.close()


async def queue_messages(amqp_url: str, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Everything currently in `queue` (acknowledged, i.e. removed)."""
    out = []
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel()
        q = await channel.declare_queue(queue, passive=True)
        while (message := await q.get(fail=False, no_ack=True)) is not None:
            out.append(message)
    finally:
        await conn.close()
    return out


async def delete_namespace(amqp_url: str, topology: Topology, queues: list[str],
                           delays: tuple[float, ...]) -> None:
    conn = await aio_pika.connect(amqp_url)
    try:
        for name in queues + [Topology.dead_letter_queue(q) for q in queues] + \
                [topology.retry_queue(d) for d in delays]:
            channel = await conn.channel()
            try:
                await channel.queue_delete(name)
            except Exception:
                pass
        for name in [topology.exchange, topology.dead_letter_exchange] + \
                [topology.delay_exchange(d) for d in delays]:
            channel = await conn.channel()
            try:
                await channel.exchange_delete(name)
            except Exception:
                pass
    finally:
        await conn.close()


async def publish(amqp_url: str, topology: Topology, event: Event,
                  body: bytes | None = None) -> None:
    """Publish `event` (or raw `body`) to the namespace's exchange, as a relay would."""
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await topology.declare_exchange(channel)
        await exchange.publish(
            aio_pika.Message(body if body is not None else event.to_bytes(),
                             message_id=str(event.id),
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=event.type)
    finally:
        await conn.close()


async def publish_bundle(amqp_url: str, topology: Topology, elements: list[bytes],
                         types: list[str]) -> None:
    """Publish serialised envelopes (or anything) as one bundle routed by `types`, as a
    relay publishes a batch."""
    conn = await aio_pika.connect(amqp_url)
    try:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await topology.declare_exchange(channel)
        await exchange.publish(
            aio_pika.Message(bundle_body(elements), content_type=BUNDLE_CONTENT_TYPE,
                             headers={"CC": types[1:]},
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=types[0])
    finally:
        await conn.close()


async def publish_event(settings, event_type: str, data: dict, account) -> Event:
    """A producer's event about `account`'s merchant, straight onto the exchange."""
    event = Event(type=event_type, producer="tests", data=data,
                  company_id=str(account.company_id), merchant_id=str(account.merchant_id))
    await publish(settings.amqp_url, Topology(settings.events_namespace), event)
    return event
