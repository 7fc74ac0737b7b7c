"""The tenancy matrix: two companies with one merchant (an app and a key) each.

Every merchant, key and app route called by company B with company A's ids
answers 404 and shows nothing of A; A's objects are left as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pytest

from tests.support.auth import (
    Account,
    auth_client,
    make_company_admin,
    make_merchant,
    service_headers,
)


@dataclass
class Tenant:
    admin: Account
    merchant: Account
    app_id: str
    key_id: str
    key: str
    name: str
    secret: str


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings) as client:
        yield client


async def _tenant(settings, auth) -> Tenant:
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin, name="Tenant Shop")
    app = await auth.post("/api/v1/apps", json={"name": "Tenant App"},
                          headers=merchant.headers(settings))
    app_id = (await app.json())["data"]["id"]
    key = await auth.post("/api/v1/api-keys", json={"appId": app_id},
                          headers=merchant.headers(settings))
    data = (await key.json())["data"]
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        name = await conn.fetchval("SELECT name FROM merchants WHERE id = $1",
                                   merchant.merchant_id)
    finally:
        await conn.close()
    secret = await auth.get(f"/api/v1/admin/merchant/secret/{merchant.merchant_id}",
                            headers=admin.headers(settings))
    return Tenant(admin, merchant, app_id, data["keyId"], data["key"], name,
                  (await secret.json())["data"]["secret"])


@pytest.fixture(scope="module")
async def tenants(settings, auth) -> tuple[Tenant, Tenant]:
    return await _tenant(settings, auth), await _tenant(settings, auth)


M, APP, KEY = "/api/v1/admin/merchants/{m}", "/api/v1/apps/{app}", "/api/v1/api-keys/{key}"
ROUTES = [  # (method, path, body, callers of company B that may use the route)
    ("GET", M, None, ("admin", "merchant")),
    ("PATCH", M, {"merchantCity": "Elsewhere"}, ("admin", "merchant")),
    ("PATCH", M, {"ratePlan": "ENTERPRISE"}, ("admin",)),
    ("PUT", M, {"merchantName": "Taken", "merchantEmail": "taken@example.com"},
     ("admin", "merchant")),
    *[(method, M + f"/{action}", None, ("admin",))
      for action in ("activate", "inactivate") for method in ("POST", "PUT", "PATCH")],
    ("GET", "/api/v1/admin/merchant/secret/{m}", None, ("admin", "merchant")),
    ("POST", "/api/v1/admin/merchant/secret/{m}/regenerate", None, ("admin", "merchant")),
    ("POST", "/api/v1/api-keys", {"merchantId": "{m}"}, ("admin", "merchant")),
    ("POST", "/api/v1/api-keys", {"merchantId": "{own}", "appId": "{app}"},
     ("admin", "merchant")),
    ("DELETE", KEY, None, ("admin", "merchant")),
    ("GET", APP, None, ("admin", "merchant")),
    ("PATCH", APP, {"name": "Taken"}, ("admin", "merchant")),
    ("PUT", APP, {"name": "Taken"}, ("admin", "merchant")),
    ("DELETE", APP, None, ("admin", "merchant")),
]
CASES = [pytest.param(method, path, body, caller, id=f"{i:02d}-{caller}-{method}-{path}")
         for i, (method, path, body, callers) in enumerate(ROUTES) for caller in callers]


def _fill(value, a: Tenant, b: Tenant):
    ids = {"m": a.merchant.merchant_id, "app": a.app_id, "key": a.key_id,
           "own": b.merchant.merchant_id}
    if isinstance(value, str):
        text = value.format(**ids)
        return int(text) if text.isdigit() and value.startswith("{") else text
    if isinstance(value, dict):
        return {k: _fill(v, a, b) for k, v in value.items()}
    return value


@pytest.mark.parametrize("method,path,body,caller", CASES)
async def test_another_companys_objects_answer_404_and_show_nothing(
        settings, auth, tenants, method, path, body, caller):
    a, b = tenants
    who = b.admin if caller == "admin" else b.merchant
    resp = await auth.request(method, _fill(path, a, b), json=_fill(body, a, b),
                              headers=who.headers(settings))
    text = await resp.text()
    assert resp.status == 404, text
    envelope = await resp.json()
    assert envelope["data"] is None and envelope["error"]["code"] == "not_found"
    assert a.name not in text and a.merchant.email not in text


async def test_lists_never_include_another_companys_objects(settings, auth, tenants):
    a, b = tenants
    for who in (b.admin, b.merchant):
        for path in ("/api/v1/admin/merchants", f"/api/v1/admin/merchants?search={a.name}",
                     "/api/v1/apps", "/api/v1/api-keys",
                     f"/api/v1/api-keys?merchantId={a.merchant.merchant_id}"):
            resp = await auth.get(path, headers=who.headers(settings))
            text = await resp.text()
            assert resp.status == 200, text
            assert a.name not in text and a.app_id not in text and a.key_id not in text, path


async def test_company_a_is_unchanged_after_company_bs_attempts(settings, auth, tenants):
    # Runs after the matrix (file order): nothing B tried changed A.
    a, _ = tenants
    merchant = await auth.get(f"/api/v1/admin/merchants/{a.merchant.merchant_id}",
                              headers=a.admin.headers(settings))
    data = (await merchant.json())["data"]
    assert (data["status"], data["ratePlan"], data["merchantCity"], data["merchantName"]) == \
        ("DEVELOPMENT", "STARTER", None, a.name)
    app = await auth.get(f"/api/v1/apps/{a.app_id}", headers=a.admin.headers(settings))
    assert app.status == 200 and (await app.json())["data"]["name"] == "Tenant App"
    verified = await auth.post("/internal/api-keys/verify", json={"key": a.key},
                               headers=service_headers(settings))
    assert verified.status == 200
    assert (await verified.json())["merchantId"] == str(a.merchant.merchant_id)
    secret = await auth.get(f"/api/v1/admin/merchant/secret/{a.merchant.merchant_id}",
                            headers=a.admin.headers(settings))
    assert (await secret.json())["data"]["secret"] == a.secret
