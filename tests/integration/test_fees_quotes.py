"""Quotes from the fees service: the seed's calculation, internal quotes, price items."""

from __future__ import annotations

import asyncpg
import pytest

from services.auth.app import build_spec as auth_spec
from services.fees.app import build_spec as fees_spec
from services.fees.rules_cache import RULES
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import make_company_admin, make_merchant, service_headers


@pytest.fixture
async def fees(settings):
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, fees_spec(s))) as client:
            yield client


async def _rule(settings, fees, *, value: str, charge_type="PERCENTAGE", merchant=None,
                currency="USD", category="TRANSACTION", lo="0", hi=None) -> int:
    """A rule written straight into the fees schema, then the cache reloaded."""
    conn = await asyncpg.connect(settings.dsn_of("fees"))
    try:
        rule_id = await conn.fetchval(
            """INSERT INTO charges (scope, merchant_id, company_id, merchant_user_name,
                   charge_type, charge_source, charge_category, status, currency, value,
                   min_threshold, max_threshold)
               VALUES ($1, $2, $3, $4, $5, 'SYSTEM', $6, 'ACTIVE', $7, $8::numeric,
                       $9::numeric, $10::numeric) RETURNING id""",
            "MERCHANT" if merchant else "SYSTEM", merchant.merchant_id if merchant else None,
            merchant.company_id if merchant else None, merchant.email if merchant else None,
            charge_type, category, currency, value, lo, hi)
    finally:
        await conn.close()
    await fees.app[RULES].lease.refresh()
    return rule_id


async def test_the_seeds_calculation_comes_out_to_the_cent(settings, fees):
    admin = await make_company_admin(settings)
    shop = await make_merchant(settings, admin)
    await _rule(settings, fees, value="2.5", merchant=shop)
    resp = await fees.post("/api/v1/test-charge-calculation", headers=admin.headers(settings),
                           json={"amount": 1000, "currency": "USD", "user_email": shop.email})
    assert resp.status == 200
    text = await resp.text()
    body = await resp.json()
    assert body["message"] == "Charge calculation completed"
    assert body["data"] == {"amount": 1000.0, "currency": "USD", "charges": 25.0,
                            "chargesBreakdown": [{"type": "PERCENTAGE", "value": 2.5,
                                                  "amount": 25.0}],
                            "netAmount": 975.0}
    # Written exactly as the seed shows them, not as floats.
    for fragment in ('"amount":1000.00', '"charges":25.00', '"netAmount":975.00',
                     '"value":2.5'):
        assert fragment in text


async def test_a_non_merchant_email_gets_the_system_rules(settings, fees, unique):
    admin = await make_company_admin(settings)
    category = f"CAT_{unique}".upper()
    await _rule(settings, fees, value="1.00", charge_type="FLAT", category=category)
    await _rule(settings, fees, value="1.5", category=category, lo="100.00")
    resp = await fees.post("/api/v1/test-charge-calculation", headers=admin.headers(settings),
                           json={"amount": "200.00", "currency": "USD", "chargeCategory": category,
                                 "user_email": admin.email})
    data = (await resp.json())["data"]
    assert (data["charges"], data["netAmount"]) == (4.0, 196.0)
    assert [line["type"] for line in data["chargesBreakdown"]] == ["FLAT", "PERCENTAGE"]


async def test_an_unknown_address_is_a_404_naming_it_not_a_silent_zero(settings, fees):
    admin = await make_company_admin(settings)
    resp = await fees.post("/api/v1/test-charge-calculation", headers=admin.headers(settings),
                           json={"amount": 10, "currency": "USD",
                                 "user_email": "nobody.here@example.com"})
    assert resp.status == 404
    body = await resp.json()
    assert body["message"] == \
        "user_email: no merchant or user nobody.here@example.com in your scope"
    assert body["data"] is None


async def test_another_companys_merchant_or_admin_reads_like_an_unknown_address(settings,
                                                                                 fees):
    mine, theirs = await make_company_admin(settings), await make_company_admin(settings)
    shop = await make_merchant(settings, theirs)
    await _rule(settings, fees, value="7", merchant=shop)  # must not leak into the answer
    answers = []
    for email in (shop.email, theirs.email, "nobody.here@example.com"):
        resp = await fees.post("/api/v1/test-charge-calculation",
                               headers=mine.headers(settings),
                               json={"amount": 10, "currency": "USD", "user_email": email})
        body = await resp.json()
        answers.append((resp.status, body["data"], body["message"].replace(email, "<e>")))
    # No tell whether the address is someone's merchant or login.
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 404


async def test_bad_amounts_are_400_naming_the_field(settings, fees):
    admin = await make_company_admin(settings)
    for amount, message in ((0, "Amount must be greater than 0"),
                            ("10.001", "more decimal places than USD allows")):
        resp = await fees.post("/api/v1/test-charge-calculation",
                               headers=admin.headers(settings),
                               json={"amount": amount, "currency": "USD"})
        assert resp.status == 400
        assert message in (await resp.json())["message"]
    unknown = await fees.post("/api/v1/test-charge-calculation", headers=admin.headers(settings),
                              json={"amount": 1, "currency": "XYZ"})
    assert unknown.status == 400 and "unsupported currency" in (await unknown.json())["message"]


async def test_internal_quote_in_wei_for_checkout(settings, fees):
    admin = await make_company_admin(settings)
    shop = await make_merchant(settings, admin)
    rule = await _rule(settings, fees, value="1.5", merchant=shop, currency="NOR")
    resp = await fees.post("/internal/quotes", headers=service_headers(settings, "checkout"),
                           json={"merchantId": shop.merchant_id, "currency": "NOR",
                                 "amount": "1000000000000000000"})
    assert resp.status == 200
    body = await resp.json()
    assert (body["amount"], body["charges"], body["netAmount"]) == \
        ("1000000000000000000", "15000000000000000", "985000000000000000")
    assert body["breakdown"] == [{"chargeId": rule, "type": "PERCENTAGE", "value": 1.5,
                                  "amount": "15000000000000000"}]
    assert body["rulesVersion"] >= 1


async def test_internal_routes_refuse_users(settings, fees):
    admin = await make_company_admin(settings)
    for path in ("/internal/quotes", "/internal/price-items"):
        resp = await fees.post(path, headers=admin.headers(settings),
                               json={"currency": "USD", "amount": "100"})
        assert resp.status == 403


async def test_price_item_matches_the_prices_seed(settings, fees):
    # A merchant whose own (zero) rule replaces whatever system rules other tests made,
    # so no transaction fee is taken, as in the seed.
    shop = await make_merchant(settings, await make_company_admin(settings))
    await _rule(settings, fees, value="0", merchant=shop)
    resp = await fees.post("/internal/price-items", headers=service_headers(settings, "checkout"),
                           json={"amount": 50, "currency": "usd", "app_fee": 0,
                                 "app_type": "individual", "merchantId": shop.merchant_id})
    assert resp.status == 200
    text = await resp.text()
    for fragment in ('"amount":50', '"amount_total":51.75', '"amount_platform":1.95',
                     '"amount_app":48.05', '"amount_seller":0', '"amount_transaction_fee":0',
                     '"provider_processing_fee_percent":2.9', '"provider_min_amount_fee":0.25',
                     '"platform_fee":3.9', '"currency":"usd"'):
        assert fragment in text, (fragment, text)
