"""The Prices API (/prices/{app_id}) against the real auth, fees and checkout services."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
import pytest

from services.auth.app import build_spec as auth_spec
from services.checkout.app import build_spec as checkout_spec
from services.fees.app import build_spec as fees_spec
from services.fees.rules_cache import RULES
from shared.http.app import create_app
from shared.principal import HEADER, Principal, sign
from tests.conftest import serve
from tests.support.auth import make_company_admin, make_merchant, service_headers

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@asynccontextmanager
async def services(settings):
    settings = settings.model_copy(update={
        "fx_rates": {"USD/EUR": Decimal("0.92"), "GBP/USD": Decimal("1.25")},
        "trigger_retry_schedule": (0, 0.3, 0.3, 0.3)})
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, fees_spec(s))) as fees:
            s = s.model_copy(update={"fees_url": f"http://127.0.0.1:{fees.server.port}"})
            async with serve(create_app(s, checkout_spec(s))) as checkout:
                yield auth, fees, checkout


async def _zero_rule(settings, fees, merchant) -> None:
    """The merchant's own 0 % USD transaction rule, so SYSTEM rules other tests add to
    the shared database never put a transaction fee into the price_item."""
    conn = await asyncpg.connect(settings.dsn_of("fees"))
    try:
        await conn.execute(
            """INSERT INTO charges (scope, merchant_id, company_id, merchant_user_name,
                   charge_type, charge_source, charge_category, status, currency, value,
                   min_threshold, max_threshold)
               VALUES ('MERCHANT', $1, $2, $3, 'PERCENTAGE', 'SYSTEM', 'TRANSACTION',
                       'ACTIVE', 'USD', 0, 0, NULL)""",
            merchant.merchant_id, merchant.company_id, merchant.email)
    finally:
        await conn.close()
    await fees.app[RULES].lease.refresh()


async def _new_app(auth, settings, account, **fields) -> dict:
    resp = await auth.post("/api/v1/apps", headers=account.headers(settings),
                           json={"name": "App Name", "type": "individual", "app_fee": 0,
                                 "kyc_return_url": "https://myapp.com/settings/kyc", **fields})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["data"]


@pytest.fixture
async def shop(settings):
    async with services(settings) as (auth, fees, checkout):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        await _zero_rule(settings, fees, merchant)
        app = await _new_app(auth, settings, merchant)
        yield checkout, merchant.headers(settings), app, merchant, auth


async def _create(client, headers, app_id, **body):
    return await client.post(f"/prices/{app_id}", headers=headers,
                             json={"currency": "usd", "amount": 50, **body})


async def _new(client, headers, app_id, **body) -> dict:
    resp = await _create(client, headers, app_id, **body)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["data"]


async def new_trigger(client, headers, app_id, url="https://merchant.example/hooks",
                      params=()) -> dict:
    resp = await client.post(f"/triggers/{app_id}", headers=headers,
                             json={"name": "Send ticket", "url": url, "params": list(params)})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["data"]


async def test_create_answers_the_seeds_price_object(shop):
    client, headers, app, _, _ = shop
    trigger = await new_trigger(client, headers, app["id"])
    resp = await _create(client, headers, app["id"], trigger_id=trigger["id"])
    assert resp.status == 201
    text = await resp.text()
    for fragment in ('"amount":50,', '"amount_total":51.75', '"amount_platform":1.95',
                     '"amount_app":48.05', '"amount_seller":0', '"amount_transaction_fee":0',
                     '"platform_fee":3.9', '"provider_processing_fee_percent":2.9',
                     '"provider_min_amount_fee":0.25', '"app_fee":0'):
        assert fragment in text, fragment
    body = await resp.json()
    assert list(body) == ["data"]
    price = body["data"]
    assert list(price) == ["id", "amount", "currency", "currency_conversion", "type", "kyc_id",
                           "metadata", "deleted", "expired", "name", "trigger_id",
                           "trigger_intent_id", "trigger_params_data_input", "price_item",
                           "app", "created_at", "updated_at", "views", "livemode"]
    assert re.fullmatch(r"price_[A-Za-z0-9]{22}", price["id"])
    assert re.fullmatch(r"ti_[A-Za-z0-9]{22}", price["trigger_intent_id"])
    assert price | {"id": None, "created_at": None, "updated_at": None, "app": None} == {
        "id": None, "amount": 50, "currency": "usd", "currency_conversion": None,
        "type": "dynamic", "kyc_id": None, "metadata": None, "deleted": False,
        "expired": False, "name": None, "trigger_id": trigger["id"],
        "trigger_intent_id": price["trigger_intent_id"], "trigger_params_data_input": None,
        "price_item": {"currency": "usd", "provider_processing_fee_percent": 2.9,
                       "provider_min_amount_fee": 0.25, "app_fee": 0,
                       "app_type": "individual", "platform_fee": 3.9, "amount": 50,
                       "amount_total": 51.75, "amount_platform": 1.95, "amount_seller": 0,
                       "amount_app": 48.05, "amount_transaction_fee": 0},
        "app": None, "created_at": None, "updated_at": None, "views": 0,
        "livemode": False}
    assert price["app"] == {k: app[k] for k in (
        "id", "name", "type", "status", "use_explorer", "created_at", "updated_at",
        "kyc_return_url", "app_fee")}
    assert TIME.match(price["created_at"]) and TIME.match(price["updated_at"])


async def test_optional_fields_are_kept(shop):
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"], currency="USD", amount=12.5, type="static",
                       name="T-shirt", metadata={"email": "buyer@example.com"},
                       kyc_id="kyc_1")
    assert (price["amount"], price["currency"], price["type"]) == (12.5, "usd", "static")
    assert price["name"] == "T-shirt" and price["kyc_id"] == "kyc_1"
    assert price["metadata"] == {"email": "buyer@example.com"}


async def test_currency_conversion_uses_the_operators_rates(shop):
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"], currency_conversion={"to": "eur"})
    # 50 USD at 0.92 = 46.00 EUR; the total 51.75 USD = 47.61 EUR (47.61 exactly).
    assert price["currency_conversion"] == {"from": "usd", "to": "eur", "rate": 0.92,
                                            "source": "operator", "amount": 46,
                                            "amount_total": 47.61}
    # Only GBP/USD is set: USD to GBP uses its inverse, 1/1.25 = 0.8.
    price = await _new(client, headers, app["id"], currency_conversion={"currency": "GBP"})
    assert (price["currency_conversion"]["rate"], price["currency_conversion"]["amount"]) == \
        (0.8, 40)
    resp = await _create(client, headers, app["id"], currency_conversion={"to": "zar"})
    assert resp.status == 400
    assert "no exchange rate for USD to ZAR" in (await resp.json())["error"]["message"]
    resp = await _create(client, headers, app["id"], currency_conversion={"to": "xyz"})
    assert resp.status == 400 and "currency_conversion" in (await resp.json())["error"]["message"]


async def test_list_is_paginated_newest_first(shop):
    client, headers, app, _, _ = shop
    ids = [(await _new(client, headers, app["id"], amount=5 + i))["id"] for i in range(3)]
    resp = await client.get(f"/prices/{app['id']}?page=1&per_page=2", headers=headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["pagination"] == {"page": 1, "per_page": 2, "total": 3}
    assert [p["id"] for p in body["data"]] == ids[::-1][:2]
    second = await (await client.get(f"/prices/{app['id']}?page=2&per_page=2",
                                     headers=headers)).json()
    assert [p["id"] for p in second["data"]] == [ids[0]]


async def test_views_count_checkout_openings_not_api_reads(shop):
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"], type="static")
    for opened in (0, 1, 2):
        if opened:
            resp = await client.get(f"/checkout/prices/{price['id']}", allow_redirects=False)
            assert resp.status == 200, await resp.text()  # the price's page
        resp = await client.get(f"/prices/{app['id']}/{price['id']}", headers=headers)
        assert resp.status == 200
        assert (await resp.json())["data"]["views"] == opened
    missing = await client.get(f"/prices/{app['id']}/price_{'x' * 22}", headers=headers)
    assert missing.status == 404
    assert (await missing.json())["error"]["message"] == "Price not found"


async def test_delete_is_soft(shop):
    client, headers, app, _, _ = shop
    keep = await _new(client, headers, app["id"])
    gone = await _new(client, headers, app["id"])
    resp = await client.delete(f"/prices/{app['id']}/{gone['id']}", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["data"]["deleted"] is True
    listed = await (await client.get(f"/prices/{app['id']}", headers=headers)).json()
    assert [p["id"] for p in listed["data"]] == [keep["id"]]
    assert listed["pagination"]["total"] == 1
    everything = await (await client.get(f"/prices/{app['id']}?include_deleted=true",
                                         headers=headers)).json()
    assert {p["id"] for p in everything["data"]} == {keep["id"], gone["id"]}
    again = await client.get(f"/prices/{app['id']}/{gone['id']}", headers=headers)
    assert (await again.json())["data"]["deleted"] is True


async def test_a_deleted_trigger_is_gone_from_the_list_and_its_page(shop):
    client, headers, app, _, _ = shop
    keep = await new_trigger(client, headers, app["id"])
    gone = await new_trigger(client, headers, app["id"])
    assert "secret" in gone  # shown once, at creation
    resp = await client.delete(f"/triggers/{app['id']}/{gone['id']}", headers=headers)
    assert resp.status == 200
    answered = (await resp.json())["data"]
    assert (answered["id"], answered["name"]) == (gone["id"], "Send ticket")
    assert "secret" not in answered
    listed = await (await client.get(f"/triggers/{app['id']}", headers=headers)).json()
    assert [t["id"] for t in listed["data"]] == [keep["id"]]
    again = await client.get(f"/triggers/{app['id']}/{gone['id']}", headers=headers)
    assert again.status == 404


async def test_amount_below_five_is_refused(shop):
    client, headers, app, _, _ = shop
    resp = await _create(client, headers, app["id"], amount=4)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["field"] == "amount" and "amount" in error["message"]
    bad = await _create(client, headers, app["id"], currency="xyz")
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "currency"


async def test_another_companys_app_is_not_found(settings, shop):
    client, _, app, _, _ = shop
    other = await make_merchant(settings, await make_company_admin(settings), status="ACTIVE")
    for resp in (await _create(client, other.headers(settings), app["id"]),
                 await client.get(f"/prices/{app['id']}", headers=other.headers(settings)),
                 await _create(client, other.headers(settings), "app_" + "0" * 22)):
        assert resp.status == 404
        assert (await resp.json())["error"]["message"] == "App not found"


async def test_an_api_key_can_create(settings, shop):
    client, _, app, merchant, _ = shop
    key = Principal(kind="api_key", role="MERCHANT", subject="key_x",
                    company_id=str(merchant.company_id), merchant_id=str(merchant.merchant_id))
    price = await _new(client, {HEADER: sign(key, settings)}, app["id"])
    assert price["price_item"]["amount_total"] == 51.75
    scoped = key.model_copy(update={"app_id": "app_" + "1" * 22})
    resp = await _create(client, {HEADER: sign(scoped, settings)}, app["id"])
    assert resp.status == 404


async def test_the_internal_app_lookup_is_for_services_only(settings, shop):
    _, headers, app, merchant, auth = shop
    refused = await auth.get(f"/internal/apps/{app['id']}", headers=headers)
    assert refused.status == 403
    resp = await auth.get(f"/internal/apps/{app['id']}", headers=service_headers(settings))
    assert resp.status == 200
    body = await resp.json()
    assert (body["id"], body["company_id"], body["merchant_id"]) == (
        app["id"], merchant.company_id, merchant.merchant_id)
    unknown = await auth.get("/internal/apps/app_" + "0" * 22, headers=service_headers(settings))
    assert unknown.status == 404
