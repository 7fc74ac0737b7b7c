"""AsyncNorPayClient: the same requests, errors and retries as the blocking client."""

from __future__ import annotations

import json

import httpx
import pytest

from norchain import AsyncNorPayClient, InvalidRequest, NotFound

BASE = "http://gateway.test"


def client(handler, **kw) -> AsyncNorPayClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AsyncNorPayClient(api_key="nk_async", base_url=BASE, http_client=http, **kw)


@pytest.fixture
def no_sleep(monkeypatch):
    slept = []

    async def fake(delay):
        slept.append(delay)
    monkeypatch.setattr("norchain._client.asyncio.sleep", fake)
    return slept


async def test_async_create_retries_with_one_key_and_answers_the_result(no_sleep):
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ReadError("connection reset")
        return httpx.Response(201, json={"status": "1", "message": "OK", "result": {
            "subscriptionId": "sub_1", "planId": "plan_1"}})

    async with client(handler) as norpay:
        sub = await norpay.subscriptions.create(plan_id="plan_1", customer_id="cust_456",
                                                trial_days=14)
    assert sub == {"subscriptionId": "sub_1", "planId": "plan_1"}
    assert len(seen) == 2 and len(no_sleep) == 1
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]
    assert json.loads(seen[1].content) == {"planId": "plan_1", "customerId": "cust_456",
                                           "trialDays": 14}


async def test_async_errors_are_typed(no_sleep):
    async def handler(request):
        if request.url.path.endswith("/create"):
            return httpx.Response(400, json={"status": "0", "result": None,
                                             "message": "Error! Amount must be greater than 0"},
                                  headers={"X-Error-Code": "amount_not_positive"})
        return httpx.Response(404, json={"status": "0", "result": None,
                                         "message": "Error! Payment not found"},
                              headers={"X-Error-Code": "not_found"})

    norpay = client(handler)
    with pytest.raises(InvalidRequest, match="Amount must be greater than 0") as caught:
        await norpay.payments.create(amount="0", currency="NOR")
    assert caught.value.code == "amount_not_positive"
    with pytest.raises(NotFound, match="Error! Payment not found"):
        await norpay.payments.get("pay_missing")
    await norpay.aclose()
    assert no_sleep == []


async def test_async_queries_and_dashboard_alias():
    async def handler(request):
        return httpx.Response(200, json={"status": "1", "message": "OK",
                                         "result": dict(request.url.params)})
    async with client(handler) as norpay:
        assert await norpay.merchants.dashboard(period="year") == {"period": "year"}
        assert await norpay.merchants.get_dashboard(period="week") == {"period": "week"}
