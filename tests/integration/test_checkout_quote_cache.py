"""Checkout keeps fee quotes briefly (services/checkout/context.py QuoteCache); a fee
rule change reaches the next create as soon as its charge.* event arrives, long
before the cache's time bound."""

from __future__ import annotations

from decimal import Decimal

from services.auth.app import build_spec as auth_spec
from services.checkout.app import build_spec as checkout_spec
from services.fees.app import build_spec as fees_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.integration.test_fees_charges import merchant_charge
from tests.support.auth import make_company_admin, make_merchant
from tests.support.poll import poll_until


async def _charges(checkout, headers) -> int:
    resp = await checkout.post("/api/v2/payments/create", headers=headers, json={
        "amount": "10000", "currency": "USD", "description": "Quote cache"})
    assert resp.status == 201, await resp.text()
    payment_id = (await resp.json())["result"]["paymentId"]
    got = await checkout.get(f"/api/v2/payments/{payment_id}", headers=headers)
    assert got.status == 200
    return int((await got.json())["result"]["charges"])  # minor units


async def test_a_fee_rule_change_reaches_the_next_create_without_waiting_for_the_cache(
        settings):
    # A cache bound far longer than the test's patience: only the event can do it.
    s = settings.model_copy(update={"api_key_cache_seconds": 60.0})
    async with serve(create_app(s, auth_spec(s))) as auth:
        s = s.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, fees_spec(s))) as fees:
            s = s.model_copy(update={"fees_url": f"http://127.0.0.1:{fees.server.port}"})
            async with serve(create_app(s, checkout_spec(s))) as checkout:
                admin = await make_company_admin(s)
                merchant = await make_merchant(s, admin, status="ACTIVE")
                headers = merchant.headers(s)
                before = await _charges(checkout, headers)
                assert await _charges(checkout, headers) == before  # cached or not: same

                await merchant_charge(fees, s, admin, merchant, "TRANSACTION",
                                      value=Decimal("2.5"))

                async def updated() -> bool:
                    return await _charges(checkout, headers) == before + 250

                await poll_until(updated, timeout=5, what="the new fee on a create")
                # And it stays: nothing stale is cached after the change.
                assert await _charges(checkout, headers) == before + 250  # 2.5 % of 100.00
