"""Publishable keys and the checkout widget's routes, through the real gateway in front
of the real auth, fees and checkout services."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager

import pytest
from yarl import URL

from services.auth.app import build_spec as auth_spec
from services.checkout.pages import csrf_token
from services.checkout.widget import STATIC, VERSION
from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from shared.http.middleware import SETTINGS
from tests.conftest import serve
from tests.integration.test_payments import services
from tests.support.auth import make_company_admin, make_merchant, service_headers

SHOP = "https://shop.example.com"
ONE_NOR = "1000000000000000000"
FUTURE = {"exp_month": "12", "exp_year": "2099", "cvc": "123"}


@asynccontextmanager
async def stack(settings):
    """auth, fees and checkout with the gateway in front; yields (gateway, auth), where
    auth is a second auth replica (same database) for the test's own signed calls."""
    async with services(settings) as checkout:
        s = checkout.app[SETTINGS].model_copy(update={
            "checkout_url": f"http://127.0.0.1:{checkout.server.port}"})
        async with serve(create_app(s, gateway_spec(s))) as gateway, \
                serve(create_app(s, auth_spec(s))) as auth:
            yield gateway, auth


@pytest.fixture(scope="module")
async def env(settings):
    async with stack(settings) as (gateway, auth):
        yield gateway, auth


@pytest.fixture
async def shop(settings, env):
    """A merchant with a publishable key for SHOP and a secret key."""
    gateway, auth = env
    merchant = await make_merchant(settings, await make_company_admin(settings),
                                   status="ACTIVE")
    pub = await _create_key(settings, auth, merchant, type="publishable",
                            allowedOrigins=[SHOP + "/"], name="web shop")
    secret = await _create_key(settings, auth, merchant)
    return gateway, auth, merchant, pub, secret


async def _create_key(settings, auth, who, **body) -> dict:
    resp = await auth.post("/api/v1/api-keys", json=body, headers=who.headers(settings))
    assert resp.status == 201, await resp.text()
    return (await resp.json())["data"]


async def _widget_create(gateway, key, origin=SHOP, **body):
    return await gateway.post(
        "/v1/widget/payments", params={"key": key}, headers={"Origin": origin},
        json={"amount": ONE_NOR, "currency": "NOR", "description": "Product purchase",
              **body})


# Keys -------------------------------------------------------------------------

async def test_a_publishable_key_is_listed_in_full_with_its_normalised_origins(settings, shop):
    _, auth, merchant, pub, secret = shop
    assert re.fullmatch(r"nk_pub_[A-Za-z0-9]{40}", pub["key"])
    assert pub["type"] == "publishable" and pub["allowedOrigins"] == [SHOP]
    assert pub["mode"] == "test" and pub["prefix"] == pub["key"][:15]
    listed = await auth.get("/api/v1/api-keys", headers=merchant.headers(settings))
    items = {k["keyId"]: k for k in (await listed.json())["data"]}
    assert items[pub["keyId"]]["key"] == pub["key"]
    assert items[pub["keyId"]]["allowedOrigins"] == [SHOP]
    # A secret key is still shown once only, and never gets origins.
    assert "key" not in items[secret["keyId"]] and "type" not in items[secret["keyId"]]
    assert re.fullmatch(r"nk_test_[A-Za-z0-9]{40}", secret["key"])
    assert items[pub["keyId"]]["mode"] == items[secret["keyId"]]["mode"] == "test"


