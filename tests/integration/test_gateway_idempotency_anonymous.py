"""Anonymous callers cannot fill the gateway's idempotency table (issue 19 item 8c): a
public request's Idempotency-Key is ignored, so it stores nothing. Two gateway replicas
on the real database, in front of the real auth service and a counting upstream."""

from __future__ import annotations

import asyncio

from tests.integration.test_gateway_idempotency import _rows, key, stack  # noqa: F401

VERIFY = "/api/v1/transaction/verify"  # public, proxied to checkout (the counting app)


async def test_a_thousand_anonymous_keys_leave_no_rows(stack):  # noqa: F811
    keys = [f"anon-{i}-{key()}" for i in range(1000)]
    for start in range(0, len(keys), 50):
        answers = await asyncio.gather(*(
            stack.post(VERIFY, key=k, who={}, json={"n": i},
                       gateway=stack.one if i % 2 else stack.two)
            for i, k in enumerate(keys[start:start + 50], start)))
        for resp, raw in answers:
            assert resp.status < 500, raw
            assert "Idempotent-Replayed" not in resp.headers
    assert stack.calls[VERIFY] == 1000  # each one reached the service
    assert await _rows(stack.settings, "key = ANY($1)", keys) == []
    assert await _rows(stack.settings, "scope LIKE 'anonymous%'") == []


async def test_an_anonymous_retry_runs_again(stack):  # noqa: F811
    k = key()
    for _ in range(2):
        resp, _ = await stack.post(VERIFY, key=k, who={}, json={"token": "x"})
        assert resp.status == 201 and "Idempotent-Replayed" not in resp.headers
    assert stack.calls[VERIFY] == 2
    # A malformed key is not refused either: anonymous requests take no part at all.
    resp, _ = await stack.post(VERIFY, key="k" * 300, who={}, json={})
    assert resp.status == 201
    # A signed-in caller's key on the same route is kept as before.
    first, body = await stack.post(VERIFY, key=k, json={"token": "x"})
    again, again_body = await stack.post(VERIFY, key=k, json={"token": "x"})
    assert again.headers["Idempotent-Replayed"] == "true" and again_body == body
    assert len(await _rows(stack.settings, "key = $1", k)) == 1
