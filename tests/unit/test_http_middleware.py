"""shared.http.middleware over an in-process aiohttp server (no database, no broker)."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY
from pydantic import BaseModel

from shared import principal as principal_mod
from shared.http import envelopes
from shared.http.middleware import (
    CORRELATION_ID,
    REQUEST_ID,
    SERVICE_NAME,
    SETTINGS,
    context_middleware,
    principal_middleware,
    principal_of,
    read_json,
)
from shared.principal import Principal, sign
from shared.settings import Settings

BODY_LIMIT = 2048
LEAKY_TEXT = "password=hunter2 at db.internal"


class Line(BaseModel):
    amount: int
    note: str = ""


class EchoRequest(BaseModel):
    reference: str
    items: list[Line]


class AmountRequest(BaseModel):
    amount: Decimal


def make_settings(secret_key: str | None = None) -> Settings:
    return Settings(secret_key=secret_key or secrets.token_hex(32), max_body_bytes=BODY_LIMIT)


def build_app(settings: Settings) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await read_json(request, EchoRequest)
        return envelopes.ok(envelopes.family_of(request.path), body.model_dump())

    async def echo_raw(request: web.Request) -> web.Response:
        return envelopes.ok(envelopes.Family.NORPAY, await read_json(request))

    async def amount(request: web.Request) -> web.Response:
        body = await read_json(request, AmountRequest)
        return envelopes.ok(envelopes.Family.NORAH, {"amount": str(body.amount)})

    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError(LEAKY_TEXT)

    async def database_gone(request: web.Request) -> web.Response:
        # What asyncpg raises while PostgreSQL restarts.
        if request.query.get("kind") == "closed":
            raise asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed")
        if request.query.get("kind") == "cut":  # seen in make chaos: a connection cut mid-op
            raise asyncpg.InternalClientError(
                "cannot switch to state 12; another operation (2) is in progress")
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of "
                                                  "operation")

    async def price(_request: web.Request) -> web.Response:
        return envelopes.ok(envelopes.Family.PRICES, {"usd": Decimal("50.00")})

    async def whoami(request: web.Request) -> web.Response:
        return envelopes.ok(envelopes.family_of(request.path),
                            principal_of(request).model_dump())

    app = web.Application(middlewares=[context_middleware, principal_middleware],
                          client_max_size=BODY_LIMIT)
    app[SETTINGS] = settings
    app[SERVICE_NAME] = "test"
    app.router.add_post("/api/v2/echo", echo)
    app.router.add_post("/api/v1/echo", echo)
    app.router.add_post("/api/v2/raw", echo_raw)
    app.router.add_post("/api/v1/amount", amount)
    app.router.add_get("/api/v1/boom", boom)
    app.router.add_get("/api/v2/boom", boom)
    app.router.add_get("/prices/x", price)
    app.router.add_get("/api/v2/database-gone", database_gone)
    app.router.add_get("/api/v1/whoami", whoami)
    app.router.add_get("/api/v2/whoami", whoami)
    return app


@pytest.fixture
def settings() -> Settings:  # shadows the session fixture that provisions a database
    return make_settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    test_client = TestClient(TestServer(build_app(settings)))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()


async def json_of(response) -> dict:
    return orjson.loads(await response.read())


VALID_ORDER = {"reference": "o-1", "items": [{"amount": 5, "note": "a"}]}


# --- normal requests ----------------------------------------------------------------


async def test_valid_body_reaches_the_handler_in_the_norpay_envelope(client: TestClient) -> None:
    response = await client.post("/api/v2/echo", json=VALID_ORDER)
    assert response.status == 200
    assert await json_of(response) == {"status": "1", "message": "OK", "result": VALID_ORDER}


async def test_prices_route_answers_its_own_envelope_with_exact_amounts(
    client: TestClient,
) -> None:
    response = await client.get("/prices/x")
    assert response.status == 200
    assert await response.read() == b'{"data":{"usd":50.00}}'


async def test_empty_body_reads_as_an_empty_object(client: TestClient) -> None:
    response = await client.post("/api/v2/raw")
    assert response.status == 200
    assert (await json_of(response))["result"] == {}


async def test_first_request_in_a_process_is_served_normally(
    client: TestClient, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aiohttp >= 3.14 warns once per process for each str key put in request storage; under
    # this project's warnings-as-errors that turned the first requests into 500s.
    monkeypatch.setattr(web.BaseRequest, "_seen_str_keys", set())  # as in a fresh process
    with warnings.catch_warnings():
        warnings.simplefilter("error", web.NotAppKeyWarning)  # pyproject: warnings are errors
        response = await client.get("/prices/x")
    assert response.status == 200


# --- routing errors -----------------------------------------------------------------


async def test_unknown_norah_route_is_404_in_the_norah_envelope(client: TestClient) -> None:
    response = await client.get("/api/v1/nope")
    body = await json_of(response)
    assert response.status == 404
    assert response.headers["X-Error-Code"] == "route_not_found"
    assert body["statusCode"] == 404
    assert body["status"] == "NOT_FOUND"
    assert body["data"] is None
    assert body["error"]["code"] == "route_not_found"
    assert body["message"] == "No route for GET /api/v1/nope"


async def test_unknown_norpay_route_is_404_in_the_norpay_envelope(client: TestClient) -> None:
    response = await client.get("/api/v2/nope")
    assert response.status == 404
    assert await json_of(response) == {
        "status": "0", "message": "Error! No route for GET /api/v2/nope", "result": None}


async def test_wrong_method_on_norpay_route_is_405_with_allow(client: TestClient) -> None:
    response = await client.get("/api/v2/echo")
    body = await json_of(response)
    assert response.status == 405
    assert body["status"] == "0"
    assert body["result"] is None
    assert body["message"] == "Error! Method GET is not allowed on /api/v2/echo"
    assert response.headers["X-Error-Code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"


# --- body problems ------------------------------------------------------------------


async def test_malformed_json_is_400_naming_the_problem(client: TestClient) -> None:
    response = await client.post("/api/v2/echo", data=b'{"reference": "o-1",',
                                 headers={"Content-Type": "application/json"})
    body = await json_of(response)
    assert response.status == 400
    assert response.headers["X-Error-Code"] == "malformed_json"
    assert body["status"] == "0"
    assert body["message"].startswith("Error! Request body is not valid JSON: ")
    assert len(body["message"]) > len("Error! Request body is not valid JSON: ")


async def test_invalid_utf8_body_is_400_not_500(client: TestClient) -> None:
    response = await client.post("/api/v1/echo", data=b'{"reference": "\xff\xfe"}',
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await json_of(response))["error"]["code"] == "malformed_json"


async def test_json_array_body_is_400_body_not_object(client: TestClient) -> None:
    response = await client.post("/api/v1/echo", json=[VALID_ORDER])
    body = await json_of(response)
    assert response.status == 400
    assert body["error"]["code"] == "body_not_object"
    assert body["message"] == "Request body must be a JSON object"


async def test_json_scalar_body_is_400_body_not_object(client: TestClient) -> None:
    response = await client.post("/api/v2/echo", data=b'"text"',
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert response.headers["X-Error-Code"] == "body_not_object"


async def test_body_over_the_limit_is_413(client: TestClient) -> None:
    big = {"reference": "x" * (BODY_LIMIT * 2), "items": []}
    response = await client.post("/api/v1/echo", json=big)
    body = await json_of(response)
    assert response.status == 413
    assert body["error"]["code"] == "body_too_large"
    assert str(BODY_LIMIT) in body["message"]


async def test_non_json_content_type_is_415(client: TestClient) -> None:
    response = await client.post("/api/v2/echo", data=b"reference=o-1",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415
    assert response.headers["X-Error-Code"] == "unsupported_media_type"


async def test_validation_failure_is_400_naming_the_nested_field(client: TestClient) -> None:
    response = await client.post("/api/v1/echo",
                                 json={"reference": "o-1", "items": [{"amount": "lots"}]})
    body = await json_of(response)
    assert response.status == 400
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["field"] == "items[0].amount"
    assert "items[0].amount" in body["message"]


async def test_validation_failure_in_norpay_names_the_missing_field(client: TestClient) -> None:
    response = await client.post("/api/v2/echo", json={"items": []})
    body = await json_of(response)
    assert response.status == 400
    assert body["status"] == "0"
    assert body["message"].startswith("Error! reference: ")


async def test_json_amount_keeps_every_digit(client: TestClient) -> None:
    response = await client.post("/api/v1/amount",
                                 data=b'{"amount": 1.123456789012345678}',
                                 headers={"Content-Type": "application/json"})
    assert (await json_of(response))["data"] == {"amount": "1.123456789012345678"}


# --- unexpected errors --------------------------------------------------------------


async def test_unexpected_exception_is_a_generic_500(client: TestClient) -> None:
    response = await client.get("/api/v1/boom")
    raw = await response.read()
    body = orjson.loads(raw)
    assert response.status == 500
    assert response.headers["X-Error-Code"] == "internal_error"
    assert body["statusCode"] == 500
    assert body["message"] == "Internal server error"
    assert b"hunter2" not in raw
    assert b"RuntimeError" not in raw
    request_id = response.headers[REQUEST_ID]
    assert request_id
    assert body["error"]["request_id"] == request_id


async def test_unexpected_exception_in_norpay_is_a_generic_500(client: TestClient) -> None:
    response = await client.get("/api/v2/boom")
    raw = await response.read()
    assert response.status == 500
    assert orjson.loads(raw) == {"status": "0", "message": "Error! Internal server error",
                                 "result": None}
    assert b"hunter2" not in raw
    assert response.headers[REQUEST_ID]


async def test_requests_are_counted_by_service_route_and_status(client: TestClient) -> None:
    labels = {"service": "test", "method": "GET", "route": "/api/v1/boom", "status": "500"}
    before = REGISTRY.get_sample_value("norgate_http_requests_total", labels) or 0
    await (await client.get("/api/v1/boom")).read()
    assert REGISTRY.get_sample_value("norgate_http_requests_total", labels) == before + 1


# --- request and correlation ids ----------------------------------------------------


async def test_safe_request_and_correlation_ids_are_echoed(client: TestClient) -> None:
    response = await client.get("/prices/x", headers={REQUEST_ID: "req-12345678",
                                                      CORRELATION_ID: "corr:abc.DEF_9"})
    assert response.headers[REQUEST_ID] == "req-12345678"
    assert response.headers[CORRELATION_ID] == "corr:abc.DEF_9"


async def test_ids_are_generated_when_missing(client: TestClient) -> None:
    first = await client.get("/prices/x")
    second = await client.get("/prices/x")
    rid = first.headers[REQUEST_ID]
    assert len(rid) >= 8
    assert first.headers[CORRELATION_ID] == rid
    assert second.headers[REQUEST_ID] != rid


async def test_correlation_id_is_kept_when_only_it_is_sent(client: TestClient) -> None:
    response = await client.get("/prices/x", headers={CORRELATION_ID: "flow-0001"})
    assert response.headers[CORRELATION_ID] == "flow-0001"
    assert response.headers[REQUEST_ID] != "flow-0001"


@pytest.mark.parametrize("unsafe", ["a b<script>", "short", "x" * 129, "id;rm -rf /"])
async def test_unsafe_ids_are_replaced(client: TestClient, unsafe: str) -> None:
    response = await client.get("/prices/x", headers={REQUEST_ID: unsafe,
                                                      CORRELATION_ID: unsafe})
    assert response.status == 200
    rid = response.headers[REQUEST_ID]
    assert rid and rid != unsafe
    assert response.headers[CORRELATION_ID] == rid


async def test_error_responses_carry_the_clients_ids(client: TestClient) -> None:
    response = await client.get("/api/v1/nope", headers={REQUEST_ID: "req-abcdefgh"})
    assert response.headers[REQUEST_ID] == "req-abcdefgh"
    assert (await json_of(response))["error"]["request_id"] == "req-abcdefgh"


# --- signed principal ---------------------------------------------------------------


async def test_no_principal_header_is_anonymous(client: TestClient) -> None:
    response = await client.get("/api/v1/whoami")
    assert response.status == 200
    data = (await json_of(response))["data"]
    assert data["kind"] == "anonymous"
    assert data["subject"] is None


async def test_valid_principal_reaches_the_handler(client: TestClient,
                                                   settings: Settings) -> None:
    token = sign(Principal(kind="user", subject="u1", role="ADMIN"), settings)
    response = await client.get("/api/v1/whoami", headers={principal_mod.HEADER: token})
    assert response.status == 200
    data = (await json_of(response))["data"]
    assert (data["kind"], data["subject"], data["role"]) == ("user", "u1", "ADMIN")


@pytest.mark.parametrize("token", ["not-a-jwt", "", "a.b.c"])
async def test_garbage_principal_is_401(client: TestClient, token: str) -> None:
    response = await client.get("/api/v1/whoami", headers={principal_mod.HEADER: token})
    body = await json_of(response)
    assert response.status == 401
    assert response.headers["X-Error-Code"] == "invalid_principal"
    assert body["error"]["code"] == "invalid_principal"
    assert body["data"] is None


async def test_expired_principal_is_401(client: TestClient, settings: Settings) -> None:
    token = sign(Principal(kind="user", subject="u1", role="ADMIN"), settings, ttl=-1)
    response = await client.get("/api/v2/whoami", headers={principal_mod.HEADER: token})
    assert response.status == 401
    assert response.headers["X-Error-Code"] == "invalid_principal"
    assert (await json_of(response))["status"] == "0"


async def test_principal_signed_with_another_key_is_401(client: TestClient) -> None:
    forged = sign(Principal(kind="user", subject="u1", role="SUPER"), make_settings())
    response = await client.get("/api/v1/whoami", headers={principal_mod.HEADER: forged})
    assert response.status == 401
    assert (await json_of(response))["error"]["code"] == "invalid_principal"



async def test_signed_principal_with_an_unknown_role_is_401(client: TestClient,
                                                             settings: Settings) -> None:
    odd = Principal.model_construct(kind="user", subject="u1", role="OWNER")
    response = await client.get("/api/v1/whoami",
                                headers={principal_mod.HEADER: sign(odd, settings)})
    assert response.status == 401
    assert response.headers["X-Error-Code"] == "invalid_principal"


async def test_a_database_outage_is_a_503_to_retry_not_a_500(client: TestClient) -> None:
    for query in ("", "?kind=closed", "?kind=cut"):
        response = await client.get("/api/v2/database-gone" + query)
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert response.headers["X-Error-Code"] == "database_unavailable"
        assert (await json_of(response))["message"] == \
            "Error! The database is unavailable; retry shortly"
