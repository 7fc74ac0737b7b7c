"""Idempotency claims and completions go to PostgreSQL in one multi-row statement
(shared.aio.Coalescer): each request in a batch gets its own answer, and the statement
locks its rows in (scope, key) order, so two replicas' batches holding the same keys in
opposite orders do not deadlock (found by review: they did)."""
import asyncio

import pytest

from services.gateway.idempotency import IdempotencyStore, Record
from shared.db import create_pool
from tests.integration.conftest import migrate
from tests.support.poll import poll_until


@pytest.fixture
async def gw_pool(settings, unique):
    await migrate(settings, "gateway")
    pool = await create_pool(settings.dsn_of("gateway"), schema="gateway",
                             application_name=f"tests-idem-{unique}")
    yield pool
    await pool.close()


async def _waiting_on_locks(pool, unique: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
        " AND wait_event_type = 'Lock'", f"tests-idem-{unique}")


async def test_a_claim_batch_and_a_completion_batch_in_opposite_orders_do_not_deadlock(
        settings, gw_pool, unique):
    store = IdempotencyStore(gw_pool, settings)
    other = IdempotencyStore(gw_pool, settings)  # another replica: its own batches
    scope, fp = f"api_key:{unique} POST /api/v2/payments/create", b"f" * 32
    owner_a = await store.claim(scope, "A", fp)
    owner_b = await store.claim(scope, "B", fp)
    holder = await gw_pool.acquire()
    tx = holder.transaction()
    await tx.start()
    # Holds B so that the batches below line up on it.
    await holder.execute("SELECT 1 FROM idempotency_keys WHERE scope = $1 AND key = 'B' "
                         "FOR UPDATE", scope)
    # Retries of B and A arrive together: one claim statement.
    claims = [asyncio.create_task(store.claim(scope, k, fp)) for k in ("B", "A")]
    await poll_until(lambda: _waiting_on_locks(gw_pool, unique), what="claims waiting")
    # The originals finish together on the other replica: one statement, A first.
    done = [asyncio.create_task(other.complete(scope, k, o, fp, 201, [], b"{}"))
            for k, o in (("A", owner_a), ("B", owner_b))]
    await poll_until(lambda: _count_is(_waiting_on_locks(gw_pool, unique), 2),
                     what="completions waiting too")
    await tx.commit()
    await gw_pool.release(holder)
    results = await asyncio.gather(*claims, *done, return_exceptions=True)
    assert not any(isinstance(r, BaseException) for r in results), results
    assert results[2:] == [True, True]  # both answers kept
    assert all(isinstance(r, Record) for r in results[:2])  # the retries see the rows


async def _count_is(count, n: int) -> bool:
    return await count == n


async def test_an_answer_whose_expired_claim_was_cleaned_up_is_still_kept(
        settings, gw_pool, unique):
    store = IdempotencyStore(gw_pool, settings)
    scope, fp = f"api_key:{unique} POST /api/v2/payments/create", b"g" * 32
    owner = await store.claim(scope, "slow", fp)
    # The upstream took longer than the lease, and cleanup deleted the claim meanwhile.
    await gw_pool.execute("DELETE FROM idempotency_keys WHERE scope = $1", scope)
    assert await store.complete(scope, "slow", owner, fp, 201, [["Location", "/x"]],
                                b'{"ok": true}') is True
    again = await store.claim(scope, "slow", fp)
    assert isinstance(again, Record) and again.state == "done" and again.status == 201
    assert store.open(scope, "slow", again.body) == b'{"ok": true}'
    assert again.headers == [["Location", "/x"]]


async def test_an_answer_after_another_request_took_the_key_over_is_not_kept(
        settings, gw_pool, unique):
    store = IdempotencyStore(gw_pool, settings)
    scope, fp = f"api_key:{unique} POST /api/v2/payments/create", b"h" * 32
    first = await store.claim(scope, "k", fp)
    await gw_pool.execute("UPDATE idempotency_keys SET expires_at = now() WHERE scope = $1",
                          scope)  # its lease ran out
    second = await store.claim(scope, "k", fp)
    assert second != first
    assert await store.complete(scope, "k", first, fp, 201, [], b"late") is False
    assert await store.complete(scope, "k", second, fp, 200, [], b"mine") is True
    row = await store.claim(scope, "k", fp)
    assert isinstance(row, Record) and store.open(scope, "k", row.body) == b"mine"


async def test_claims_and_completions_in_one_batch_each_get_their_own_answer(
        settings, gw_pool, unique):
    store = IdempotencyStore(gw_pool, settings)
    scope, fp = f"api_key:{unique} POST /api/v2/payments/create", b"i" * 32
    finishing = await store.claim(scope, "finishing", fp)
    busy = await store.claim(scope, "busy", fp)
    taken = await store.claim(scope, "taken", fp)
    await gw_pool.execute("UPDATE idempotency_keys SET expires_at = now() "
                          "WHERE scope = $1 AND key = 'taken'", scope)  # lease ran out
    batches = []
    write_many = store._write_many

    async def counted(writes):
        batches.append(len(writes))
        return await write_many(writes)

    store._writes._run = counted
    # Submitted in one turn of the loop: one statement for all but the last.
    results = await asyncio.gather(
        store.complete(scope, "finishing", finishing, fp, 201, [["Location", "/p/1"]],
                       b"answer"),
        store.claim(scope, "new", fp),  # free: claimed
        store.claim(scope, "busy", fp),  # in progress elsewhere: the live row
        store.claim(scope, "taken", fp),  # expired: taken over
        store.complete(scope, "taken", taken, fp, 201, [], b"too late"))
    assert batches == [4, 1]
    done, new, live, took_over, late = results
    assert done is True
    assert isinstance(new, type(finishing)) and isinstance(took_over, type(finishing))
    assert took_over != taken
    assert isinstance(live, Record) and live.state == "in_progress"
    # The late completion of the key taken over waited for the next batch (one key is
    # never written twice by one statement) and found it someone else's.
    assert late is False
    rows = {r["key"]: r for r in await gw_pool.fetch(
        "SELECT key, owner, state, status FROM idempotency_keys WHERE scope = $1", scope)}
    assert (rows["finishing"]["state"], rows["finishing"]["status"]) == ("done", 201)
    assert (rows["new"]["owner"], rows["new"]["state"]) == (new, "in_progress")
    assert (rows["busy"]["owner"], rows["busy"]["state"]) == (busy, "in_progress")
    assert (rows["taken"]["owner"], rows["taken"]["state"]) == (took_over, "in_progress")
    replay = await store.claim(scope, "finishing", fp)
    assert isinstance(replay, Record) and store.open(scope, "finishing", replay.body) == \
        b"answer"
