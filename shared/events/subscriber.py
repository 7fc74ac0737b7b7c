"""Broadcast subscriptions: every replica hears every event of some types.

For cache invalidation (fee rules, API keys), where each process must learn of
a change, unlike a Consumer, whose queue hands each event to one replica. The
queue is exclusive and auto-deleted, named by the broker, so it lives as long
as this process's connection. Events missed while disconnected are covered by
`on_resync`, called after every (re)connection, which should reload state.
Handlers must be idempotent and cheap; they are not retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from shared.events.broker import Broker
from shared.events.envelope import Event, Unreadable, read_events, topic_matches
from shared.events.topology import Topology
from shared.logging import get_logger

log = get_logger(__name__)


class Subscriber:
    def __init__(self, broker: Broker, topology: Topology, *, keys: list[str],
                 on_event: Callable[[Event], Awaitable[None]],
                 on_resync: Callable[[], Awaitable[None]] | None = None, name: str):
        self._broker = broker
        self._topology = topology
        self._keys = keys
        self._on_event = on_event
        self._on_resync = on_resync
        self._name = name

    async def start(self) -> None:
        self._broker.on_connect(self._setup)

    async def _setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        exchange = await self._topology.declare_exchange(channel)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True, durable=False)
        for key in self._keys:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(self._deliver, no_ack=True)
        if self._on_resync is not None:
            await self._on_resync()
        log.info("subscriber_started", subscriber=self._name, keys=self._keys)

    async def _deliver(self, message: AbstractIncomingMessage) -> None:
        for item in read_events(message.body, message.content_type, self._hears):
            if isinstance(item, Unreadable):
                log.error("subscriber_unparseable", subscriber=self._name,
                          message_id=message.message_id, error=item.error[:500])
                continue
            try:
                await self._on_event(item)
            except Exception:
                log.exception("subscriber_handler_failed", subscriber=self._name,
                              event_id=str(item.id))

    def _hears(self, event_type: str) -> bool:
        """Whether this subscriber is bound to `event_type` (a bundle holds others too)."""
        return any(topic_matches(key, event_type) for key in self._keys)
