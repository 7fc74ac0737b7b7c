"""Unit of work with a transactional outbox, and the relay that publishes it.

A state change and the events it causes commit together or not at all; the
relay publishes committed events later, so a broker outage delays events but
never loses them. Several relays on one outbox share the work through
`FOR UPDATE SKIP LOCKED`: a row is locked by the relay publishing it, and
stamped published in the same transaction that held the lock.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import HeadersType

from shared import metrics
from shared.aio import being_cancelled, cancel_and_wait
from shared.events.broker import Broker, backoff_delays
from shared.events.envelope import BUNDLE_CONTENT_TYPE, Event, bundle_body
from shared.events.topology import Topology
from shared.logging import get_logger

log = get_logger(__name__)


_OUTBOX_INSERT = """INSERT INTO outbox (event_id, event_type, payload)
    SELECT id, type, payload
      FROM unnest(${0}::uuid[], ${1}::text[], ${2}::bytea[])
    WITH ORDINALITY AS e(id, type, payload, n) ORDER BY n"""
# A bundle stays well under RabbitMQ's largest message (16 MiB by default in 4.x).
MAX_BUNDLE_BYTES = 1 << 20
BUNDLE_SIZE_HEADER = "x-norgate-events"
OUTBOX = "{outbox}"  # where a statement takes its events' outbox rows (outbox_clause)


def _outbox_args(events: list[Event]) -> tuple[list[uuid.UUID], list[str], list[bytes]]:
    return ([e.id for e in events], [e.type for e in events], [e.to_bytes() for e in events])


def outbox_clause(sql: str, args: tuple[Any, ...],
                  events: list[Event]) -> tuple[str, tuple[Any, ...]]:
    """`sql` (written with the `{outbox}` marker at the start of its WITH list) and its
    arguments, with the marker made into a data-modifying CTE that inserts `events`'
    outbox rows (nothing when there are none): the statement commits them with its own
    writes, in the same round trip. Each event's data must match its type's schema
    (shared/events/payloads.py): InvalidPayload otherwise."""
    if OUTBOX not in sql:
        raise ValueError("the statement has no {outbox} marker")
    for event in events:  # built by the caller (not emitted): checked here, once
        event.checked()
    clause = ""
    if events:
        n = len(args) + 1
        clause = f"outbox_rows AS ({_OUTBOX_INSERT.format(n, n + 1, n + 2)}), "
        args = (*args, *_outbox_args(events))
    return sql.replace(OUTBOX, clause), args


class UnitOfWork:
    """Owns one transaction and the events emitted inside it.

        async with UnitOfWork(pool, producer="checkout", relay=relay) as uow:
            await store.insert_payment(uow, **payment)
            uow.emit("payment.created", {...}, merchant_id=...)

    The events' outbox rows are inserted with one statement before the commit; or, for
    events emitted before a statement run with `fetchrow` and the `{outbox}` marker, by
    that statement itself, which saves the round trip.
    """

    def __init__(self, pool: asyncpg.Pool, *, producer: str,
                 relay: "OutboxRelay | None" = None):
        self._pool = pool
        self._producer = producer
        self._relay = relay
        self.events: list[Event] = []  # every event emitted, in order
        self._written = 0  # how many of them are in the outbox already
        self._after_commit: list[Callable[[], object]] = []
        self._after_rollback: list[Callable[[], object]] = []
        self.conn: asyncpg.Connection

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Call `callback` once the transaction has committed (not when it rolls
        back): to wake a worker that should see what it wrote."""
        if callback not in self._after_commit:
            self._after_commit.append(callback)

    def after_rollback(self, callback: Callable[[], object]) -> None:
        """Call `callback` if the transaction does not commit: to give back what was
        set aside for what it wrote."""
        self._after_rollback.append(callback)

    def emit(self, event_type: str, data: dict[str, Any], *, company_id: str | None = None,
             merchant_id: str | None = None, event_id: uuid.UUID | None = None) -> Event:
        """Collect an event for the outbox; `event_id` when the caller already recorded
        it elsewhere in the transaction. `data` must match the schema of `event_type`
        (shared/events/payloads.py): an unknown type or bad data raises InvalidPayload
        here, before anything is written. `data` itself is what goes on the wire."""
        given: dict[str, Any] = {"id": event_id} if event_id is not None else {}
        event = Event(type=event_type, producer=self._producer, data=data,
                      company_id=company_id, merchant_id=merchant_id, **given)
        event.checked()
        self.events.append(event)
        return event

    async def __aenter__(self) -> UnitOfWork:
        self.conn = await self._pool.acquire()
        try:
            self._tx = self.conn.transaction()
            await self._tx.start()
        except BaseException:
            await self._pool.release(self.conn)
            raise
        return self

    def take_unwritten(self) -> list[Event]:
        """The events emitted and not in the outbox yet, for the caller's statement to
        write (`outbox_clause`); the commit then writes only those emitted after."""
        pending = self.events[self._written:]
        self._written = len(self.events)
        return pending

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record:
        """Run `sql`, whose WITH list starts with the `{outbox}` marker
        (`WITH {outbox} p AS (...) SELECT ...`), in this transaction: the marker becomes
        a data-modifying CTE inserting the outbox rows of the events emitted so far."""
        sql, args = outbox_clause(sql, args, self.take_unwritten())
        return await self.conn.fetchrow(sql, *args)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        committed = False
        try:
            if exc_type is not None:
                await self._tx.rollback()
                return
            try:
                pending = self.events[self._written:]
                if pending:
                    # One statement for all of them (executemany costs more per call).
                    await self.conn.execute(_OUTBOX_INSERT.format(1, 2, 3),
                                            *_outbox_args(pending))
            except BaseException:
                await self._tx.rollback()
                raise
            await self._tx.commit()
            committed = True
        finally:
            try:
                await self._pool.release(self.conn)
            finally:
                # Whatever happens to the connection, the outcome decides which run.
                if committed:
                    if self.events and self._relay is not None:
                        self._relay.wake()
                    for callback in self._after_commit:
                        callback()
                else:
                    for callback in self._after_rollback:
                        callback()


