"""Transactional outbox and relay against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.events import OutboxRelay, Topology, UnitOfWork
from shared.events.broker import Broker
from shared.logging import bind_ids
from tests.support.broker import EventTap
from tests.support.poll import poll_until
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def topology(settings):
    return Topology(settings.events_namespace)


# These tests emit types of their own (unique ones, for their taps).
pytestmark = pytest.mark.usefixtures("any_event_type")


async def _pending(pool, event_ids) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_id = ANY($1) AND published_at IS NULL",
            list(event_ids))


async def _emit(pool, key: str, n: int = 1, relay=None):
    async with UnitOfWork(pool, producer="billing", relay=relay) as uow:
        events = [uow.emit(key, {"i": i}, company_id="c1") for i in range(n)]
        await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, events[0].id)
    return events


async def test_rolled_back_unit_of_work_writes_neither_state_nor_events(billing_pool, unique):
    key = f"rollback.{unique}"
    with pytest.raises(RuntimeError):
        async with UnitOfWork(billing_pool, producer="billing") as uow:
            uow.emit("thing.happened", {"key": key})
            await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                                   key, uow.events[0].id)
            raise RuntimeError("boom")
    async with billing_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM test_effects WHERE key=$1", key) == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE payload::text LIKE '%' || $1 || '%'", key) == 0


async def test_relay_publishes_committed_events_with_their_envelope(
        settings, billing_pool, topology, unique):
    key = f"test.published_{unique}"
    broker = Broker(settings.amqp_url, name="test-relay")
    await broker.start()
    relay = OutboxRelay(billing_pool, broker, topology, service="billing", poll_seconds=0.2)
    await relay.start()
    try:
        async with EventTap(settings.amqp_url, topology, [key]) as tap:
            bind_ids(request_id="req-123456", correlation_id=f"corr-{unique}")
            [event] = await _emit(billing_pool, key, relay=relay)
            await poll_until(lambda: len(tap.events) == 1, what="published event")
        got = tap.events[0]
        assert got.id == event.id and got.type == key
        assert got.producer == "billing" and got.company_id == "c1"
        assert got.correlation_id == f"corr-{unique}"
        assert tap.messages[0].delivery_mode == 2  # persistent
        assert tap.messages[0].message_id == str(event.id)
        assert await _pending(billing_pool, [event.id]) == 0
    finally:
        await relay.stop()
        await broker.stop()



def _via_proxy(amqp_url: str, port: int) -> str:
    p = urlsplit(amqp_url)
    netloc = f"{p.username}:{p.password}@127.0.0.1:{port}" if p.username else \
        f"127.0.0.1:{port}"
    return urlunsplit((p.scheme, netloc, p.path, p.query, ""))


async def test_event_committed_while_broker_is_unreachable_is_published_when_it_returns(
        settings, billing_pool, topology, unique):
    key = f"test.outage_{unique}"
    target = urlsplit(settings.amqp_url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5672)
    await proxy.start()
    broker = Broker(_via_proxy(settings.amqp_url, proxy.port), name="test-outage",
                    backoff_cap=0.5)
    await broker.start()
    relay = OutboxRelay(billing_pool, broker, topology, service="billing", poll_seconds=0.2)
    await relay.start()
    try:
        async with EventTap(settings.amqp_url, topology, [key]) as tap:
            assert await broker.wait_up(timeout=10)
            await proxy.stop()  # RabbitMQ is now unreachable for the relay
            await poll_until(lambda: not broker.is_up, what="broker seen as down")
            failures_before = relay.failures
            [event] = await _emit(billing_pool, key, relay=relay)
            # The relay keeps trying while the broker is away; the row stays pending.
            await poll_until(lambda: relay.failures >= failures_before + 2, timeout=10,
                             what="two failed publish attempts while the broker is away")
            assert await _pending(billing_pool, [event.id]) == 1
            assert tap.events == []
            await proxy.start()  # back on the same port
            await poll_until(lambda: len(tap.events) == 1, timeout=20,
                             what="event published after the outage")
            assert tap.events[0].id == event.id
            await poll_until(lambda: _pending_is_zero(billing_pool, event.id), timeout=5,
                             what="outbox row stamped published")
    finally:
        await relay.stop()
        await broker.stop()
        await proxy.stop()


async def _pending_is_zero(pool, event_id) -> bool:
    return await _pending(pool, [event_id]) == 0


async def test_two_relays_on_one_outbox_publish_each_event_exactly_once(
        settings, billing_pool, topology, unique):
    key = f"test.pair_{unique}"
    brokers = [Broker(settings.amqp_url, name=f"test-pair-{i}") for i in range(2)]
    relays = [OutboxRelay(billing_pool, b, topology, service="billing", batch_size=25,
                          poll_seconds=0.05) for b in brokers]
    async with EventTap(settings.amqp_url, topology, [key]) as tap:
        events = []
        for _ in range(20):  # 400 events in 20 transactions
            events += await _emit(billing_pool, key, n=20)
        for b in brokers:
            await b.start()
        for r in relays:
            await r.start()
        try:
            await poll_until(lambda: len(tap.events) >= 400, timeout=30,
                             what="400 events published")
            await poll_until(lambda: _pending_is_all_zero(billing_pool, events), timeout=5,
                             what="all rows published")
            await asyncio.sleep(0.5)  # window for any duplicate still in flight to arrive
        finally:
            for r in relays:
                await r.stop()
            for b in brokers:
                await b.stop()
    ids = [e.id for e in tap.events]
    assert len(ids) == 400
    assert set(ids) == {e.id for e in events}


async def _pending_is_all_zero(pool, events) -> bool:
    return await _pending(pool, [e.id for e in events]) == 0


async def test_after_commit_callbacks_run_once_committed_and_never_on_rollback(
        billing_pool, unique):
    key, seen = f"after.{unique}", []

    async def count() -> int:
        async with billing_pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM test_effects WHERE key = $1", key)

    def on_commit() -> None:
        # Scheduled, not awaited: what it sees is read right after the commit.
        seen.append(asyncio.get_running_loop().create_task(count()))

    with pytest.raises(RuntimeError):
        async with UnitOfWork(billing_pool, producer="billing") as uow:
            uow.after_commit(on_commit)
            await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, uuid.uuid4())
            raise RuntimeError("boom")
    assert seen == []

    async with UnitOfWork(billing_pool, producer="billing") as uow:
        uow.after_commit(on_commit)
        uow.after_commit(on_commit)  # the same callback once
        await uow.conn.execute("INSERT INTO test_effects (key, event_id) VALUES ($1, $2)",
                               key, uuid.uuid4())
        assert seen == []  # not before the commit
    assert len(seen) == 1
    assert await seen[0] == 1  # the committed row is visible to it


async def test_after_commit_and_after_rollback_callbacks_follow_the_outcome(
        billing_pool, unique):
    seen: list[str] = []
    async with UnitOfWork(billing_pool, producer="billing") as uow:
        uow.after_commit(lambda: seen.append("committed"))
        uow.after_rollback(lambda: seen.append("rolled back"))
    assert seen == ["committed"]
    seen.clear()
    with pytest.raises(RuntimeError):
        async with UnitOfWork(billing_pool, producer="billing") as uow:
            uow.after_commit(lambda: seen.append("committed"))
            uow.after_rollback(lambda: seen.append("rolled back"))
            raise RuntimeError("handler failed")
    assert seen == ["rolled back"]
    seen.clear()
    with pytest.raises(Exception, match="duplicate key"):  # the commit itself fails
        async with UnitOfWork(billing_pool, producer="billing") as uow:
            await uow.conn.execute("SET CONSTRAINTS ALL DEFERRED")
            await uow.conn.execute(
                "CREATE TEMP TABLE t (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED)")
            await uow.conn.execute("INSERT INTO t VALUES (1), (1)")
            uow.after_commit(lambda: seen.append("committed"))
            uow.after_rollback(lambda: seen.append("rolled back"))
    assert seen == ["rolled back"]
