"""Idempotency-Key at the gateway: two gateway replicas on one database, in front of
the real auth service (sign-in, sign-up) and a counting upstream standing in for
checkout."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from services.auth.app import build_spec as auth_spec
from services.gateway.app import build_spec
from services.gateway.idempotency import IDEMPOTENCY, MAX_STORED_BODY
from shared import principal
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin
from tests.support.net import free_port

CREATE = "/api/v2/payments/create"


def counting_app(calls: Counter, settings) -> web.Application:
    """Counts calls per path and answers 201 with the count, a random token (so two
    executions never answer alike) and what it received."""

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        calls[request.path] += 1
        n = calls[request.path]
        if request.path.endswith("/slow"):
            await asyncio.sleep(0.5)
        if request.path.endswith("/flaky") and n == 1:
            return web.json_response({"status": "0", "message": "Error! busy"}, status=503)
        if request.path.endswith("/busy"):
            return web.json_response({"status": "0", "message": "Error! slow down"},
                                     status=429, headers={"Retry-After": "1"})
        if request.path.endswith("/big"):
            return web.Response(body=b"x" * (MAX_STORED_BODY + 1), status=201,
                                content_type="application/octet-stream")
        if request.path.endswith("/bigstream"):  # no Content-Length: read to find out
            resp = web.StreamResponse(status=201)
            await resp.prepare(request)
            for _ in range(17):
                await resp.write(b"y" * 65536)
            await resp.write_eof()
            return resp
        if request.path.endswith("/reject"):
            return web.json_response({"status": "0", "message": f"Error! no {n}"},
                                     status=400, headers={"X-Error-Code": "validation_error"})
        who = principal.verify(request.headers[principal.HEADER], settings,
                               audience="checkout")  # signed for the upstream it reached
        return web.json_response(
            {"status": "1", "message": "OK",
             "result": {"count": n, "token": secrets.token_hex(8), "length": len(body),
                        "body": body.decode(), "query": request.query_string,
                        "caller": who.subject}},
            status=201, headers={"Location": f"/api/v2/payments/{n}", "X-Upstream": "yes"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", create)
    return app


@dataclass
class Stack:
    one: TestClient  # two gateway replicas on the same database
    two: TestClient
    calls: Counter
    alice: dict[str, str]  # Authorization headers of two signed-in ADMINs
    bob: dict[str, str]
    settings: object

    async def post(self, path: str = CREATE, *, key: str | None, who: dict[str, str] | None = None,
                   json: object = None, gateway: TestClient | None = None, method: str = "POST"):
        headers = dict(self.alice if who is None else who)
        if key is not None:
            headers["Idempotency-Key"] = key
        resp = await (gateway or self.one).request(method, path, json=json, headers=headers)
        return resp, await resp.read()


async def _sign_in(client: TestClient, email: str) -> dict[str, str]:
    resp = await client.post("/api/v1/auth/sign-in", json={"email": email, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


@pytest.fixture
async def stack(settings):
    calls: Counter = Counter()
    async with serve(counting_app(calls, settings)) as upstream, \
            serve(create_app(settings, auth_spec(settings))) as auth:
        down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        s = settings.model_copy(update={
            "checkout_url": f"http://127.0.0.1:{upstream.server.port}",
            "billing_url": down, "fees_url": down, "notifier_url": down,
            "auth_url": f"http://127.0.0.1:{auth.server.port}", "max_body_bytes": 64 * 1024})
        alice = await make_company_admin(settings)
        bob = await make_company_admin(settings)
        async with serve(create_app(s, build_spec(s))) as one, \
                serve(create_app(s, build_spec(s))) as two:
            yield Stack(one, two, calls, await _sign_in(one, alice.email),
                        await _sign_in(one, bob.email), s)


def key() -> str:
    return f"key-{secrets.token_hex(8)}"


async def _rows(settings, where: str = "true", *args) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.dsn_of("gateway"))
    try:
        return await conn.fetch(f"SELECT * FROM idempotency_keys WHERE {where}", *args)
    finally:
        await conn.close()


async def _execute(settings, sql: str, *args) -> str:
    conn = await asyncpg.connect(settings.dsn_of("gateway"))
    try:
        return await conn.execute(sql, *args)
    finally:
        await conn.close()


async def test_a_retry_replays_the_first_answer_byte_for_byte(stack):
    k = key()
    first, first_body = await stack.post(key=k, json={"amount": "975"})
    again, again_body = await stack.post(key=k, json={"amount": "975"})
    assert first.status == again.status == 201
    assert again_body == first_body
    assert stack.calls[CREATE] == 1
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.headers["Location"] == first.headers["Location"] == "/api/v2/payments/1"
    assert "X-Upstream" not in again.headers  # only the headers worth replaying
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    result = (await first.json())["result"]
    # The body read for the fingerprint still reached the service, whole.
    assert result["body"] == '{"amount": "975"}' and result["length"] == 17


async def test_the_same_key_with_another_body_or_query_is_409(stack):
    k = key()
    first, _ = await stack.post(key=k, json={"amount": "975"})
    assert first.status == 201
    for path, body in ((CREATE, {"amount": "976"}), (CREATE + "?x=1", {"amount": "975"})):
        resp, raw = await stack.post(path, key=k, json=body)
        assert resp.status == 409, raw
        assert resp.headers["X-Error-Code"] == "idempotency_key_reused"
        assert (await resp.json())["message"] == \
            "Error! Idempotency-Key was already used with a different request"
    other_query = await stack.post(CREATE + "?x=1", key=key(), json={"amount": "975"})
    assert other_query[0].status == 201
    assert stack.calls[CREATE] == 2  # only the first and the fresh key


async def test_the_same_key_on_another_route_is_another_request(stack):
    k = key()
    a, _ = await stack.post(CREATE, key=k, json={})
    b, _ = await stack.post("/api/v2/payments/other", key=k, json={})
    assert a.status == b.status == 201
    assert "Idempotent-Replayed" not in b.headers
    assert stack.calls[CREATE] == stack.calls["/api/v2/payments/other"] == 1


async def test_concurrent_duplicates_on_two_replicas_reach_the_service_once(stack):
    k, path = key(), "/api/v2/payments/slow"
    results = await asyncio.gather(*(
        stack.post(path, key=k, json={"n": 1}, gateway=stack.one if i % 2 else stack.two)
        for i in range(10)))
    assert stack.calls[path] == 1
    originals = [(r, b) for r, b in results
                 if r.status == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1
    original_body = originals[0][1]
    for resp, raw in results:
        if resp.status == 409:
            assert resp.headers["X-Error-Code"] == "idempotency_key_in_progress"
            assert resp.headers["Retry-After"] == "1"
            assert (await resp.json())["message"] == \
                "Error! A request with this Idempotency-Key is still in progress"
        else:
            assert resp.status == 201 and raw == original_body
    assert sum(r.status == 409 for r, _ in results) >= 1
    later, later_body = await stack.post(path, key=k, json={"n": 1})
    assert later.headers["Idempotent-Replayed"] == "true" and later_body == original_body
    assert stack.calls[path] == 1


async def test_a_5xx_answer_is_not_kept_so_a_retry_reaches_the_service(stack):
    k, path = key(), "/api/v2/payments/flaky"
    failed, _ = await stack.post(path, key=k, json={"a": 1})
    assert failed.status == 503
    assert await _rows(stack.settings, "key = $1", k) == []
    retried, retried_body = await stack.post(path, key=k, json={"a": 1})
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    replayed, replayed_body = await stack.post(path, key=k, json={"a": 1})
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed_body == retried_body
    assert stack.calls[path] == 2


async def test_a_service_that_is_down_frees_the_key(stack):
    k = key()
    for _ in range(2):
        resp, _ = await stack.post("/api/v2/plans/create", key=k, json={})
        assert resp.status == 502
        assert resp.headers["X-Error-Code"] == "upstream_unavailable"
    assert await _rows(stack.settings, "key = $1", k) == []


async def test_a_429_from_the_service_is_not_kept(stack):
    k, path = key(), "/api/v2/payments/busy"
    for _ in range(2):
        resp, _ = await stack.post(path, key=k, json={})
        assert resp.status == 429 and "Idempotent-Replayed" not in resp.headers
    assert stack.calls[path] == 2


async def test_a_4xx_answer_is_kept_with_its_error_code(stack):
    k, path = key(), "/api/v2/payments/reject"
    first, first_body = await stack.post(path, key=k, json={})
    again, again_body = await stack.post(path, key=k, json={})
    assert first.status == again.status == 400
    assert again_body == first_body
    assert again.headers["X-Error-Code"] == "validation_error"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stack.calls[path] == 1


async def test_an_answer_over_1_mib_is_delivered_but_not_kept(stack):
    k, path = key(), "/api/v2/payments/big"
    for _ in range(2):
        resp, raw = await stack.post(path, key=k, json={})
        assert resp.status == 201 and len(raw) == MAX_STORED_BODY + 1
        assert "Idempotent-Replayed" not in resp.headers
    assert stack.calls[path] == 2
    assert await _rows(stack.settings, "key = $1", k) == []


async def test_a_streamed_answer_over_1_mib_is_delivered_whole_but_not_kept(stack):
    k, path = key(), "/api/v2/payments/bigstream"
    for _ in range(2):
        resp, raw = await stack.post(path, key=k, json={})
        assert resp.status == 201 and raw == b"y" * (17 * 65536)
    assert stack.calls[path] == 2
    assert await _rows(stack.settings, "key = $1", k) == []


async def test_a_body_over_the_limit_is_413_and_claims_nothing(stack):
    k = key()

    async def chunks():
        for _ in range(40):
            yield b"x" * 4096  # 160 KiB, limit 64 KiB, no Content-Length

    headers = {**stack.alice, "Idempotency-Key": k}
    for data in (b"x" * (64 * 1024 + 1), chunks()):
        resp = await stack.one.post(CREATE, data=data, headers=headers)
        assert resp.status == 413 and resp.headers["X-Error-Code"] == "body_too_large"
    assert stack.calls[CREATE] == 0
    assert await _rows(stack.settings, "key = $1", k) == []


async def test_keys_are_scoped_per_caller(stack):
    k = key()
    a, a_body = await stack.post(key=k, who=stack.alice, json={"same": True})
    b, b_body = await stack.post(key=k, who=stack.bob, json={"same": True})
    assert a.status == b.status == 201
    assert "Idempotent-Replayed" not in b.headers
    assert (await a.json())["result"]["count"] == 1 and (await b.json())["result"]["count"] == 2
    a2, a2_body = await stack.post(key=k, who=stack.alice, json={"same": True})
    b2, b2_body = await stack.post(key=k, who=stack.bob, json={"same": True})
    assert (a2_body, b2_body) == (a_body, b_body)
    assert stack.calls[CREATE] == 2
    scopes = {r["scope"] for r in await _rows(stack.settings, "key = $1", k)}
    assert len(scopes) == 2 and all(s.startswith("user:") and s.endswith(f" POST {CREATE}")
                                    for s in scopes)


@pytest.mark.parametrize("bad", ["", "x" * 256, "clé-1", "tab\there"])
async def test_a_malformed_key_is_400_naming_the_header(stack, bad):
    resp, _ = await stack.post(key=bad, json={})
    assert resp.status == 400
    assert resp.headers["X-Error-Code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in (await resp.json())["message"]
    assert stack.calls[CREATE] == 0


async def test_two_key_headers_are_400_and_255_characters_are_fine(stack):
    headers = [*stack.alice.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    resp = await stack.one.post(CREATE, json={}, headers=headers)
    assert resp.status == 400 and resp.headers["X-Error-Code"] == "invalid_idempotency_key"
    longest = "~ " + "k" * 253
    ok, _ = await stack.post(key=longest, json={})
    assert ok.status == 201


async def test_get_ignores_the_header(stack):
    k, path = key(), "/api/v2/payments/p1"
    for _ in range(2):
        resp, _ = await stack.post(path, key=k, method="GET")
        assert "Idempotent-Replayed" not in resp.headers
    assert stack.calls[path] == 2
    bad, _ = await stack.post(path, key="", method="GET")  # not even validated
    assert bad.status == 201


async def test_patch_takes_part(stack):
    k, path = key(), "/api/v2/payments/p1"
    await stack.post(path, key=k, method="PATCH", json={"x": 1})
    again, _ = await stack.post(path, key=k, method="PATCH", json={"x": 1})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stack.calls[path] == 1


async def test_a_replay_is_served_by_the_other_replica(stack):
    k = key()
    first, first_body = await stack.post(key=k, json={"r": 1}, gateway=stack.one)
    again, again_body = await stack.post(key=k, json={"r": 1}, gateway=stack.two)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.status, again_body) == (first.status, first_body)
    assert stack.calls[CREATE] == 1


async def test_answers_are_sealed_at_rest(stack):
    k = key()
    _, raw = await stack.post(key=k, json={"secret": "do-not-store-me"})
    (row,) = await _rows(stack.settings, "key = $1", k)
    assert row["state"] == "done" and row["status"] == 201
    assert b"do-not-store-me" in raw and b"do-not-store-me" not in row["body"]
    assert [h[0] for h in json.loads(row["headers"])] == ["Content-Type", "Location"]
    assert b"do-not-store-me" not in bytes(row["fingerprint"])


async def test_expired_keys_count_as_absent_and_are_cleaned_up(stack):
    k = key()
    await stack.post(key=k, json={})
    await _execute(stack.settings, "UPDATE idempotency_keys SET expires_at = now() - "
                   "interval '1 second' WHERE key = $1", k)
    again, _ = await stack.post(key=k, json={})
    assert again.status == 201 and "Idempotent-Replayed" not in again.headers
    assert stack.calls[CREATE] == 2

    gone = key()
    await stack.post(key=gone, json={})
    await _execute(stack.settings, "UPDATE idempotency_keys SET expires_at = now() - "
                   "interval '1 second' WHERE key = $1", gone)
    assert await stack.one.app[IDEMPOTENCY].cleanup() >= 1
    assert await _rows(stack.settings, "key = $1", gone) == []
    assert len(await _rows(stack.settings, "key = $1", k)) == 1  # live rows stay


async def test_a_claim_left_by_a_dead_replica_blocks_only_until_its_lease_ends(stack):
    k = key()
    await stack.post(key=k, json={})
    # As if a replica died mid-request: the row stays in progress.
    await _execute(stack.settings, "UPDATE idempotency_keys SET state = 'in_progress', "
                   "status = NULL, headers = NULL, body = NULL, "
                   "expires_at = now() + interval '1 hour' WHERE key = $1", k)
    blocked, _ = await stack.post(key=k, json={})
    assert blocked.status == 409
    assert blocked.headers["X-Error-Code"] == "idempotency_key_in_progress"
    await _execute(stack.settings, "UPDATE idempotency_keys SET expires_at = now() - "
                   "interval '1 second' WHERE key = $1", k)
    freed, _ = await stack.post(key=k, json={})
    assert freed.status == 201
    assert stack.calls[CREATE] == 2


async def test_anonymous_sign_up_ignores_the_header(stack):
    """An anonymous key would be a row anyone may write (tests/integration/
    test_gateway_idempotency_anonymous.py): a retried sign-up reaches auth again."""
    tag = secrets.token_hex(4)
    body = {"firstName": "Ida", "lastName": "Empotent", "email": f"ida.{tag}@example.com",
            "password": "SecurePass123!", "companyName": f"Retry Ltd {tag}"}
    k = key()
    first, _ = await stack.post("/api/v1/auth/admin-sign-up", key=k, json=body, who={})
    again, _ = await stack.post("/api/v1/auth/admin-sign-up", key=k, json=body, who={},
                                gateway=stack.two)
    assert first.status == 201 and "Idempotent-Replayed" not in again.headers
    assert again.status == 409 and again.headers["X-Error-Code"] == "email_taken"
    assert await _rows(stack.settings, "key = $1", k) == []


async def test_sign_in_ignores_the_header(stack):
    admin = await make_company_admin(stack.settings)
    k = key()
    tokens = []
    for _ in range(2):
        resp, _ = await stack.post("/api/v1/auth/sign-in", key=k, who={},
                                   json={"email": admin.email, "password": PASSWORD})
        assert resp.status == 200 and "Idempotent-Replayed" not in resp.headers
        tokens.append((await resp.json())["refreshToken"])
    assert tokens[0] != tokens[1]
    assert await _rows(stack.settings, "key = $1", k) == []


async def test_a_refused_request_does_not_claim_the_key(stack):
    k = key()
    resp, _ = await stack.post(key=k, who={"Authorization": "Bearer nonsense"}, json={})
    assert resp.status == 401
    assert await _rows(stack.settings, "key = $1", k) == []
