"""Apps (`app_...`) in the auth service: CRUD, validation and scope."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from tests.support.auth import (
    Account,
    auth_client,
    make_company_admin,
    make_merchant,
    service_headers,
)

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings) as client:
        yield client


async def body_of(resp) -> dict:
    """The JSON body with numbers kept exact."""
    return json.loads(await resp.text(), parse_float=Decimal)


async def create_app(settings, auth, who, **fields) -> dict:
    resp = await auth.post("/api/v1/apps", json={"name": "App Name", **fields},
                           headers=who.headers(settings))
    assert resp.status == 201, await resp.text()
    return (await body_of(resp))["data"]


async def test_an_app_is_created_read_changed_and_deleted_in_the_prices_shape(settings, auth):
    admin = await make_company_admin(settings)
    headers = {**admin.headers(settings), "Content-Type": "application/json"}
    resp = await auth.post("/api/v1/apps", headers=headers, data=(
        '{"name": "App Name", "type": "marketplace", "use_explorer": false, '
        '"kyc_return_url": "https://myapp.com/settings/kyc", "app_fee": 12.3456}'))
    assert resp.status == 201, await resp.text()
    assert '"app_fee":12.3456' in await resp.text()
    app = (await body_of(resp))["data"]
    assert re.fullmatch(r"app_[A-Za-z0-9]{22}", app["id"])
    assert {k: app[k] for k in ("name", "type", "status", "use_explorer", "kyc_return_url",
                                "app_fee", "company_id", "merchant_id")} == {
        "name": "App Name", "type": "marketplace", "status": "active", "use_explorer": False,
        "kyc_return_url": "https://myapp.com/settings/kyc", "app_fee": Decimal("12.3456"),
        "company_id": admin.company_id, "merchant_id": None}
    assert TIME.match(app["created_at"]) and TIME.match(app["updated_at"])
    path = f"/api/v1/apps/{app['id']}"

    got = await body_of(await auth.get(path, headers=admin.headers(settings)))
    assert got["data"] == app and got["statusCode"] == 200

    patched = await auth.patch(path, json={"status": "inactive", "kyc_return_url": None},
                               headers=admin.headers(settings))
    assert patched.status == 200, await patched.text()
    data = (await body_of(patched))["data"]
    assert (data["status"], data["kyc_return_url"], data["type"], data["app_fee"]) == \
        ("inactive", None, "marketplace", Decimal("12.3456"))

    replaced = await auth.put(path, json={"name": "Renamed"}, headers=admin.headers(settings))
    data = (await body_of(replaced))["data"]
    assert (data["name"], data["type"], data["status"], data["use_explorer"],
            data["app_fee"]) == ("Renamed", "individual", "active", True, 0)

    deleted = await auth.delete(path, headers=admin.headers(settings))
    assert deleted.status == 200
    assert (await auth.get(path, headers=admin.headers(settings))).status == 404
    assert (await auth.delete(path, headers=admin.headers(settings))).status == 404


@pytest.mark.parametrize("fields,field", [
    ({"app_fee": 101}, "app_fee"),
    ({"app_fee": -1}, "app_fee"),
    ({"app_fee": "5"}, "app_fee"),
    ({"app_fee": True}, "app_fee"),
    ({"app_fee": 1.23456}, "app_fee"),
    ({"type": "enterprise"}, "type"),
    ({"status": "paused"}, "status"),
    ({"kyc_return_url": "ftp://myapp.com/kyc"}, "kyc_return_url"),
    ({"kyc_return_url": "not a url"}, "kyc_return_url"),
    ({"name": ""}, "name"),
    ({"name": "x" * 257}, "name"),
    ({"use_explorer": "maybe"}, "use_explorer"),
    ({"colour": "red"}, "colour"),
])
async def test_bad_app_fields_are_400_naming_the_field(settings, auth, fields, field):
    admin = await make_company_admin(settings)
    resp = await auth.post("/api/v1/apps", json={"name": "App", **fields},
                           headers=admin.headers(settings))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "validation_error" and error["field"] == field
    assert error["message"].startswith(f"{field}: ")


async def test_patch_rejects_null_for_required_fields(settings, auth):
    admin = await make_company_admin(settings)
    app = await create_app(settings, auth, admin)
    resp = await auth.patch(f"/api/v1/apps/{app['id']}", json={"name": None, "app_fee": 101},
                            headers=admin.headers(settings))
    assert resp.status == 400
    fields = {d["field"] for d in (await resp.json())["error"]["details"]}
    assert fields == {"name", "app_fee"}


async def test_a_merchant_user_manages_only_its_own_apps(settings, auth):
    admin = await make_company_admin(settings)
    merchant, sibling = await make_merchant(settings, admin), await make_merchant(settings, admin)
    company_app = await create_app(settings, auth, admin, name="Company")
    own = await create_app(settings, auth, merchant, name="Mine")
    theirs = await create_app(settings, auth, sibling, name="Theirs")
    assert (own["merchant_id"], own["company_id"]) == (merchant.merchant_id, admin.company_id)

    listed = await body_of(await auth.get("/api/v1/apps", headers=merchant.headers(settings)))
    assert [a["id"] for a in listed["data"]] == [own["id"]]
    everything = await body_of(await auth.get("/api/v1/apps?per_page=2",
                                              headers=admin.headers(settings)))
    assert everything["pagination"] == {"page": 1, "per_page": 2, "total": 3}
    assert [a["id"] for a in everything["data"]] == [company_app["id"], own["id"]]
    for other in (company_app, theirs):
        for method in ("GET", "PATCH", "DELETE"):
            resp = await auth.request(method, f"/api/v1/apps/{other['id']}", json={},
                                      headers=merchant.headers(settings))
            assert resp.status == 404, (method, other["name"])


async def test_the_list_filters_by_status_and_type(settings, auth):
    admin = await make_company_admin(settings)
    a = await create_app(settings, auth, admin, type="marketplace")
    b = await create_app(settings, auth, admin, status="inactive")

    async def ids(query: str) -> list[str]:
        page = await body_of(await auth.get(f"/api/v1/apps?{query}",
                                            headers=admin.headers(settings)))
        return [x["id"] for x in page["data"]]

    assert await ids("type=marketplace") == [a["id"]]
    assert await ids("status=inactive") == [b["id"]]
    bad = await auth.get("/api/v1/apps?type=other", headers=admin.headers(settings))
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "type"


async def test_a_super_user_names_the_company_of_a_new_app(settings, auth):
    # A SUPER principal without a user row: this file runs before test_auth_bootstrap.py,
    # which expects the bootstrap SUPER to be the only one in the database.
    admin, root = await make_company_admin(settings), Account(0, "", "SUPER", None)
    missing = await auth.post("/api/v1/apps", json={"name": "X"}, headers=root.headers(settings))
    assert missing.status == 400 and (await missing.json())["error"]["field"] == "companyId"
    app = await create_app(settings, auth, root, companyId=admin.company_id)
    assert app["company_id"] == admin.company_id
    nowhere = await auth.post("/api/v1/apps", json={"name": "X", "companyId": 999_999_999},
                              headers=root.headers(settings))
    assert nowhere.status == 404


async def test_deleting_an_app_revokes_the_keys_scoped_to_it(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    app = await create_app(settings, auth, merchant)
    key = await auth.post("/api/v1/api-keys", json={"appId": app["id"]},
                          headers=merchant.headers(settings))
    secret = (await key.json())["data"]["key"]
    verify = {"json": {"key": secret}, "headers": service_headers(settings)}
    assert (await auth.post("/internal/api-keys/verify", **verify)).status == 200
    deleted = await auth.delete(f"/api/v1/apps/{app['id']}", headers=merchant.headers(settings))
    assert (await deleted.json())["data"]["revoked_keys"] == [(await key.json())["data"]["keyId"]]
    assert (await auth.post("/internal/api-keys/verify", **verify)).status == 404


async def test_anonymous_callers_cannot_touch_apps(settings, auth):
    assert (await auth.get("/api/v1/apps")).status == 401
    assert (await auth.post("/api/v1/apps", json={"name": "X"})).status == 401