async def test_a_live_publishable_key_keeps_the_widget_format_its_record_has_the_mode(
        settings, shop):
    _, auth, merchant, _, _ = shop
    live = await _create_key(settings, auth, merchant, type="publishable", mode="live",
                             allowedOrigins=[SHOP])
    # checkout.js checks /^nk_pub_[A-Za-z0-9]{20,100}$/: the string never says the mode.
    assert re.fullmatch(r"nk_pub_[A-Za-z0-9]{40}", live["key"]) and live["mode"] == "live"
    found = await auth.post("/internal/api-keys/verify", json={"key": live["key"]},
                            headers=service_headers(settings))
    assert found.status == 200, await found.text()
    assert (await found.json())["mode"] == "live"
    listed = await auth.get("/api/v1/api-keys", headers=merchant.headers(settings))
    assert {k["keyId"]: k["mode"] for k in (await listed.json())["data"]}[live["keyId"]] == \
        "live"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"type": "publishable"}, "allowedOrigins", "needs at least one origin"),
    ({"type": "publishable", "allowedOrigins": []}, "allowedOrigins", "at least one origin"),
    ({"type": "publishable", "allowedOrigins": ["https://shop.example.com/pay"]},
     "allowedOrigins", "no path"),
    ({"type": "publishable", "allowedOrigins": ["*"]}, "allowedOrigins", "not an origin"),
    ({"allowedOrigins": [SHOP]}, "allowedOrigins", "must never reach a browser"),
    ({"type": "public"}, "type", "secret"),
])
async def test_bad_key_requests_are_400_naming_the_field(settings, env, body, field, words):
    _, auth = env
    merchant = await make_merchant(settings, await make_company_admin(settings))
    resp = await auth.post("/api/v1/api-keys", json=body, headers=merchant.headers(settings))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["field"] in (field, None) and words in error["message"]
    if error["field"] is None:  # a rule across fields names it in the message
        assert field in error["message"]


async def test_allowed_origins_can_be_changed_on_a_publishable_key_only(settings, shop):
    gateway, auth, merchant, pub, secret = shop
    other = "http://localhost:3000"
    resp = await auth.patch(f"/api/v1/api-keys/{pub['keyId']}",
                            json={"allowedOrigins": [other]}, headers=merchant.headers(settings))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"]["allowedOrigins"] == [other]
    refused = await auth.patch(f"/api/v1/api-keys/{secret['keyId']}",
                               json={"allowedOrigins": [other]},
                               headers=merchant.headers(settings))
    assert refused.status == 400 and "only publishable keys" in await refused.text()


# The gateway ------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/v2/payments/create"), ("GET", "/api/v1/api-keys"),
    ("GET", "/api/v2/payments/pay_xxxxxxxxxxxxxxxxxxxxxxxx")])
async def test_a_publishable_key_is_refused_outside_the_widget_routes(shop, method, path):
    gateway, _, _, pub, _ = shop
    resp = await gateway.request(method, path, headers={"X-API-Key": pub["key"]},
                                 json={"amount": ONE_NOR, "currency": "NOR"})
    assert resp.status == 403, await resp.text()
    assert resp.headers["X-Error-Code"] == "publishable_key_not_allowed"
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert "works only with the checkout widget" in await resp.text()


async def test_widget_creates_a_payment_from_an_allowed_origin_with_cors(shop):
    gateway, _, merchant, pub, secret = shop
    resp = await _widget_create(gateway, pub["key"], metadata={"orderId": "o-1"})
    assert resp.status == 201, await resp.text()
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in resp.headers.getall("Vary")
    payment = await resp.json()
    assert payment["status"] == "pending" and payment["amount"] == ONE_NOR
    assert payment["embedPath"].startswith(f"/checkout/{payment['paymentId']}?embed=1&")
    # The merchant's server sees where it came from, with its secret key.
    full = await gateway.get(f"/api/v2/payments/{payment['paymentId']}",
                             headers={"X-API-Key": secret["key"]})
    metadata = (await full.json())["result"]["metadata"]
    assert metadata == {"orderId": "o-1", "widget": {"origin": SHOP, "keyId": pub["keyId"]}}
    status = await gateway.get(f"/v1/widget/payments/{payment['paymentId']}",
                               params={"key": pub["key"]}, headers={"Origin": SHOP})
    assert status.status == 200 and (await status.json())["status"] == "pending"
    assert status.headers["Access-Control-Allow-Origin"] == SHOP


