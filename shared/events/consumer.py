"""Event consumer: durable quorum queue, manual ack, inbox, retries, dead letters.

For each message:
  1. parse the envelope (unparseable -> dead-letter queue at once);
  2. in one transaction: record (consumer, event id) in the inbox and run the
     handler, which may write state and emit events through the same unit of
     work; a redelivered event finds its inbox row and is acknowledged unhandled;
  3. ack only after commit. On a handler error the message is republished to a
     delay queue (1 s, 5 s, 30 s, ... from settings) with its attempt count; after
     the last attempt it goes to the dead-letter queue with the error attached.
A failing handler is never skipped silently: every failure is logged with the
event id, counted in metrics, and ends either handled or in the DLQ.

Batches: messages that arrive together (already delivered, up to the prefetch) are
handled by one worker in ONE transaction: one inbox INSERT for all their event ids
(dedup per event id as above), each new event's handler in turn (consecutive events
of a handler made with `handles_batches` in one call, so it can write them with one
statement), one COMMIT, then one ack for the batch (`multiple`). Same guarantees as
one by one: if anything in the batch fails (a handler, a statement, the commit), the
whole transaction rolls back, so no effect of any message in it remains, and every
message of the batch is then handled alone as described above (its own transaction,
retries, dead letters). A failing message thus costs one more run of the handlers of
its batch, and the others' effects are written once. One message at a time takes the
one-by-one path directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
import asyncpg
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage, HeadersType

from shared import metrics
from shared.aio import Coalescer
from shared.events.broker import Broker
from shared.events.envelope import Event, Unreadable, is_bundle, read_events
from shared.events.outbox import BUNDLE_SIZE_HEADER, OutboxRelay, UnitOfWork
from shared.events.topology import Topology
from shared.logging import bind_ids, get_logger, new_id

log = get_logger(__name__)

Handler = Callable[[Event, UnitOfWork], Awaitable[None]]
# One event of a delivered message, ready for its handler: (message, event, handler,
# the message's attempts so far).
Ready = tuple[AbstractIncomingMessage, Event, Handler, int]
BatchHandler = Callable[[list[Event], UnitOfWork], Awaitable[None]]
ATTEMPTS_HEADER = "x-norgate-attempts"


class PermanentError(Exception):
    """Raised by a handler for an event that can never succeed (e.g. invalid data):
    the event goes straight to the dead-letter queue instead of being retried."""


ERROR_HEADER = "x-norgate-error"


def handles_batches(many: BatchHandler) -> Handler:
    """A handler that takes several events in one call (one statement for many): a
    batch's consecutive new events bound to it go to `many` together, in delivery
    order; alone, an event goes as a list of one. `many` binds each event's ids
    (bind_event) before it logs about that event."""
    async def one(event: Event, uow: UnitOfWork) -> None:
        await many([event], uow)

    one.many = many  # type: ignore[attr-defined]
    return one


def bind_event(event: Event) -> None:
    """Log lines from here on carry this event's correlation id and a new request id."""
    bind_ids(request_id=new_id(), correlation_id=event.correlation_id or str(event.id))


