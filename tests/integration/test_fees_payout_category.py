"""Payout fees: rules of category PAYOUT made through the NORAH charge routes, quoted
one at a time (/internal/quotes) and in batches (/internal/quotes/batch, the payout
scheduler's), by the real auth and fees apps on the real database.

SYSTEM rules apply to every merchant and other tests in this run quote PAYOUT too, so
this module's system rules are in KES, a currency no other test pays out in, and are
deleted when it ends.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.fees.app import build_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.integration.test_fees_charges import (
    SYSTEM_CHARGES,
    merchant_charge,
    send,
    system_charge,
)
from tests.support.auth import (
    auth_client,
    make_company_admin,
    make_merchant,
    make_super,
    service_headers,
)

CURRENCY = "KES"


@pytest.fixture(scope="module")
async def fees(settings):
    async with auth_client(settings) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.port}"})
        async with serve(create_app(s, build_spec(s))) as client:
            yield client


@pytest.fixture(scope="module")
async def world(settings, fees):
    """System PAYOUT rules (FLAT 2.50 from 10.00 up, and 0.5 %); `own` with a PAYOUT
    rule of its own (1.5 %), `payer` with only a TRANSACTION (payments) rule (10 %)."""
    root, admin = await make_super(settings), await make_company_admin(settings)
    own, payer = await make_merchant(settings, admin), await make_merchant(settings, admin)
    system = [
        await system_charge(fees, settings, root, "PAYOUT", chargeType="FLAT",
                            currency=CURRENCY, value=Decimal("2.50"), minThreshold=10,
                            maxThreshold=None),
        await system_charge(fees, settings, root, "payout", currency=CURRENCY,
                            value=Decimal("0.5"), maxThreshold=None)]
    mine = await merchant_charge(fees, settings, admin, own, "PAYOUT", currency=CURRENCY,
                                 value=Decimal("1.5"))
    payments = await merchant_charge(fees, settings, admin, payer, "TRANSACTION",
                                     currency=CURRENCY, value=Decimal("10"))
    yield {"own": own, "payer": payer, "system": [c["chargeId"] for c in system],
           "mine": mine["chargeId"], "payments": payments["chargeId"]}
    for charge in system:
        gone = await send(fees, "DELETE", f"{SYSTEM_CHARGES}/{charge['chargeId']}", root,
                          settings)
        assert gone.status == 200


def ask(merchant, amount: str, category: str = "PAYOUT") -> dict:
    return {"merchantId": None if merchant is None else merchant.merchant_id,
            "currency": CURRENCY, "amount": amount, "category": category}


async def quote(fees, settings, item: dict) -> dict:
    resp = await fees.post("/internal/quotes", headers=service_headers(settings, "billing"),
                           json=item)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def batch(fees, settings, items: list) -> tuple[int, dict]:
    resp = await fees.post("/internal/quotes/batch",
                           headers=service_headers(settings, "billing"), json={"quotes": items})
    return resp.status, await resp.json()


def money(answer: dict) -> tuple:
    return (answer["category"], answer["merchantId"], answer["amount"], answer["charges"],
            answer["netAmount"], [line["chargeId"] for line in answer["breakdown"]])


def test_the_rules_were_stored_as_payout_rules(world):
    assert len(world["system"]) == 2  # "payout" was stored in upper case, as PAYOUT


async def test_a_merchants_own_payout_rule_replaces_the_system_ones(settings, fees, world):
    answer = await quote(fees, settings, ask(world["own"], "100000"))  # 1000.00 KES
    assert money(answer) == ("PAYOUT", world["own"].merchant_id, "100000", "1500", "98500",
                             [world["mine"]])
    # The answer checkout's QuoteCache reads, unchanged by the batch route's arrival.
    assert set(answer) == {"currency", "category", "merchantId", "amount", "charges",
                           "netAmount", "breakdown", "rulesVersion", "rulesAge", "quotedAt"}
    assert answer["breakdown"] == [{"chargeId": world["mine"], "type": "PERCENTAGE",
                                    "value": 1.5, "amount": "1500"}]
    assert answer["currency"] == CURRENCY and isinstance(answer["rulesAge"], float)


async def test_a_payment_rule_does_not_apply_to_payouts(settings, fees, world):
    payer = world["payer"]
    payout = await quote(fees, settings, ask(payer, "100000"))
    # The system PAYOUT rules: 2.50 + 0.5 % of 1000.00; its 10 % payments rule is not one.
    assert money(payout) == ("PAYOUT", payer.merchant_id, "100000", "750", "99250",
                             world["system"])
    payment = await quote(fees, settings, ask(payer, "100000", "TRANSACTION"))
    assert (payment["charges"], [line["chargeId"] for line in payment["breakdown"]]) == \
        ("10000", [world["payments"]])


async def test_payout_thresholds_apply_as_for_payments(settings, fees, world):
    small = await quote(fees, settings, ask(world["payer"], "500"))  # 5.00: below 10.00
    assert (small["charges"], [line["type"] for line in small["breakdown"]]) == \
        ("3", ["PERCENTAGE"])  # 0.5 % of 500 = 2.5, half up
    at_min = await quote(fees, settings, ask(None, "1000"))  # 10.00, inclusive
    assert (at_min["charges"], at_min["netAmount"]) == ("255", "745")


async def test_a_batch_answers_each_quote_in_order_as_the_single_route_does(
        settings, fees, world):
    own, payer = world["own"], world["payer"]
    items = [ask(own, "100000"), ask(payer, "100000"), ask(payer, "100000", "TRANSACTION"),
             ask(payer, "500"), ask(own, "500", "payout"), ask(None, "1000")]
    status, body = await batch(fees, settings, items)
    assert status == 200
    singles = [await quote(fees, settings, item) for item in items]
    assert [money(a) for a in body["quotes"]] == [money(a) for a in singles]
    assert [a["charges"] for a in body["quotes"]] == ["1500", "750", "10000", "3", "8", "255"]
    first = body["quotes"][0]
    assert set(first) == set(singles[0])  # the same answer shape
    assert first["rulesVersion"] >= 1
    assert {a["rulesVersion"] for a in body["quotes"]} == {first["rulesVersion"]}


async def test_a_batch_of_a_thousand_is_quoted_and_more_is_a_400(settings, fees, world):
    status, body = await batch(fees, settings, [ask(world["own"], "100000")] * 1000)
    assert status == 200 and len(body["quotes"]) == 1000
    assert {a["charges"] for a in body["quotes"]} == {"1500"}
    status, body = await batch(fees, settings, [ask(world["own"], "100000")] * 1001)
    assert status == 400
    assert body["error"]["field"] == "quotes"
    assert "1000" in body["error"]["message"]


@pytest.mark.parametrize("bad, field, says", [
    ({"amount": "-5"}, "quotes[2].amount", "greater than 0"),
    ({"amount": "0"}, "quotes[2].amount", "greater than 0"),
    ({"amount": "12.50"}, "quotes[2].amount", "digits in minor units"),
    ({"currency": "XYZ"}, "quotes[2].currency", "unsupported currency"),
    ({"currency": None}, "quotes[2].currency", ""),
    ({"merchantId": "shop"}, "quotes[2].merchantId", ""),
    ({"category": ""}, "quotes[2].category", ""),
])
async def test_a_bad_item_is_a_400_naming_its_index_and_field(settings, fees, world, bad,
                                                             field, says):
    item = {**ask(world["own"], "100"), **bad}
    status, body = await batch(fees, settings, [ask(world["own"], "100")] * 2 + [item])
    assert status == 400, body
    assert (body["error"]["code"], body["error"]["field"]) == ("validation_error", field)
    assert body["error"]["message"].startswith(f"{field}: ")
    assert says in body["error"]["message"]


async def test_a_missing_amount_and_a_body_without_quotes_are_400s(settings, fees, world):
    status, body = await batch(fees, settings, [{"currency": CURRENCY}])
    assert (status, body["error"]["field"]) == (400, "quotes[0].amount")
    resp = await fees.post("/internal/quotes/batch",
                           headers=service_headers(settings, "billing"), json={})
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "quotes"


async def test_the_batch_route_is_for_services_only(settings, fees, world):
    admin = await make_company_admin(settings)
    resp = await fees.post("/internal/quotes/batch", headers=admin.headers(settings),
                           json={"quotes": [ask(world["own"], "100")]})
    assert resp.status == 403