class OutboxRelay:
    """Publishes committed outbox rows in order, with publisher confirms."""

    def __init__(self, pool: asyncpg.Pool, broker: Broker, topology: Topology, *,
                 service: str, batch_size: int = 200, poll_seconds: float = 1.0,
                 retention_days: int = 7, linger_seconds: float = 0.0):
        self._pool = pool
        self._broker = broker
        self._topology = topology
        self._service = service
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        # After a wake-up, how long commits may gather before the batch is read: under
        # load, one transaction and one round of confirms then carry many events.
        self._linger = linger_seconds
        self._retention_days = retention_days
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._last_cleanup = 0.0
        self.failures = 0  # batches that failed to publish, for readiness and tests

    def wake(self) -> None:
        self._wakeup.set()

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._service}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._drop_channel()

    async def _drop_channel(self) -> None:
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None and not channel.is_closed:
            try:
                await channel.close()
            except Exception:  # the connection is already gone
                pass

    async def _ensure_exchange(self) -> aio_pika.abc.AbstractExchange:
        if self._channel is None or self._channel.is_closed or self._exchange is None:
            await self._drop_channel()
            if not await self._broker.wait_up(timeout=self._poll_seconds * 5):
                raise ConnectionError("broker is not connected")
            self._channel = await self._broker.connection.channel(publisher_confirms=True)
            self._exchange = await self._topology.declare_exchange(self._channel)
        return self._exchange

    async def _run(self) -> None:
        delays = backoff_delays()
        while True:
            try:
                published = await self.publish_batch()
                delays = backoff_delays()
                if published < self._batch_size:
                    await self._cleanup_if_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if being_cancelled():
                    raise asyncio.CancelledError from exc
                await self._drop_channel()
                self.failures += 1
                metrics.OUTBOX_PUBLISH_FAILURES.labels(self._service).inc()
                delay = next(delays)
                log.warning("outbox_publish_failed", error=str(exc) or type(exc).__name__,
                            retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if published >= self._batch_size:
                continue  # more are waiting
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the
            # cancellation that stop() sends, leaving shutdown hanging.
            woken = True
            try:
                async with asyncio.timeout(self._poll_seconds):
                    await self._wakeup.wait()
            except TimeoutError:
                woken = False
            if woken and self._linger:
                await asyncio.sleep(self._linger)
            self._wakeup.clear()

    async def publish_batch(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT seq, event_id, event_type, payload FROM outbox
                   WHERE published_at IS NULL ORDER BY seq LIMIT $1
                   FOR UPDATE SKIP LOCKED""", self._batch_size)
            if not rows:
                return 0
            exchange = await self._ensure_exchange()
            # In seq order on one channel, as few messages as the size cap allows
            # (bundles); confirms awaited together.
            await asyncio.gather(*(
                exchange.publish(message, routing_key=routing_key, mandatory=False, timeout=10)
                for routing_key, message in self._messages(rows)))
            # The payload is dropped once published: it may hold secrets meant only
            # for the recipient (a confirmation token), and RabbitMQ has it now.
            await conn.execute(
                "UPDATE outbox SET published_at = now(), payload = '' WHERE seq = ANY($1)",
                [row["seq"] for row in rows])
        metrics.EVENTS_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    def _messages(self, rows: list[asyncpg.Record]) -> list[tuple[str, aio_pika.Message]]:
        """The batch as messages, in order: a bundle for each run of rows under the size
        cap, a lone envelope for a run of one."""
        out: list[tuple[str, aio_pika.Message]] = []
        run: list[asyncpg.Record] = []
        size = 0
        for row in [*rows, None]:
            if row is not None:
                payload = row["payload"]
                if not run or size + len(payload) <= MAX_BUNDLE_BYTES:
                    run.append(row)
                    size += len(payload)
                    continue
            if len(run) == 1:
                one = run[0]
                out.append((one["event_type"], aio_pika.Message(
                    bytes(one["payload"]), message_id=str(one["event_id"]),
                    type=one["event_type"], content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT, app_id=self._service)))
            elif run:
                types = list(dict.fromkeys(r["event_type"] for r in run))
                headers: HeadersType = {BUNDLE_SIZE_HEADER: len(run)}
                if len(types) > 1:
                    headers["CC"] = types[1:]
                out.append((types[0], aio_pika.Message(
                    bundle_body([bytes(r["payload"]) for r in run]),
                    message_id=str(run[0]["event_id"]), type="bundle",
                    content_type=BUNDLE_CONTENT_TYPE, headers=headers,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT, app_id=self._service)))
            if row is not None:
                run, size = [row], len(row["payload"])
        return out

    async def pending(self) -> int:
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL")
            return count

    async def _cleanup_if_due(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_cleanup < 3600:
            return
        self._last_cleanup = now
        async with self._pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)",
                self._retention_days)
            # Inbox rows only need to outlive any redelivery (retries span hours).
            await conn.execute(
                "DELETE FROM inbox WHERE handled_at < now() - make_interval(days => $1)",
                self._retention_days)
