"""How deep a page may go (issue 19 item 11 c): OFFSET reads and throws away every row
before the page, so `page` x `per_page` is capped at 10,000 on every list; past it a
400 names `page` (narrow the filters instead), in the list's own family envelope."""

from __future__ import annotations

import pytest

from services.auth.app import build_spec as auth_spec
from services.billing.app import build_spec as billing_spec
from services.gateway.app import build_spec as gateway_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin, make_merchant


@pytest.fixture(scope="module")
async def gateway(settings):
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, billing_spec(s, run_scheduler=False))) as billing:
            s = s.model_copy(update={"billing_url": f"http://127.0.0.1:{billing.server.port}"})
            async with serve(create_app(s, gateway_spec(s))) as client:
                yield client


async def session(gateway, email: str) -> dict[str, str]:
    resp = await gateway.post("/api/v1/auth/sign-in", json={"email": email,
                                                            "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


@pytest.fixture(scope="module")
async def people(settings, gateway):
    admin = await make_company_admin(settings)
    shop = await make_merchant(settings, admin, status="ACTIVE")
    return await session(gateway, admin.email), await session(gateway, shop.email)


@pytest.mark.parametrize("query", [
    {"page": "1000000"}, {"page": "1001"}, {"page": "101", "per_page": "100"},
    {"page": "201", "per_page": "50"},
])
async def test_a_page_past_the_cap_is_a_norah_400_naming_page(gateway, people, query):
    admin, _ = people
    resp = await gateway.get("/api/v1/admin/users", params=query, headers=admin)
    body = await resp.json()
    assert resp.status == 400, body
    assert (body["statusCode"], body["status"], body["data"]) == (400, "BAD_REQUEST", None)
    assert (body["error"]["code"], body["error"]["field"]) == ("validation_error", "page")
    assert body["message"].startswith("page: ")
    assert "10000" in body["message"] and "filter" in body["message"]


async def test_a_page_past_the_cap_is_a_norpay_400_naming_page(gateway, people):
    _, merchant = people
    resp = await gateway.get("/api/v2/plans", params={"page": "1000000"}, headers=merchant)
    body = await resp.json()
    assert resp.status == 400, body
    assert (body["status"], body["result"]) == ("0", None)
    assert body["message"].startswith("Error! page: ")
    assert resp.headers["X-Error-Code"] == "validation_error"


@pytest.mark.parametrize("query", [{"page": "1000"}, {"page": "100", "per_page": "100"},
                                   {"page": "10000", "per_page": "1"}])
async def test_the_last_allowed_page_is_served(gateway, people, query):
    admin, merchant = people
    resp = await gateway.get("/api/v1/admin/users", params=query, headers=admin)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["data"] == [] and body["pagination"]["page"] == int(query["page"])
    resp = await gateway.get("/api/v2/plans", params=query, headers=merchant)
    assert resp.status == 200, await resp.text()
