"""Numbers too big to write out are refused at the edge (issue 19): jsontext's bound on
request bodies, read_json's 400 naming the field in each family's envelope, and the
models and query strings that turn client text into numbers.

`Decimal('1e999999999')` is a few bytes; written out it is a billion digits. Tests that
would allocate that much if the bound regressed run under an address-space cap, so a
regression is a MemoryError here rather than the machine running out of memory.
"""

from __future__ import annotations

import resource
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from pydantic import BaseModel, ValidationError

from services.billing import domain as billing
from services.checkout.prices_api import _number as prices_number
from services.fees import models
from services.fees.quote_api import PriceItemRequest
from shared import jsontext
from shared.http import envelopes
from shared.http.errors import ApiError
from shared.http.middleware import SERVICE_NAME, SETTINGS, context_middleware, read_json
from shared.http.pagination import page_of
from shared.settings import Settings

HUGE = ["1e999999999", "-1e999999999", "1e-999999999", "0e999999999", "0e-999999999",
        "1E+999999999", "1" + "0" * 99_999, "0." + "0" * 99_998 + "1",
        "1.5e" + "9" * 30, "-" + "9" * 79, "1e101", "1e-101", "1" + "0" * 78]
WITHIN = {  # literal -> the exact value it arrives as
    "1" + "0" * 77: 10**77,  # 78 digits
    "-" + "9" * 78: -(10**78 - 1),
    str(2**256 - 1): 2**256 - 1,  # a uint256 amount in wei
    "1e100": Decimal("1e100"), "-9.5e100": Decimal("-9.5e100"), "1e-100": Decimal("1e-100"),
    "0.000": Decimal("0.000"), "-0": 0, "1e+0000000000000000000001": Decimal("1e1"),
    "123456789012345678901234567890123456789012345678901234567890.123456789012345678":
        Decimal("123456789012345678901234567890123456789012345678901234567890"
                ".123456789012345678"),
}