async def test_another_origin_is_refused_by_name_without_cors_headers(shop):
    gateway, _, _, pub, _ = shop
    resp = await _widget_create(gateway, pub["key"], origin="https://evil.example")
    assert resp.status == 403
    assert resp.headers["X-Error-Code"] == "origin_not_allowed"
    assert "Origin https://evil.example is not allowed" in await resp.text()
    assert "Access-Control-Allow-Origin" not in resp.headers
    no_origin = await gateway.post("/v1/widget/payments", params={"key": pub["key"]},
                                   json={"amount": ONE_NOR, "currency": "NOR"})
    assert no_origin.status == 403 and "(none sent)" in await no_origin.text()


async def test_preflight_is_answered_only_for_an_allowed_origin(shop):
    gateway, _, _, pub, _ = shop
    ask = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    ok = await gateway.options("/v1/widget/payments", params={"key": pub["key"]},
                               headers={"Origin": SHOP, **ask})
    assert ok.status == 204, await ok.text()
    assert ok.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in ok.headers["Access-Control-Allow-Headers"]
    assert int(ok.headers["Access-Control-Max-Age"]) > 0
    refused = await gateway.options("/v1/widget/payments", params={"key": pub["key"]},
                                    headers={"Origin": "https://evil.example", **ask})
    assert refused.status == 403 and "https://evil.example" in await refused.text()
    assert "Access-Control-Allow-Origin" not in refused.headers
    keyless = await gateway.options("/v1/widget/payments", headers={"Origin": SHOP, **ask})
    assert keyless.status == 401 and "Access-Control-Allow-Origin" not in keyless.headers
    # Other routes never answer a browser's preflight with CORS headers.
    other = await gateway.options("/api/v2/payments/create", headers={"Origin": SHOP, **ask})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_the_widget_takes_no_secret_key(shop):
    gateway, _, _, _, secret = shop
    resp = await _widget_create(gateway, secret["key"])
    assert resp.status == 403 and resp.headers["X-Error-Code"] == "secret_key_not_allowed"
    header = await gateway.post("/v1/widget/payments", headers={
        "Origin": SHOP, "X-API-Key": secret["key"]}, json={"amount": "1", "currency": "NOR"})
    assert header.status == 403 and "never be sent from a browser" in await header.text()


async def test_a_revoked_or_unknown_publishable_key_is_401(settings, shop):
    gateway, auth, merchant, _, _ = shop
    doomed = await _create_key(settings, auth, merchant, type="publishable",
                               allowedOrigins=[SHOP])
    await auth.delete(f"/api/v1/api-keys/{doomed['keyId']}", headers=merchant.headers(settings))
    fake = "nk_pub_" + "A" * 40
    for key in (doomed["key"], fake, "pk_live_something"):
        resp = await _widget_create(gateway, key)
        assert resp.status == 401 and resp.headers["X-Error-Code"] == "invalid_api_key"


async def test_bad_widget_input_is_400_readable_by_the_page(shop):
    gateway, _, _, pub, _ = shop
    resp = await _widget_create(gateway, pub["key"], amount="-5")
    assert resp.status == 400
    assert resp.headers["Access-Control-Allow-Origin"] == SHOP  # the page can show why
    extra = await _widget_create(gateway, pub["key"], successUrl="https://x.example")
    assert extra.status == 400 and "successUrl" in await extra.text()


async def test_the_widget_reads_only_its_own_payments(shop):
    gateway, _, _, pub, secret = shop
    server_side = await gateway.post(
        "/api/v2/payments/create", headers={"X-API-Key": secret["key"]},
        json={"amount": ONE_NOR, "currency": "NOR"})
    pid = (await server_side.json())["result"]["paymentId"]
    resp = await gateway.get(f"/v1/widget/payments/{pid}", params={"key": pub["key"]},
                             headers={"Origin": SHOP})
    assert resp.status == 404


