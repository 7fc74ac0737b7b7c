"""Bad input through the gateway of a running stack: every case is a 4xx naming the
problem (or is stored exactly as sent), and nothing is half-written.

Rows are counted in the stack's own database before and after each refused request.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

pytestmark = pytest.mark.e2e

PAYMENTS = "SELECT count(*) FROM checkout.payments"
MERCHANTS = "SELECT count(*) FROM auth.merchants"
LIMIT = 1_048_576  # NORGATE_MAX_BODY_BYTES default


async def _call(tenant, method: str, path: str, *, headers: dict | None = None,
                key: bool = True, **kw) -> tuple[int, Any, Any]:
    base = tenant.key_headers if key else tenant.admin_headers
    async with aiohttp.ClientSession() as http:
        async with http.request(method, tenant.gateway + path,
                                headers={**base, **(headers or {})}, **kw) as resp:
            text = await resp.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            return resp.status, body, resp.headers


def _message(body) -> str:
    """The error's message in any family's envelope."""
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            return body["error"]["message"]
        return str(body.get("message", ""))
    return str(body)


async def _create_payment(tenant, **fields):
    return await _call(tenant, "POST", "/api/v2/payments/create",
                       json={"amount": "1050", "currency": "USD", **fields})


# --- oversized bodies, deep JSON, content types --------------------------------------------


@pytest.mark.parametrize("path,key,family", [
    ("/api/v2/payments/create", True, "norpay"),
    ("/api/v1/admin/create-merchant-account", False, "norah"),
])
async def test_an_oversized_body_is_413_and_writes_nothing(tenant, path, key, family):
    before = (await tenant.count(PAYMENTS), await tenant.count(MERCHANTS))
    big = json.dumps({"amount": "100", "currency": "USD", "merchantName": "Big",
                      "description": "x" * (LIMIT + 10)})
    status, body, headers = await _call(tenant, "POST", path, key=key,
                                        data=io.BytesIO(big.encode()),
                                        headers={"Content-Type": "application/json"})
    assert status == 413, body
    assert str(LIMIT) in _message(body)
    assert headers["X-Error-Code"] == "body_too_large"
    if family == "norpay":
        assert body["status"] == "0" and body["result"] is None
    else:
        assert body["statusCode"] == 413
    assert (await tenant.count(PAYMENTS), await tenant.count(MERCHANTS)) == before


@pytest.mark.parametrize("depth", [33, 200, 5000])
async def test_deeply_nested_json_is_400(tenant, depth):
    before = await tenant.count(PAYMENTS)
    nested = '{"a":' * depth + "1" + "}" * depth
    raw = '{"amount": "100", "currency": "USD", "metadata": ' + nested + "}"
    status, body, _ = await _call(tenant, "POST", "/api/v2/payments/create", data=raw,
                                  headers={"Content-Type": "application/json"})
    assert status == 400, body
    assert "not valid JSON" in _message(body) and ("deep" in _message(body)
                                                   or "recursion" in _message(body))
    assert await tenant.count(PAYMENTS) == before


async def test_metadata_nested_within_the_limit_is_kept(tenant):
    nested: dict = {"leaf": "ok"}
    for _ in range(29):  # body -> metadata -> 30 levels: 32 in all
        nested = {"n": nested}
    status, body, _ = await _create_payment(tenant, metadata={"n": nested})
    assert status == 201, body
    status, got, _ = await _call(tenant, "GET", f"/api/v2/payments/{body['result']['paymentId']}")
    assert got["result"]["metadata"] == {"n": nested}


@pytest.mark.parametrize("content_type,data", [
    ("text/plain", '{"amount": "100", "currency": "USD"}'),
    ("application/x-www-form-urlencoded", "amount=100&currency=USD"),
    ("application/xml", "<payment><amount>100</amount></payment>"),
    ("application/octet-stream", b'{"amount": "100", "currency": "USD"}'),
    ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; "
     'name="amount"\r\n\r\n100\r\n--x--\r\n'),
])
async def test_a_wrong_content_type_is_415(tenant, content_type, data):
    before = await tenant.count(PAYMENTS)
    status, body, headers = await _call(tenant, "POST", "/api/v2/payments/create", data=data,
                                        headers={"Content-Type": content_type})
    assert status == 415, body
    assert "application/json" in _message(body)
    assert headers["X-Error-Code"] == "unsupported_media_type"
    assert await tenant.count(PAYMENTS) == before


@pytest.mark.parametrize("raw,expected", [
    (b'{"amount": "100", "currency": "USD"', "not valid JSON"),
    (b"\xff\xfe{\x00", "not valid JSON"),
    (b'["amount", "100"]', "must be a JSON object"),
    (b'{"amount": NaN, "currency": "USD"}', "not valid JSON"),
    (b'{"amount": "100", "currency": "USD", "description": "\\ud800"}', "description"),
    (b'{"amount": "100", "currency": "US\\u0000"}', "NUL"),
])
async def test_malformed_json_is_400_naming_the_problem(tenant, raw, expected):
    before = await tenant.count(PAYMENTS)
    status, body, _ = await _call(tenant, "POST", "/api/v2/payments/create", data=raw,
                                  headers={"Content-Type": "application/json"})
    assert status == 400, body
    assert expected in _message(body)
    assert await tenant.count(PAYMENTS) == before


@pytest.mark.parametrize("path", [
    "/api/v2/payments/%00", "/api/v2/payments/x?expand=%00",
    "/api/v1/admin/merchants?search=%00", "/prices/%00", "/checkout/%00",
])
async def test_a_nul_in_the_url_is_400_not_a_database_error(tenant, path):
    status, body, _ = await _call(tenant, "GET", path, key="/api/v1/" not in path)
    assert status == 400, body
    assert "NUL" in _message(body)


# --- unicode -----------------------------------------------------------------------------

UNICODE = [
    "Zürich Straße – café",
    "東京都渋谷区 ・ 北京市",
    "مرحبا بالعالم",  # right to left
    "😀 🎉 👩🏽‍💻 🇿🇼",  # 4-byte, ZWJ sequences, flags
    "e\u0301 a\u030a",  # combining marks (not normalised)
    "\u202etxt.exe \u200b\ufeff",  # bidi override, zero-width characters
    "Ω≈ç√∫ ﷽ 𝕳𝖊𝖑𝖑𝖔",
]


@pytest.mark.parametrize("text", UNICODE)
async def test_unicode_in_payment_text_fields_round_trips_exactly(tenant, text):
    status, body, _ = await _create_payment(tenant, description=text,
                                            metadata={text: text, "k": [text]})
    assert status == 201, body
    pid = body["result"]["paymentId"]
    status, got, _ = await _call(tenant, "GET", f"/api/v2/payments/{pid}")
    assert status == 200
    assert got["result"]["description"] == text
    assert got["result"]["metadata"] == {text: text, "k": [text]}


@pytest.mark.parametrize("text", UNICODE)
async def test_unicode_in_merchant_text_fields_round_trips_exactly(tenant, text):
    tag = secrets.token_hex(3)
    fields = {"merchantName": f"{text} {tag}", "merchantAddress": text,
              "merchantCountry": text[:100], "merchantCity": text[:100]}
    status, body, _ = await _call(tenant, "POST", "/api/v1/admin/create-merchant-account",
                                  key=False, json={**fields,
                                                   "merchantEmail": f"u.{tag}@example.com"})
    assert status == 201, body
    status, got, _ = await _call(tenant, "GET",
                                 f"/api/v1/admin/merchants/{body['data']['merchantId']}",
                                 key=False)
    assert status == 200, got
    for name, value in fields.items():
        assert got["data"][name] == value, name


# --- injection strings -------------------------------------------------------------------

SQL = ["' OR '1'='1", "'; DROP TABLE payments; --", "1; SELECT pg_sleep(5)--",
       "\" OR \"\"=\"", "%", "_", "\\", "$1", "') UNION SELECT * FROM auth.users--"]
HTML = "<script>alert('x')</script><img src=x onerror=alert(1)>"


@pytest.mark.parametrize("filter_", ["search", "country", "city", "status"])
@pytest.mark.parametrize("value", SQL)
async def test_sql_in_merchant_filters_matches_literally(tenant, filter_, value):
    status, body, _ = await _call(tenant, "GET", "/api/v1/admin/merchants",
                                  params={filter_: value}, key=False)
    if filter_ == "status":  # an enumeration: anything else is refused by name
        assert status == 400 and "status" in _message(body), body
        return
    assert status == 200, body
    assert body["data"] == [] and body["pagination"]["total"] == 0


async def test_names_holding_sql_and_html_are_stored_literally_and_found_exactly(tenant):
    tag = secrets.token_hex(3)
    name = f"O'Brien{tag}'; DROP TABLE merchants;-- {HTML} 100%_"
    before = await tenant.count(MERCHANTS)
    status, body, _ = await _call(tenant, "POST", "/api/v1/admin/create-merchant-account",
                                  key=False, json={"merchantName": name,
                                                   "merchantEmail": f"ob.{tag}@example.com"})
    assert status == 201, body
    assert body["data"]["merchantName"] == name
    assert await tenant.count(MERCHANTS) == before + 1
    status, found, _ = await _call(tenant, "GET", "/api/v1/admin/merchants",
                                   params={"search": f"O'Brien{tag}'; DROP"}, key=False)
    assert status == 200, found
    assert [m["merchantName"] for m in found["data"]] == [name]
    # LIKE wildcards are literal: "100%_" matches only the name that holds them.
    status, found, _ = await _call(tenant, "GET", "/api/v1/admin/merchants",
                                   params={"search": "100%_"}, key=False)
    assert [m["merchantName"] for m in found["data"]] == [name]


async def test_html_in_a_payment_is_escaped_on_the_hosted_checkout_page(tenant):
    status, body, _ = await _create_payment(tenant, description=HTML)
    assert status == 201, body
    async with aiohttp.ClientSession() as http:
        async with http.get(body["result"]["checkoutUrl"]) as resp:
            page = await resp.text()
            assert resp.status == 200
    assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(" in page


@pytest.mark.parametrize("value", SQL)
async def test_sql_in_a_path_id_is_a_404(tenant, value):
    status, body, _ = await _call(tenant, "GET", "/api/v2/payments/"
                                  + quote(value, safe=""))
    assert status in (400, 404), body
    status, body, _ = await _call(tenant, "GET", "/api/v1/admin/merchants/"
                                  + quote(value, safe=""), key=False)
    assert status in (400, 404), body


# --- page sizes --------------------------------------------------------------------------

LISTS = [("/api/v1/admin/merchants", False), ("/api/v1/transactions/all", False),
         ("/api/v1/api-keys", False), ("/api/v1/apps", False),
         ("/api/v1/merchant/charges", False)]


@pytest.mark.parametrize("path,key", LISTS)
@pytest.mark.parametrize("query,field", [
    ({"per_page": "1000000"}, "per_page"), ({"per_page": "0"}, "per_page"),
    ({"per_page": "-5"}, "per_page"), ({"per_page": "9" * 40}, "per_page"),
    ({"per_page": "ten"}, "per_page"), ({"page": "0"}, "page"),
    ({"page": "1" + "0" * 30}, "page"), ({"page": "1.5"}, "page"),
    # Past Python's 4300-digit limit for int(): once a 500.
    ({"page": "9" * 5000}, "page"), ({"per_page": "1" * 5000}, "per_page"),
    ({"page": "1e999999999"}, "page"),
])
async def test_absurd_page_sizes_are_400_naming_the_parameter(tenant, path, key, query, field):
    status, body, _ = await _call(tenant, "GET", path, params=query, key=key)
    assert status == 400, body
    assert field in _message(body)
    assert body["error"]["field"] == field


@pytest.mark.parametrize("path,key", LISTS)
async def test_the_largest_page_is_served(tenant, path, key):
    status, body, _ = await _call(tenant, "GET", path, params={"per_page": "100"}, key=key)
    assert status == 200, body
    assert isinstance(body["data"], list) and len(body["data"]) <= 100


# --- amounts -----------------------------------------------------------------------------

BAD_AMOUNTS = ["-1", -1, "0", 0, "-0", "1.5", 1.5, "1e3", "NaN", "Infinity", " 100",
               "１００", "0x10", "", None, [], {}, "1" + "0" * 78, 10**78]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=[repr(a)[:20] for a in BAD_AMOUNTS])
async def test_negative_and_absurd_payment_amounts_are_400_naming_amount(tenant, amount):
    before = await tenant.count(PAYMENTS)
    status, body, _ = await _call(tenant, "POST", "/api/v2/payments/create",
                                  json={"amount": amount, "currency": "USD"})
    assert status == 400, body
    assert "amount" in _message(body).lower()
    assert await tenant.count(PAYMENTS) == before


@pytest.mark.parametrize("path,key", [
    ("/api/v2/payments/create", True),
    ("/api/v1/transaction/m/generate", True),
    ("/api/v1/test-charge-calculation", False),
])
async def test_a_boolean_amount_is_refused(tenant, path, key):
    """JSON `true` is not an amount (Python's bool is an int)."""
    before = await tenant.count(PAYMENTS)
    status, body, _ = await _call(tenant, "POST", path, key=key,
                                  json={"amount": True, "currency": "USD"})
    assert status == 400, body
    assert "amount" in _message(body).lower()
    assert await tenant.count(PAYMENTS) == before


@pytest.mark.parametrize("amount", ["-5", -5, "0", "abc", "1e999", "1" + "0" * 300])
async def test_negative_and_absurd_norah_amounts_are_400(tenant, amount):
    status, body, _ = await _call(tenant, "POST", "/api/v1/test-charge-calculation",
                                  json={"amount": amount, "currency": "USD"}, key=False)
    assert status == 400, body
    assert "amount" in _message(body).lower()
    status, body, _ = await _call(tenant, "POST", "/api/v1/transaction/m/generate",
                                  json={"amount": amount, "currency": "USD"})
    assert 400 <= status < 500, body


# --- idempotency under concurrency ---------------------------------------------------------


async def test_one_idempotency_key_sent_concurrently_creates_one_payment(tenant):
    key = f"fuzz-{secrets.token_hex(8)}"
    marker = f"idem {key}"
    payload = {"amount": "777", "currency": "USD", "description": marker}
    headers = {**tenant.key_headers, "Idempotency-Key": key}
    async with aiohttp.ClientSession(headers=headers) as http:
        async def one():
            async with http.post(tenant.gateway + "/api/v2/payments/create",
                                 json=payload) as resp:
                return resp.status, await resp.json()
        answers = await asyncio.gather(*(one() for _ in range(12)))
        ids = {body["result"]["paymentId"] for status, body in answers if status == 201}
        assert len(ids) == 1, answers
        assert {status for status, _ in answers} <= {201, 409}, answers
        for status, body in answers:
            if status == 409:
                assert "progress" in body["message"].lower(), body
        # A retry after the dust settles replays the same answer.
        async with http.post(tenant.gateway + "/api/v2/payments/create",
                             json=payload) as resp:
            assert resp.status == 201
            assert (await resp.json())["result"]["paymentId"] in ids
        # The same key with another body is refused and creates nothing.
        async with http.post(tenant.gateway + "/api/v2/payments/create",
                             json={**payload, "amount": "778"}) as resp:
            assert resp.status == 409, await resp.text()
    created = await tenant.count(
        "SELECT count(*) FROM checkout.payments WHERE description = $1", marker)
    assert created == 1
    stored = await tenant.count(
        "SELECT count(*) FROM gateway.idempotency_keys WHERE key = $1", key)
    assert stored == 1


async def test_concurrent_creates_without_a_key_each_create_one(tenant):
    """The control: without Idempotency-Key every request is its own payment."""
    marker = f"no-key {secrets.token_hex(6)}"
    async with aiohttp.ClientSession(headers=tenant.key_headers) as http:
        async def one():
            async with http.post(tenant.gateway + "/api/v2/payments/create",
                                 json={"amount": "5", "currency": "USD",
                                       "description": marker}) as resp:
                return resp.status
        statuses = await asyncio.gather(*(one() for _ in range(5)))
    assert statuses == [201] * 5
    assert await tenant.count(
        "SELECT count(*) FROM checkout.payments WHERE description = $1", marker) == 5
