"""A merchant's plan limit holds across two gateway replicas in front of one auth."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.auth.app import build_spec as auth_spec
from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import make_company_admin, make_merchant
from tests.support.net import free_port
from tests.support.poll import poll_until


async def test_two_gateway_replicas_share_one_starter_budget(settings):
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        admin = await make_company_admin(settings)  # auth has applied its migrations now
        shop = await make_merchant(settings, admin, status="ACTIVE")
        created = await auth.post("/api/v1/api-keys", json={"merchantId": shop.merchant_id},
                                  headers=admin.headers(settings))
        key = (await created.json())["data"]["key"]
        down = f"http://127.0.0.1:{free_port()}"
        s = settings.model_copy(update={
            "auth_url": f"http://127.0.0.1:{auth.server.port}", "checkout_url": down,
            "billing_url": down, "fees_url": down, "notifier_url": down})
        async with serve(create_app(s, gateway_spec(s))) as one, \
                serve(create_app(s, gateway_spec(s))) as two:
            async def call(gateway):
                resp = await gateway.get(f"/api/v1/admin/merchants/{shop.merchant_id}",
                                         headers={"X-API-Key": key})
                return resp.status, resp.headers

            # Fixed minute windows: start well inside one, so 130 calls cannot straddle
            # a boundary and be counted against two budgets.
            await poll_until(lambda: datetime.now(UTC).second < 45, timeout=20,
                             interval=0.2, what="the start of a minute window")
            results = await asyncio.gather(*(call(one if i % 2 else two) for i in range(130)))
    statuses = [status for status, _ in results]
    assert statuses.count(200) == 100 and statuses.count(429) == 30, sorted(set(statuses))
    refused = next(h for status, h in results if status == 429)
    assert refused["X-RateLimit-Limit"] == "100" and refused["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-Error-Code"] == "rate_limited"
