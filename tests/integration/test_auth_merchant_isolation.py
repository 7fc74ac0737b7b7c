"""Two merchants of one company: each sees only itself, by login or by API key.
And a principal the gateway did not sign is refused by the service itself."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.principal import HEADER, Principal, sign
from tests.support.auth import auth_client, make_company_admin, make_merchant


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings) as client:
        yield client


async def _key(auth, settings, merchant) -> str:
    resp = await auth.post("/api/v1/api-keys", json={}, headers=merchant.headers(settings))
    return (await resp.json())["data"]["key"]


async def _as_key(settings, auth, key: str) -> dict[str, str]:
    """What the gateway forwards for `key`: the principal auth's verify describes."""
    from tests.support.auth import service_headers

    found = await (await auth.post("/internal/api-keys/verify", json={"key": key},
                                   headers=service_headers(settings))).json()
    who = Principal(kind="api_key", subject=found["keyId"], role="MERCHANT",
                    company_id=found["companyId"], merchant_id=found["merchantId"])
    return {HEADER: sign(who, settings)}


async def test_a_merchant_sees_only_itself_not_its_sibling(settings, auth):
    admin = await make_company_admin(settings)
    one, two = await make_merchant(settings, admin), await make_merchant(settings, admin)
    app = await auth.post("/api/v1/apps", json={"name": "Two's app"},
                          headers=two.headers(settings))
    two_app = (await app.json())["data"]["id"]
    one_key = await _key(auth, settings, one)
    for headers in (one.headers(settings), await _as_key(settings, auth, one_key)):
        listed = await (await auth.get("/api/v1/admin/merchants", headers=headers)).json()
        assert [m["merchantId"] for m in listed["data"]] == [one.merchant_id]
        for path in (f"/api/v1/admin/merchants/{two.merchant_id}", f"/api/v1/apps/{two_app}"):
            resp = await auth.get(path, headers=headers)
            assert resp.status == 404, path
            assert (await resp.json())["data"] is None
    secret = await auth.get(f"/api/v1/admin/merchant/secret/{two.merchant_id}",
                            headers=one.headers(settings))
    assert secret.status == 404
    two_key = await _key(auth, settings, two)
    keys = await (await auth.get("/api/v1/api-keys", headers=two.headers(settings))).json()
    assert [k["prefix"] for k in keys["data"]] == [two_key[:16]]  # not one's


async def test_a_principal_not_signed_by_the_gateway_is_refused(settings, auth):
    admin = await make_company_admin(settings)
    forged = sign(admin.principal().model_copy(update={"role": "SUPER"}),
                  settings.model_copy(update={"secret_key": SecretStr("f" * 48)}))
    resp = await auth.get("/api/v1/admin/users", headers={HEADER: forged})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "invalid_principal"
    unsigned = await auth.get("/api/v1/admin/users", headers={"X-User-Role": "SUPER"})
    assert unsigned.status == 401