class Consumer:
    def __init__(self, *, pool: asyncpg.Pool, broker: Broker, topology: Topology,
                 service: str, purpose: str, handlers: dict[str, Handler],
                 relay: OutboxRelay | None = None, prefetch: int = 32,
                 max_attempts: int = 8,
                 retry_delays: Sequence[float] = (1, 5, 30, 120, 600, 1800, 3600),
                 batch: bool = True, linger: float = 0.0,
                 wants: Callable[[Event], bool] | None = None):
        if not handlers:
            raise ValueError("a consumer needs at least one handler")
        self._pool = pool
        self._broker = broker
        self._topology = topology
        self._service = service
        self._purpose = purpose
        self._handlers = dict(handlers)
        self._relay = relay
        self._prefetch = prefetch
        self._max_attempts = max_attempts
        self._retry_delays = tuple(retry_delays) or (1.0,)
        # Handlers whose effects reach outside the database (an SMTP send) must not
        # be run again when another event of their batch fails: those consumers
        # handle each message alone, concurrently, as they arrive.
        self._batch = batch
        # Deliveries are handled batch after batch (everything delivered by the time a
        # batch starts, up to the prefetch); `linger` lets them gather first: under
        # load, a few milliseconds turn many one-message transactions into one.
        self._batches = Coalescer(self._handle_delivered, max_batch=prefetch, linger=linger)
        # Events this consumer has nothing to do with (a price's consumer and a payment
        # no price made) are acked without a transaction or an inbox row: their
        # handler would do nothing, so handling them twice is harmless too.
        self._wants = wants
        self.queue_name = topology.queue(service, purpose)
        self._inbox_name = f"{service}.{purpose}"
        self._publish_channel: aio_pika.abc.AbstractChannel | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._consuming_on: AbstractConnection | None = None
        self._consumer_tag: str | None = None

    @property
    def is_consuming(self) -> bool:
        """True once the queue is declared, bound and consumed on the live connection."""
        return self._consuming_on is not None and not self._consuming_on.is_closed

    async def start(self) -> None:
        self._broker.on_connect(self._setup)

    async def _setup(self, connection: AbstractConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await self._topology.declare_consumer_queue(
            channel, self._service, self._purpose, sorted(self._handlers))
        # A copy that cannot be routed must not let the original be acked.
        self._publish_channel = await connection.channel(publisher_confirms=True,
                                                         on_return_raises=True)
        self._delays = {d: await self._topology.declare_delay(self._publish_channel, d)
                        for d in set(self._retry_delays)}
        self._dlx = await self._publish_channel.get_exchange(
            self._topology.dead_letter_exchange, ensure=False)
        self._queue = queue
        self._consumer_tag = await queue.consume(self._on_message, no_ack=False)
        self._consuming_on = connection
        log.info("consumer_started", queue=self.queue_name, bindings=sorted(self._handlers))

    async def drain(self, timeout: float) -> None:
        """Stop taking messages, then let those being handled finish (shutdown).

        Unacked prefetched messages go back to the queue when the channel closes.
        """
        if self.is_consuming and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as exc:  # the connection may already be gone
                log.warning("consumer_cancel_failed", queue=self.queue_name, error=str(exc))
        self._consuming_on = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            if self._batch:
                await self._batches.submit(message)
            else:
                await self._process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _handle_delivered(self, messages: list[AbstractIncomingMessage]) -> list[None]:
        if len(messages) == 1 and not is_bundle(messages[0].content_type):
            await self._process(messages[0])
        else:
            await self._process_batch(messages)
        return [None] * len(messages)

    @staticmethod
    def _attempts(message: AbstractIncomingMessage) -> int:
        try:
            value = (message.headers or {}).get(ATTEMPTS_HEADER, 0)
            return int(value) if isinstance(value, int | float | str) else 0
        except ValueError:
            return 0

    def _items(self, message: AbstractIncomingMessage) -> list[Event | Unreadable]:
        """The message's events for this queue (envelope.read_events)."""
        return read_events(message.body, message.content_type, self._handlers.__contains__)

    async def _process_batch(self, messages: list[AbstractIncomingMessage]) -> None:
        ready: list[Ready] = []
        settled: list[AbstractIncomingMessage] = []
        for message in messages:
            attempts = self._attempts(message)
            items = self._items(message)
            events = [i for i in items if isinstance(i, Event)]
            if len(events) < len(items) or any(e.type not in self._handlers for e in events):
                await self._process(message)  # dead-lettered there, with the reason
                continue
            mine: list[Ready] = []
            for event in events:
                if self._wanted(event):
                    mine.append((message, event, self._handlers[event.type], attempts))
                else:
                    metrics.EVENTS_HANDLED.labels(
                        self._service, self.queue_name, "skipped").inc()
            if mine:
                ready.extend(mine)
            else:
                settled.append(message)
        done: list[tuple[Event, int, bool]] = []
        for chunk in _chunks(ready, MAX_BATCH_EVENTS):
            try:
                handled = await self._handle_batch([(e, h) for _, e, h, _ in chunk])
            except Exception as exc:
                log.info("event_batch_failed", queue=self.queue_name, size=len(chunk),
                         error=f"{type(exc).__name__}: {exc}"[:300])
                for message in dict.fromkeys(m for m, *_ in chunk):
                    await self._process(message)
                continue
            settled.extend(dict.fromkeys(m for m, *_ in chunk))
            done.extend((e, a, first) for (_, e, _, a), first in zip(chunk, handled,
                                                                      strict=True))
        if not settled:
            return
        # One ack for the batch: every delivery up to its last tag is settled by now
        # (this worker handles deliveries in order; the ones handled alone above were
        # acked or rejected already), and `multiple` acks only the outstanding ones.
        await max(settled, key=lambda m: m.delivery_tag or 0).ack(multiple=True)
        for event, attempts, first in done:
            outcome = "handled" if first else "duplicate"
            metrics.EVENTS_HANDLED.labels(self._service, self.queue_name, outcome).inc()
            bind_event(event)
            log.info("event_" + outcome, event_type=event.type, event_id=str(event.id),
                     queue=self.queue_name, attempt=attempts + 1)

    def _wanted(self, event: Event) -> bool:
        """The `wants` predicate; one that fails hands the event to its handler, whose
        failures are retried and dead-lettered as usual."""
        if self._wants is None:
            return True
        try:
            return bool(self._wants(event))
        except Exception as exc:
            log.warning("event_wants_failed", queue=self.queue_name, event_id=str(event.id),
                        error=f"{type(exc).__name__}: {exc}"[:300])
            return True

    async def _handle_batch(self, events: list[tuple[Event, Handler]]) -> list[bool]:
        """All of them in one transaction; for each, whether it was new."""
        async with UnitOfWork(self._pool, producer=self._service, relay=self._relay) as uow:
            new = {row[0] for row in await uow.conn.fetch(
                """INSERT INTO inbox (consumer, event_id, event_type)
                   SELECT $1, e.id, e.type FROM unnest($2::uuid[], $3::text[]) AS e(id, type)
                   ON CONFLICT DO NOTHING RETURNING event_id""",
                self._inbox_name, [e.id for e, _ in events], [e.type for e, _ in events])}
            handled, todo = [], []
            for event, handler in events:
                first = event.id in new
                new.discard(event.id)  # the same event twice in a batch: handled once
                if first:
                    todo.append((event, handler))
                handled.append(first)
            start = 0
            while start < len(todo):
                event, handler = todo[start]
                many = getattr(handler, "many", None)
                end = start + 1
                while many is not None and end < len(todo) \
                        and getattr(todo[end][1], "many", None) is many:
                    end += 1
                bind_event(event)
                if many is None:
                    await handler(event, uow)
                else:
                    await many([e for e, _ in todo[start:end]], uow)
                start = end
            return handled

    async def _process(self, message: AbstractIncomingMessage) -> None:
        """The message alone: each of its events in a transaction of its own, then one
        ack. If a copy (retry, dead letter) cannot be published, the message goes back
        to the queue; the events handled already are then duplicates (inbox)."""
        attempts = self._attempts(message)
        for item in self._items(message):
            if not await self._process_one(message, item, attempts):
                await message.nack(requeue=True)
                return
        await message.ack()

    async def _process_one(self, message: AbstractIncomingMessage,
                           item: Event | Unreadable, attempts: int) -> bool:
        """One event; False when its retry or dead-letter copy could not be published."""
        if isinstance(item, Unreadable):
            bind_ids(request_id=new_id(), correlation_id=None)
            log.error("event_unparseable", queue=self.queue_name, error=item.error[:500],
                      message_id=message.message_id)
            return await self._dead_letter(message, item.body, attempts,
                                           f"unparseable envelope: {item.error}")
        event = item
        bind_event(event)
        handler = self._handlers.get(event.type)
        if handler is None:
            # Bindings come from the handler table, so this is a misconfiguration.
            log.error("event_without_handler", queue=self.queue_name, event_type=event.type,
                      event_id=str(event.id))
            return await self._dead_letter(message, self._body_of(message, event), attempts,
                                           f"no handler for {event.type}")
        if not self._wanted(event):
            metrics.EVENTS_HANDLED.labels(self._service, self.queue_name, "skipped").inc()
            return True
        try:
            handled = await self._handle(event, handler)
        except Exception as exc:
            return await self._on_failure(message, event, attempts + 1, exc)
        outcome = "handled" if handled else "duplicate"
        metrics.EVENTS_HANDLED.labels(self._service, self.queue_name, outcome).inc()
        log.info("event_" + outcome, event_type=event.type, event_id=str(event.id),
                 queue=self.queue_name, attempt=attempts + 1)
        return True

    @staticmethod
    def _body_of(message: AbstractIncomingMessage, event: Event) -> bytes:
        """The envelope of `event` alone: a lone message's own body, or, out of a
        bundle, the event serialised again."""
        return event.to_bytes() if is_bundle(message.content_type) else message.body

    async def _handle(self, event: Event, handler: Handler) -> bool:
        async with UnitOfWork(self._pool, producer=self._service, relay=self._relay) as uow:
            first = await uow.conn.fetchval(
                """INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING RETURNING true""",
                self._inbox_name, event.id, event.type)
            if not first:
                return False
            await handler(event, uow)
            return True

    async def _on_failure(self, message: AbstractIncomingMessage, event: Event,
                          attempts: int, exc: Exception) -> bool:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        body = self._body_of(message, event)
        if attempts >= self._max_attempts or isinstance(exc, PermanentError):
            log.error("event_dead_lettered", event_type=event.type, event_id=str(event.id),
                      queue=self.queue_name, attempts=attempts, error=error)
            return await self._dead_letter(message, body, attempts, error)
        delay = self._retry_delays[min(attempts - 1, len(self._retry_delays) - 1)]
        log.warning("event_handler_failed", event_type=event.type, event_id=str(event.id),
                    queue=self.queue_name, attempt=attempts, retry_in=delay, error=error,
                    exc_info=exc)
        metrics.EVENTS_HANDLED.labels(self._service, self.queue_name, "retried").inc()
        return await self._send_copy(message, body, self._delays[delay], attempts, error)

    async def _dead_letter(self, message: AbstractIncomingMessage, body: bytes,
                           attempts: int, error: str) -> bool:
        metrics.EVENTS_HANDLED.labels(self._service, self.queue_name, "dead_lettered").inc()
        return await self._send_copy(message, body, self._dlx, attempts, error)

    async def _send_copy(self, message: AbstractIncomingMessage, body: bytes,
                         exchange: aio_pika.abc.AbstractExchange,
                         attempts: int, error: str) -> bool:
        """Publish a copy of one event (confirmed), to be acked with its message after:
        at-least-once. False if it could not be published."""
        headers: HeadersType = {k: v for k, v in (message.headers or {}).items()
                   if k not in ("CC", BUNDLE_SIZE_HEADER)}
        headers[ATTEMPTS_HEADER] = attempts
        headers[ERROR_HEADER] = error
        lone = not is_bundle(message.content_type)
        copy = aio_pika.Message(
            body, headers=headers, message_id=message.message_id if lone else None,
            type=message.type if lone else None,
            content_type=message.content_type if lone else "application/json",
            app_id=message.app_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        try:
            await exchange.publish(copy, routing_key=self.queue_name, timeout=10)
        except Exception:
            log.exception("event_republish_failed", queue=self.queue_name,
                          message_id=message.message_id)
            return False
        return True


# Events handled in one transaction at most: a batch of bundles is split between them.
MAX_BATCH_EVENTS = 500


def _chunks(ready: list[Ready], limit: int) -> list[list[Ready]]:
    """`ready` (a message's events next to each other) cut between messages into runs of
    about `limit` events: a run ends once it holds `limit`."""
    out: list[list[Ready]] = []
    run: list[Ready] = []
    for i, entry in enumerate(ready):
        run.append(entry)
        if len(run) >= limit and (i + 1 == len(ready) or ready[i + 1][0] is not entry[0]):
            out.append(run)
            run = []
    if run:
        out.append(run)
    return out
