"""Idempotency-Key with a merchant API key, where the rate limit and the key's claim
both apply: two gateway replicas on one database, the real auth service, and a
counting upstream standing in for checkout."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient

from services.auth.app import build_spec as auth_spec
from services.gateway.app import build_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.integration.test_gateway_idempotency import (
    CREATE,
    _execute,
    _rows,
    counting_app,
    key,
)
from tests.support.auth import make_company_admin, make_merchant
from tests.support.net import free_port
from tests.support.poll import poll_until


@dataclass
class Stack:
    one: TestClient
    two: TestClient
    calls: Counter
    api_key: str
    merchant_id: str
    settings: object

    async def post(self, path: str = CREATE, *, key: str | None, json: object = None,
                   gateway: TestClient | None = None, data: bytes | None = None):
        headers = {"X-API-Key": self.api_key}
        if key is not None:
            headers["Idempotency-Key"] = key
        resp = await (gateway or self.one).post(path, json=json, data=data, headers=headers)
        return resp, await resp.read()

    async def spend_minute(self, count: int) -> None:
        """Sets this minute's counter, as if `count` requests had been made."""
        await _execute(self.settings, """
            INSERT INTO rate_limit_counters (merchant_id, window_kind, window_start, count)
            VALUES ($1, 'minute', date_trunc('minute', now()), $2)
            ON CONFLICT (merchant_id, window_kind, window_start) DO UPDATE SET count = $2""",
                       str(self.merchant_id), count)


@pytest.fixture
async def stack(settings):
    calls: Counter = Counter()
    async with serve(counting_app(calls, settings)) as upstream, \
            serve(create_app(settings, auth_spec(settings))) as auth:
        admin = await make_company_admin(settings)
        shop = await make_merchant(settings, admin, status="ACTIVE")
        created = await auth.post("/api/v1/api-keys", json={"merchantId": shop.merchant_id},
                                  headers=admin.headers(settings))
        api_key = (await created.json())["data"]["key"]
        down = f"http://127.0.0.1:{free_port()}"
        s = settings.model_copy(update={
            "checkout_url": f"http://127.0.0.1:{upstream.server.port}",
            "billing_url": down, "fees_url": down, "notifier_url": down,
            "auth_url": f"http://127.0.0.1:{auth.server.port}", "max_body_bytes": 64 * 1024})
        async with serve(create_app(s, build_spec(s))) as one, \
                serve(create_app(s, build_spec(s))) as two:
            # Fixed minute windows: start well inside one, so a test's requests all
            # count against the same minute.
            await poll_until(lambda: datetime.now(UTC).second < 45, timeout=20,
                             interval=0.2, what="the start of a minute window")
            yield Stack(one, two, calls, api_key, shop.merchant_id, s)


async def test_a_retry_is_replayed_and_every_attempt_counts_once(stack):
    k = key()
    first, first_body = await stack.post(key=k, json={"amount": "975"})
    again, again_body = await stack.post(key=k, json={"amount": "975"}, gateway=stack.two)
    assert first.status == again.status == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true" and again_body == first_body
    assert (first.headers["X-RateLimit-Remaining"], again.headers["X-RateLimit-Remaining"]) \
        == ("99", "98")
    assert first.headers["X-RateLimit-Limit"] == again.headers["X-RateLimit-Limit"] == "100"
    assert stack.calls[CREATE] == 1
    (row,) = await _rows(stack.settings, "key = $1", k)
    assert row["state"] == "done" and row["scope"].startswith("api_key:")

    other, _ = await stack.post(key=k, json={"amount": "976"})
    assert other.status == 409 and other.headers["X-Error-Code"] == "idempotency_key_reused"
    assert other.headers.get("X-RateLimit-Remaining") is None  # an error: no rate headers
    assert stack.calls[CREATE] == 1


async def test_concurrent_duplicates_on_two_replicas_reach_the_service_once(stack):
    k, path = key(), "/api/v2/payments/slow"
    results = await asyncio.gather(*(
        stack.post(path, key=k, json={"n": 1}, gateway=stack.one if i % 2 else stack.two)
        for i in range(10)))
    assert stack.calls[path] == 1
    statuses = Counter(r.status for r, _ in results)
    assert statuses[201] >= 1 and statuses[201] + statuses[409] == 10
    assert all(r.headers["X-Error-Code"] == "idempotency_key_in_progress"
               for r, _ in results if r.status == 409)
    later, _ = await stack.post(path, key=k, json={"n": 1})
    assert later.headers["Idempotent-Replayed"] == "true"
    assert later.headers["X-RateLimit-Remaining"] == "89"  # 11 requests, each counted
    assert stack.calls[path] == 1


async def test_a_refused_429_claims_nothing_and_the_key_works_once_allowed(stack):
    k = key()
    await stack.spend_minute(100)
    refused, _ = await stack.post(key=k, json={"n": 1})
    assert refused.status == 429 and refused.headers["X-Error-Code"] == "rate_limited"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert await _rows(stack.settings, "key = $1", k) == []
    assert stack.calls[CREATE] == 0

    await stack.spend_minute(0)
    allowed, _ = await stack.post(key=k, json={"n": 1})
    assert allowed.status == 201 and "Idempotent-Replayed" not in allowed.headers
    assert allowed.headers["X-RateLimit-Remaining"] == "99"
    assert stack.calls[CREATE] == 1


async def test_a_done_key_is_not_replayed_to_a_limited_client(stack):
    k = key()
    first, _ = await stack.post(key=k, json={"n": 1})
    assert first.status == 201
    await stack.spend_minute(100)
    refused, _ = await stack.post(key=k, json={"n": 1})
    assert refused.status == 429 and "Idempotent-Replayed" not in refused.headers
    (row,) = await _rows(stack.settings, "key = $1", k)
    assert row["state"] == "done"


async def test_a_malformed_key_or_body_is_counted_and_refused_after_the_limit(stack):
    oversized = b"x" * (64 * 1024 + 1)
    bad, _ = await stack.post(key="clé", json={})
    assert bad.status == 400 and bad.headers["X-Error-Code"] == "invalid_idempotency_key"
    big, _ = await stack.post(key=key(), data=oversized)
    assert big.status == 413 and big.headers["X-Error-Code"] == "body_too_large"
    after, _ = await stack.post(key=key(), json={})
    assert after.headers["X-RateLimit-Remaining"] == "97"  # both refusals counted

    await stack.spend_minute(100)
    for resp, _ in (await stack.post(key="clé", json={}),
                    await stack.post(key=key(), data=oversized)):
        assert resp.status == 429 and resp.headers["X-Error-Code"] == "rate_limited"
    assert stack.calls[CREATE] == 1


async def test_an_expired_key_is_taken_over_with_the_hit(stack):
    k = key()
    await stack.post(key=k, json={})
    await _execute(stack.settings, "UPDATE idempotency_keys SET expires_at = now() - "
                   "interval '1 second' WHERE key = $1", k)
    again, _ = await stack.post(key=k, json={})
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers
    assert stack.calls[CREATE] == 2
    (row,) = await _rows(stack.settings, "key = $1", k)
    assert row["state"] == "done"
