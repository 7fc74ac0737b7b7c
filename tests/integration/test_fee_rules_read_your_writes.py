"""Read-your-writes for fee rules across replicas (services/fees/rules_cache.py,
shared/lease.py): once a charge write has answered 2xx, the very next quote and payment
use it, whichever fees or checkout replica serves them.

Two fees processes, each behind a gateway of its own: rules are written through one
(gateway A -> fees 1) and quoted at once through the other (gateway B -> fees 2, and
checkout, whose fee-quote cache sits in front of fees 2), round after round.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from decimal import Decimal

import pytest

from deploy.run import Stack
from services.auth.app import build_spec as auth_spec
from services.checkout.app import build_spec as checkout_spec
from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.integration.test_fees_charges import body_of, rule
from tests.support.auth import PASSWORD, make_company_admin, make_merchant
from tests.support.net import free_ports

ROUNDS = 12
AMOUNT = {"amount": Decimal("100.00"), "currency": "USD"}


async def _fees_process(stack: AsyncExitStack, settings, port: int, smtp: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORGATE_")}
    env.update({"NORGATE_ENV": settings.env,
                "NORGATE_DATABASE_URL": settings.database_url,
                "NORGATE_AMQP_URL": settings.amqp_url,
                "NORGATE_EVENTS_NAMESPACE": settings.events_namespace,
                "NORGATE_SECRET_KEY": settings.secret_key.get_secret_value(),
                "NORGATE_FEES_PORT": str(port), "NORGATE_AUTH_URL": settings.auth_url,
                "NORGATE_SMTP_URL": f"smtp://127.0.0.1:{smtp}"})  # no mail sink needed
    fees = Stack(env, services=("fees",))
    await fees.start()
    stack.push_async_callback(fees.stop)
    await fees.wait_ready(timeout=30)
    return f"http://127.0.0.1:{port}"


async def _sign_in(gateway, email: str) -> dict:
    resp = await gateway.post("/api/v1/auth/sign-in", json={"email": email,
                                                            "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def _quoted(gateway, auth: dict) -> Decimal:
    resp = await gateway.post("/api/v1/test-charge-calculation", data=body_of(AMOUNT),
                              headers={**auth, "Content-Type": "application/json"})
    assert resp.status == 200, await resp.text()
    return Decimal(str((await resp.json())["data"]["charges"]))


async def _charged(gateway, auth: dict) -> Decimal:
    """A payment of 100.00 USD created through the gateway: its charges, in dollars."""
    resp = await gateway.post("/api/v2/payments/create", headers=auth, json={
        "amount": "10000", "currency": "USD", "description": "read your writes"})
    assert resp.status == 201, await resp.text()
    payment_id = (await resp.json())["result"]["paymentId"]
    got = await gateway.get(f"/api/v2/payments/{payment_id}", headers=auth)
    assert got.status == 200
    return Decimal(int((await got.json())["result"]["charges"])) / 100


@pytest.mark.timeout(180)
async def test_a_rule_write_is_used_by_the_next_quote_on_every_replica(settings):
    # A cache bound far longer than the test: only read-your-writes can make it pass.
    s = settings.model_copy(update={"api_key_cache_seconds": 60.0})
    fees_1, fees_2, smtp = free_ports(3)
    async with AsyncExitStack() as stack:
        auth = await stack.enter_async_context(serve(create_app(s, auth_spec(s))))
        s = s.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        a = s.model_copy(update={"fees_url": await _fees_process(stack, s, fees_1, smtp)})
        b = s.model_copy(update={"fees_url": await _fees_process(stack, s, fees_2, smtp)})
        checkout = await stack.enter_async_context(serve(create_app(b, checkout_spec(b))))
        b = b.model_copy(update={"checkout_url": f"http://127.0.0.1:{checkout.server.port}"})
        gateway_a = await stack.enter_async_context(serve(create_app(a, gateway_spec(a))))
        gateway_b = await stack.enter_async_context(serve(create_app(b, gateway_spec(b))))

        admin = await make_company_admin(s)
        shop = await make_merchant(s, admin, status="ACTIVE")
        admin_a = await _sign_in(gateway_a, admin.email)
        shop_b = await _sign_in(gateway_b, shop.email)
        baseline = await _quoted(gateway_b, shop_b)  # the system rules, if any
        assert await _charged(gateway_b, shop_b) == baseline  # and now a cached quote

        charge_id = None
        for i in range(ROUNDS):
            percent = Decimal("1.5") + Decimal(i) / 4  # a different fee every round
            body = {"merchantUserName": shop.email, **rule("TRANSACTION", value=percent)}
            if charge_id is None:
                resp = await gateway_a.post("/api/v1/merchant/charges/add",
                                            data=body_of(body), headers={
                                                **admin_a, "Content-Type": "application/json"})
                assert resp.status == 201, await resp.text()
                charge_id = (await resp.json())["data"]["chargeId"]
            else:
                resp = await gateway_a.put(f"/api/v1/merchant/charges/{charge_id}",
                                           data=body_of(body), headers={
                                               **admin_a, "Content-Type": "application/json"})
                assert resp.status == 200, await resp.text()
            expected = percent  # percent of 100.00 USD, in dollars
            assert (i, await _quoted(gateway_b, shop_b)) == (i, expected)
            assert (i, await _charged(gateway_b, shop_b)) == (i, expected)

        resp = await gateway_a.delete(f"/api/v1/merchant/charges/{charge_id}", headers=admin_a)
        assert resp.status == 200, await resp.text()
        assert await _quoted(gateway_b, shop_b) == baseline
        assert await _charged(gateway_b, shop_b) == baseline
