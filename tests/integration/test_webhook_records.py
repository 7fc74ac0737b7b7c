"""Successful webhook sends finishing together are recorded by one statement; one row
the database refuses (found by review: a NUL in a receiver's answer) must not leave the
others unrecorded, to be sent again."""
import asyncio
import uuid

import asyncpg

from services.notifier.webhooks.dispatch import Dispatcher
from shared.crypto import SecretBox


async def test_one_refused_row_does_not_keep_the_batchs_other_successes_unrecorded(
        settings, notifier_pool):
    pool = notifier_pool
    seqs = []
    for i in range(3):
        ep = f"ep_test_{uuid.uuid4().hex[:8]}"
        ev = uuid.uuid4()
        await pool.execute(
            """INSERT INTO webhook_endpoints (endpoint_id, company_id, merchant_id, url,
                   event_types, secret) VALUES ($1, 1, $2, 'https://x', '{*}', 's')""",
            ep, 1000 + i)
        await pool.execute("""INSERT INTO webhook_events (event_id, event_type, merchant_id,
                               occurred_at, body) VALUES ($1, 't', 1, now(), '\\x00')""", ev)
        seqs.append((await pool.fetchval(
            """INSERT INTO webhook_deliveries (delivery_id, endpoint_id, event_id, occurred_at,
                   livemode, event_type, attempts)
               VALUES ($1, $2, $3, now(), false, 't', 1) RETURNING seq""",
            f"dlv_{uuid.uuid4().hex}", ep, ev), ep))
    # Three sends finishing together; the second's answer holds a NUL (a text column
    # refuses it; the dispatcher now replaces it before, this is the last line).
    d = Dispatcher(pool, settings, SecretBox(settings, "webhook-secrets"), client=None)
    bodies = ["ok", "bad\x00body", "ok"]
    results = await asyncio.gather(*(
        d.record_success((seq, 1, 200, 5, body, ep))
        for (seq, ep), body in zip(seqs, bodies, strict=True)),
        return_exceptions=True)
    statuses = await pool.fetch("SELECT seq, status FROM webhook_deliveries WHERE seq = ANY($1)",
                                [s for s, _ in seqs])
    by_seq = {r["seq"]: r["status"] for r in statuses}
    assert [by_seq[seq] for seq, _ in seqs] == ["succeeded", "pending", "succeeded"]
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], asyncpg.CharacterNotInRepertoireError)