@contextmanager
def capped_memory(headroom: int = 512 << 20) -> Iterator[None]:
    """This process may map at most `headroom` more bytes meanwhile."""
    size = int(next(line.split()[1] for line in
                    Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmSize:"))) * 1024
    old = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + headroom, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


# --- jsontext.loads(bounded=True) ---------------------------------------------------------


@pytest.mark.parametrize("literal", list(WITHIN), ids=lambda t: t[:24])
def test_numbers_within_the_bound_arrive_exactly(literal: str) -> None:
    got = jsontext.loads('{"v": ' + literal + ', "f": 1.5}', bounded=True)["v"]
    assert got == WITHIN[literal] and type(got) is type(WITHIN[literal])
    assert str(got) == str(WITHIN[literal])


@pytest.mark.parametrize("literal", HUGE, ids=lambda t: t[:24])
@pytest.mark.parametrize("template,loc", [
    ('{"v": %s}', ("v",)),
    ('{"a": 1.5, "items": [{"n": 1}, {"unitPrice": %s}]}', ("items", 1, "unitPrice")),
    ('{"metadata": {"x": [[0, %s]]}, "later": 1e999999999}', ("metadata", "x", 0, 1)),
    ("%s", ()),
])
def test_numbers_beyond_the_bound_are_refused_by_their_place(literal: str, template: str,
                                                             loc: tuple) -> None:
    with capped_memory(), pytest.raises(jsontext.NumberOutOfRange) as refused:
        jsontext.loads(template % literal, bounded=True)
    assert refused.value.loc == loc
    assert str(refused.value) == ("numbers may have at most 78 digits and an exponent "
                                  "from -100 to 100")


def test_a_body_full_of_huge_numbers_is_refused_cheaply() -> None:
    raw = "[" + ",".join(["1e999999999"] * 20_000 + ["1" + "0" * 40_000]) + "]"
    with capped_memory(), pytest.raises(jsontext.NumberOutOfRange) as refused:
        jsontext.loads(raw, bounded=True)
    assert refused.value.loc == (0,)


def test_stored_json_is_read_unbounded() -> None:
    """jsonb and events hold what bounded requests sent; an older row holding a longer
    number still reads (PostgreSQL bounds what jsonb stores)."""
    assert jsontext.loads('{"v": 1' + "0" * 100 + "}") == {"v": 10**100}
    assert jsontext.loads('{"v": 1e101}') == {"v": Decimal("1e101")}


def _short(value: object) -> str:
    if isinstance(value, int) and value.bit_length() > 1000:
        return f"int of {value.bit_length()} bits"  # repr() would pass the digit limit
    return repr(value)[:24]


@pytest.mark.parametrize("value,ok", [
    (10**78 - 1, True), (10**78, False), (-(10**78), False), (10**100_000, False),
    (Decimal("1e100"), True), (Decimal("1e101"), False), (Decimal("1e-100"), True),
    (Decimal("1e-101"), False), (Decimal("1e999999999"), False),
    (Decimal("0e999999999"), False), (Decimal("0.00"), True),
    (Decimal("1." + "0" * 77), True), (Decimal("1." + "0" * 78), False),
    (Decimal("NaN"), False), (Decimal("-Infinity"), False),
], ids=_short)
def test_in_range_bounds_converted_numbers_the_same_way(value, ok: bool) -> None:
    assert jsontext.in_range(value) is ok


# --- read_json: a 400 naming the field, in each family's envelope ------------------------------


class Order(BaseModel):
    amount: Decimal
    count: int = 0


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async def handler(request: web.Request) -> web.Response:
        body = await read_json(request, Order)
        return envelopes.ok(envelopes.family_of(request.path), {"amount": body.amount})

    app = web.Application(middlewares=[context_middleware], client_max_size=1 << 20)
    app[SETTINGS] = Settings(secret_key=secrets.token_hex(32))
    app[SERVICE_NAME] = "test"
    for path in ("/api/v1/order", "/api/v2/order", "/prices/order", "/internal/order"):
        app.router.add_post(path, handler)
    test_client = TestClient(TestServer(app))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()


async def _post(client: TestClient, path: str, raw: str) -> tuple[int, Any, Any]:
    response = await client.post(path, data=raw.encode(),
                                 headers={"Content-Type": "application/json"})
    return response.status, orjson.loads(await response.read()), response.headers


@pytest.mark.parametrize("literal", ["1e999999999", "-1e999999999", "1e-999999999",
                                     "1" + "0" * 99_999])
async def test_read_json_refuses_a_huge_number_naming_it_in_each_envelope(
        client: TestClient, literal: str) -> None:
    raw = '{"amount": 1.5, "count": 2, "note": {"lines": [' + literal + "]}}"
    message = ("note.lines[0]: numbers may have at most 78 digits and an exponent from "
               "-100 to 100")
    with capped_memory():
        for path in ("/api/v1/order", "/api/v2/order", "/prices/order", "/internal/order"):
            status, body, headers = await _post(client, path, raw)
            assert status == 400, body
            assert headers["X-Error-Code"] == "validation_error"
            if path.startswith("/api/v2/"):
                assert body == {"status": "0", "message": f"Error! {message}",
                                "result": None}
                continue
            error = body["error"]
            assert error["field"] == "note.lines[0]" and error["message"] == message
            assert error["details"] == [{"field": "note.lines[0]", "message":
                                         message.removeprefix("note.lines[0]: ")}]
            if path.startswith("/api/v1/"):
                assert body["statusCode"] == 400 and body["message"] == message


async def test_read_json_still_takes_the_largest_numbers_exactly(client: TestClient) -> None:
    big = "123456789012345678901234567890123456789012345678901234567890.123456789012345678"
    status, body, _ = await _post(client, "/api/v1/order", '{"amount": ' + big + "}")
    assert status == 200, body
    raw = await (await client.post("/api/v1/order", data=b'{"amount": ' + big.encode() + b"}",
                                   headers={"Content-Type": "application/json"})).read()
    assert b'"amount":' + big.encode() in raw  # digit for digit


async def test_a_top_level_huge_number_is_refused_without_a_field(client: TestClient) -> None:
    status, body, _ = await _post(client, "/api/v1/order", "1e999999999")
    assert status == 400
    assert body["error"]["field"] is None


# --- models and query strings -------------------------------------------------------------


CHARGE = {"chargeSource": "CARD", "chargeCategory": "TRANSACTION", "status": "ACTIVE",
          "currency": "USD", "merchantUserName": "shop@example.com"}


@pytest.mark.parametrize("value", [Decimal("1e999999999"), Decimal("-1e999999999"),
                                   Decimal("1e-999999999"), 10**100, 1e300], ids=_short)
@pytest.mark.parametrize("field", ["value", "maxThreshold", "minThreshold"])
@pytest.mark.parametrize("charge_type", [None, "FLAT", "PERCENTAGE"])
def test_a_charge_rule_refuses_huge_numbers_from_python_callers_too(value, field: str,
                                                                    charge_type) -> None:
    """The issue's body (no chargeType) reached plain(), which wrote 1e999999999 out."""
    body: dict[str, Any] = {**CHARGE, "value": 1, field: value}
    if charge_type:
        body["chargeType"] = charge_type
    with capped_memory(), pytest.raises(ValidationError) as refused:
        models.NewMerchantCharge.model_validate(body)
    problems = {e["loc"][0]: e["msg"] for e in refused.value.errors()}
    assert "at most 78 digits" in problems[field], problems


def test_the_app_fee_of_a_price_item_has_at_most_four_decimals() -> None:
    for bad in ("1e-999999999", Decimal("1e-999999999"), "1e999999999", "9" * 100_000):
        with capped_memory(), pytest.raises(ValidationError):
            PriceItemRequest.model_validate({"currency": "usd", "amount": 5, "app_fee": bad})
    assert PriceItemRequest.model_validate(
        {"currency": "usd", "amount": 5, "app_fee": "2.50"}).app_fee == Decimal("2.50")


@pytest.mark.parametrize("bad", ["1" * 65, "1e-999999999", "0." + "0" * 60 + "1",
                                 "15.00000000000000000000000000001"])
def test_a_tax_rate_with_absurd_digits_is_refused(bad: str) -> None:
    with capped_memory(), pytest.raises(ValueError):
        billing.percent_to_ppm(bad)
    assert billing.percent_to_ppm("15.0000") == 150_000


@pytest.mark.parametrize("query", ["page=" + "9" * 5000, "per_page=" + "9" * 5000,
                                   "page=1" + "0" * 18, "page=1e999999999"])
def test_page_numbers_of_any_length_are_a_400(query: str) -> None:
    with pytest.raises(ApiError) as refused:
        page_of(make_mocked_request("GET", "/api/v1/x?" + query))
    assert refused.value.status == 400 and refused.value.field == query.split("=")[0]


def test_prices_numbers_keep_every_digit() -> None:
    nor = Decimal("12345678901.123456789012345670")  # 29 digits: normalize() rounded it
    assert prices_number(nor) == Decimal("12345678901.12345678901234567")
    assert str(prices_number(nor)) == "12345678901.12345678901234567"
    assert prices_number(Decimal("50.00")) == 50 and isinstance(prices_number(
        Decimal("50.00")), int)
    assert str(prices_number(Decimal("51.70"))) == "51.7"
