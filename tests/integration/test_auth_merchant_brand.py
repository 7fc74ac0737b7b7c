"""A merchant's brand settings (logoUrl, accentColor) in the auth service: set on create,
PUT and PATCH, cleared with null, refused with a 400 naming the field, and passed to
checkout in the internal account."""

from __future__ import annotations

import pytest

from tests.support.auth import auth_client, make_company_admin, make_merchant, service_headers

LOGO = "https://cdn.shop.example/brand/logo.svg"


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings) as client:
        yield client


async def _internal(auth, settings, merchant_id: int) -> dict:
    resp = await auth.get(f"/internal/merchants/{merchant_id}",
                          headers=service_headers(settings, "checkout"))
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_new_merchant_keeps_its_logo_and_accent_in_lower_case(settings, auth, unique):
    admin = await make_company_admin(settings)
    resp = await auth.post("/api/v1/admin/create-merchant-account", json={
        "merchantName": "Brand Shop", "merchantEmail": f"brand.{unique}@shop.example",
        "logoUrl": LOGO, "accentColor": "#1A7F37"}, headers=admin.headers(settings))
    assert resp.status == 201, await resp.text()
    merchant_id = (await resp.json())["data"]["merchantId"]
    got = await auth.get(f"/api/v1/admin/merchants/{merchant_id}",
                         headers=admin.headers(settings))
    data = (await got.json())["data"]
    assert (data["logoUrl"], data["accentColor"]) == (LOGO, "#1a7f37")
    account = await _internal(auth, settings, merchant_id)
    assert (account["logoUrl"], account["accentColor"], account["merchantEmail"]) == \
        (LOGO, "#1a7f37", f"brand.{unique}@shop.example")


async def test_patch_sets_and_null_clears_the_brand(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    path = f"/api/v1/admin/merchants/{merchant.merchant_id}"
    before = (await (await auth.get(path, headers=admin.headers(settings))).json())["data"]
    assert (before["logoUrl"], before["accentColor"]) == (None, None)

    resp = await auth.patch(path, json={"accentColor": "#FFE000"},
                            headers=merchant.headers(settings))  # the merchant's own login
    assert resp.status == 200, await resp.text()
    resp = await auth.patch(path, json={"logoUrl": "http://127.0.0.1:8123/logo.png"},
                            headers=admin.headers(settings))
    data = (await resp.json())["data"]
    assert (data["logoUrl"], data["accentColor"]) == ("http://127.0.0.1:8123/logo.png",
                                                      "#ffe000")

    resp = await auth.patch(path, json={"logoUrl": None}, headers=admin.headers(settings))
    data = (await resp.json())["data"]
    assert (data["logoUrl"], data["accentColor"]) == (None, "#ffe000")
    resp = await auth.patch(path, json={"accentColor": None}, headers=admin.headers(settings))
    assert (await resp.json())["data"]["accentColor"] is None
    account = await _internal(auth, settings, merchant.merchant_id)
    assert (account["logoUrl"], account["accentColor"]) == (None, None)


async def test_put_sets_the_brand_and_clears_it_when_absent(settings, auth, unique):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    path = f"/api/v1/admin/merchants/{merchant.merchant_id}"
    whole = {"merchantName": "Put Shop", "merchantEmail": f"put.{unique}@shop.example"}
    resp = await auth.put(path, json={**whole, "logoUrl": LOGO, "accentColor": "#0b5fcc"},
                          headers=admin.headers(settings))
    data = (await resp.json())["data"]
    assert resp.status == 200 and (data["logoUrl"], data["accentColor"]) == (LOGO, "#0b5fcc")
    resp = await auth.put(path, json=whole, headers=admin.headers(settings))
    data = (await resp.json())["data"]
    assert (data["logoUrl"], data["accentColor"]) == (None, None)


@pytest.mark.parametrize(("body", "field"), [
    ({"logoUrl": "http://cdn.shop.example/logo.png"}, "logoUrl"),  # plain http, not local
    ({"logoUrl": "javascript:alert(1)"}, "logoUrl"),
    ({"logoUrl": "https://user:pw@cdn.shop.example/logo.png"}, "logoUrl"),
    ({"logoUrl": "https://cdn.shop.example/" + "a" * 480}, "logoUrl"),  # over 500
    ({"logoUrl": 'https://cdn.shop.example/a".png'}, "logoUrl"),
    ({"accentColor": "red"}, "accentColor"),
    ({"accentColor": "#12345"}, "accentColor"),
    ({"accentColor": "#1234567"}, "accentColor"),
    ({"accentColor": "#ggg000"}, "accentColor"),
])
async def test_a_bad_logo_or_accent_is_400_naming_it(settings, auth, body, field):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    path = f"/api/v1/admin/merchants/{merchant.merchant_id}"
    resp = await auth.patch(path, json=body, headers=admin.headers(settings))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["field"] == field
    assert ("#rrggbb" if field == "accentColor" else "https://") in error["message"]
    after = (await (await auth.get(path, headers=admin.headers(settings))).json())["data"]
    assert (after["logoUrl"], after["accentColor"]) == (None, None)  # nothing changed
