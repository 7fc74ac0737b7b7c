"""User management routes and their role rules, called as the gateway would."""

from __future__ import annotations

import pytest

from services.auth.app import build_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import PASSWORD, make_company_admin, make_super


@pytest.fixture
async def auth(settings):
    async with serve(create_app(settings, build_spec(settings))) as client:
        yield client


def new_user(tag: str, **extra) -> dict:
    return {"firstName": "Jane", "lastName": "Smith", "email": f"jane.{tag}@example.com",
            "password": "SecurePass456!x", "phone": "263771234568", **extra}


async def test_only_super_creates_super_users(settings, auth, unique):
    admin, root = await make_company_admin(settings), await make_super(settings)
    refused = await auth.post("/api/v1/admin/create-super-user", json=new_user(unique),
                              headers=admin.headers(settings))
    assert refused.status == 403
    made = await auth.post("/api/v1/admin/create-super-user", json=new_user(unique),
                           headers=root.headers(settings))
    assert made.status == 201
    data = (await made.json())["data"]
    assert (data["role"], data["enabled"], data["companyId"]) == ("SUPER", True, None)
    signed_in = await auth.post("/api/v1/auth/sign-in",
                                json={"email": data["email"], "password": "SecurePass456!x"})
    assert signed_in.status == 200


async def test_an_admin_adds_a_disabled_admin_to_its_own_company(settings, auth, unique):
    admin = await make_company_admin(settings)
    resp = await auth.post("/api/v1/auth/secondary-admin-sign-up",
                           json=new_user(unique, companyId=999999),  # ignored for an ADMIN
                           headers=admin.headers(settings))
    assert resp.status == 201
    data = (await resp.json())["data"]
    assert (data["role"], data["enabled"], data["companyId"]) == ("ADMIN", False,
                                                                  admin.company_id)


async def test_users_list_is_limited_to_the_callers_company(settings, auth):
    a, b = await make_company_admin(settings), await make_company_admin(settings)
    resp = await auth.get("/api/v1/admin/users?per_page=100", headers=a.headers(settings))
    assert resp.status == 200
    body = await resp.json()
    emails = {u["email"] for u in body["data"]}
    assert a.email in emails and b.email not in emails
    assert body["pagination"] == {"page": 1, "per_page": 100, "total": len(body["data"])}
    assert all("password" not in str(u).lower() and "secret" not in u for u in body["data"])


async def test_another_companys_user_is_404_for_every_route(settings, auth):
    a, b = await make_company_admin(settings), await make_company_admin(settings)
    h = a.headers(settings)
    other = b.user_id
    answers = [
        (await auth.put(f"/api/v1/admin/users/{other}", json={"notes": "x"}, headers=h)).status,
        (await auth.delete(f"/api/v1/admin/users/{other}", headers=h)).status,
        (await auth.get(f"/api/v1/admin/user/secret/{other}", headers=h)).status,
        (await auth.post(f"/api/v1/admin/user/secret/{other}/regenerate", headers=h)).status,
    ]
    assert answers == [404, 404, 404, 404]
    still = await auth.post("/api/v1/auth/sign-in", json={"email": b.email, "password": PASSWORD})
    assert still.status == 200  # nothing happened to b


async def test_an_admin_cannot_raise_anyone_to_super(settings, auth, unique):
    admin = await make_company_admin(settings)
    made = await auth.post("/api/v1/auth/secondary-admin-sign-up", json=new_user(unique),
                           headers=admin.headers(settings))
    colleague = (await made.json())["data"]["id"]
    resp = await auth.put(f"/api/v1/admin/users/{colleague}", json={"role": "SUPER"},
                          headers=admin.headers(settings))
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "cannot_grant_super"


async def test_nobody_deletes_their_own_account(settings, auth):
    admin = await make_company_admin(settings)
    resp = await auth.delete(f"/api/v1/admin/users/{admin.user_id}",
                             headers=admin.headers(settings))
    assert resp.status == 400
    assert (await resp.json())["message"] == "You cannot delete your own account"


async def test_a_deleted_user_cannot_sign_in(settings, auth, unique):
    admin = await make_company_admin(settings)
    made = await auth.post("/api/v1/auth/secondary-admin-sign-up", json=new_user(unique),
                           headers=admin.headers(settings))
    colleague = (await made.json())["data"]
    gone = await auth.delete(f"/api/v1/admin/users/{colleague['id']}",
                             headers=admin.headers(settings))
    assert gone.status == 200
    resp = await auth.post("/api/v1/auth/sign-in",
                           json={"email": colleague["email"], "password": "SecurePass456!x"})
    assert resp.status == 401


async def test_update_user_changes_name_status_and_notes(settings, auth, unique):
    admin = await make_company_admin(settings)
    made = await auth.post("/api/v1/auth/secondary-admin-sign-up", json=new_user(unique),
                           headers=admin.headers(settings))
    uid = (await made.json())["data"]["id"]
    resp = await auth.put(f"/api/v1/admin/users/{uid}", headers=admin.headers(settings), json={
        "fullName": "Jane Q Smith", "role": "ADMIN", "status": True,
        "notes": "Secondary admin for operations"})
    assert resp.status == 200
    data = (await resp.json())["data"]
    assert (data["firstName"], data["lastName"], data["enabled"], data["notes"]) == \
        ("Jane", "Q Smith", True, "Secondary admin for operations")
    bad = await auth.put(f"/api/v1/admin/users/{uid}", headers=admin.headers(settings),
                         json={"colour": "blue"})
    assert bad.status == 400 and "colour" in (await bad.json())["message"]


async def test_secret_is_readable_by_its_user_and_regenerable(settings, auth):
    admin = await make_company_admin(settings)
    h = admin.headers(settings)
    first = (await (await auth.get(f"/api/v1/admin/user/secret/{admin.user_id}",
                                   headers=h)).json())["data"]["secret"]
    again = (await (await auth.get(f"/api/v1/admin/user/secret/{admin.user_id}",
                                   headers=h)).json())["data"]["secret"]
    regen = await auth.post(f"/api/v1/admin/user/secret/{admin.user_id}/regenerate", headers=h)
    new = (await regen.json())["data"]["secret"]
    assert first == again and len(first) >= 40 and new != first


async def test_user_routes_need_a_signed_in_caller(auth):
    resp = await auth.get("/api/v1/admin/users")
    assert resp.status == 401