async def test_the_public_key_has_its_own_budget_not_the_merchants(shop):
    gateway, _, _, pub, secret = shop
    resp = await _widget_create(gateway, pub["key"])
    assert resp.status == 201, await resp.text()
    pid = (await resp.json())["paymentId"]
    reads = [await gateway.get(f"/v1/widget/payments/{pid}", params={"key": pub["key"]},
                               headers={"Origin": SHOP}) for _ in range(59)]
    assert [r.status for r in reads if r.status == 429] == []
    refused = await gateway.get(f"/v1/widget/payments/{pid}",
                                params={"key": pub["key"]}, headers={"Origin": SHOP})
    assert refused.status == 429  # 60 a minute per key and client address
    # The merchant's server-side budget was not touched by any of it.
    server_side = await gateway.get("/api/v1/admin/merchants", headers={
        "X-API-Key": secret["key"]})
    assert server_side.status == 200
    assert server_side.headers["X-RateLimit-Remaining"] == \
        str(int(server_side.headers["X-RateLimit-Limit"]) - 1)


# checkout.js and the embedded page ----------------------------------------------

async def test_checkout_js_is_public_javascript_with_caching_headers(env):
    gateway, _ = env
    resp = await gateway.get("/v1/checkout.js")
    assert resp.status == 200
    assert resp.content_type == "application/javascript"
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    body = await resp.text()
    assert "NorPay.Checkout = Checkout" in body and f"var VERSION = '{VERSION}'" in body
    assert body == (STATIC / "checkout.js").read_text()
    again = await gateway.get("/v1/checkout.js", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304
    pinned = await gateway.get(f"/v1/{VERSION}/checkout.js")
    assert pinned.status == 200 and await pinned.text() == body
    assert pinned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    unknown = await gateway.get("/v1/0.0.1/checkout.js")
    assert unknown.status == 404
    frame = await gateway.get("/v1/checkout-frame.js")
    assert frame.status == 200 and frame.content_type == "application/javascript"


async def test_embedded_page_may_be_framed_only_by_its_origin_and_reports_success(
        settings, shop):
    gateway, _, _, pub, _ = shop
    payment = await (await _widget_create(gateway, pub["key"], currency="USD",
                                          amount="1050")).json()
    page = await gateway.get(payment["embedPath"])
    assert page.status == 200
    assert "X-Frame-Options" not in page.headers
    assert f"frame-ancestors {SHOP};" in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert '<script src="/v1/checkout-frame.js" defer></script>' in html
    assert f'data-origin="{SHOP}"' in html and 'data-state=""' in html
    embed_q = payment["embedPath"].split("?", 1)[1].replace("&", "&amp;")
    assert f'action="/checkout/{payment["paymentId"]}/pay?{embed_q}"' in html

    tampered = await gateway.get(payment["embedPath"].replace("embed=1&origin=https%3A%2F%2F"
                                                              "shop.example.com",
                                                              "embed=1&origin=https%3A%2F%2F"
                                                              "evil.example"))
    assert tampered.headers["X-Frame-Options"] == "DENY"
    assert "checkout-frame.js" not in (await tampered.text())  # only the card entry's

    pid = payment["paymentId"]
    paid = await gateway.post(f"/checkout/{pid}/pay?{payment['embedPath'].split('?', 1)[1]}",
                              data={"csrf": csrf_token(settings, pid), "method": "VISA_MASTER",
                                    "card_number": "4242 4242 4242 4242", **FUTURE},
                              allow_redirects=False)
    assert paid.status == 303, await paid.text()
    back, embed = URL(paid.headers["Location"]), URL(payment["embedPath"])
    assert (back.path, back.query) == (embed.path, embed.query)  # stays in the frame
    done = await (await gateway.get(payment["embedPath"])).text()
    assert 'data-state="success"' in done and 'data-status="completed"' in done
