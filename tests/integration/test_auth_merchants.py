"""Merchant management in the auth service, against the real database and broker."""

from __future__ import annotations

import re

import asyncpg
import pytest

from shared.events import Topology
from tests.support.auth import PASSWORD, auth_client, make_company_admin, make_merchant, make_super
from tests.support.broker import EventTap
from tests.support.poll import poll_until

PUBLIC_URL = "https://pay.example.com"


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings, public_url=PUBLIC_URL) as client:
        yield client


def merchant_body(unique: str, **overrides) -> dict:
    body = {
        "merchantName": "ABC Store", "merchantAddress": "456 Commerce Ave, Harare",
        "merchantPhone": "263771234570", "merchantEmail": f"store.{unique}@abcstore.com",
        "merchantCountry": "Zimbabwe", "merchantCity": "Harare",
        "merchantWebsite": "www.abcstore.com", "merchantDescription": "Online retail store",
        "returnUrl": "https://abcstore.com/payment/return",
        "webServiceUrl": "https://api.abcstore.com/webhook",
    }
    return {**body, **overrides}


async def db_row(settings, sql: str, *args):
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


def tap(settings, *keys: str) -> EventTap:
    return EventTap(settings.amqp_url, Topology(settings.events_namespace), list(keys))


async def test_a_new_merchant_is_in_development_and_its_login_is_invited_by_email(
        settings, auth, unique):
    admin = await make_company_admin(settings)
    body = merchant_body(unique)
    async with tap(settings, "email.requested", "merchant.created", "user.created") as events:
        resp = await auth.post("/api/v1/admin/create-merchant-account", json=body,
                               headers=admin.headers(settings))
        assert resp.status == 201, await resp.text()
        created = await resp.json()
        await poll_until(lambda: _types(events, body["merchantEmail"]), timeout=10,
                         what="merchant events")
    assert created["message"] == "Merchant account created successfully."
    data = created["data"]
    assert set(data) == {"merchantId", "merchantName", "merchantEmail", "merchantUid"}
    assert (data["merchantName"], data["merchantEmail"]) == ("ABC Store", body["merchantEmail"])
    assert re.fullmatch(r"[0-9a-f-]{36}", data["merchantUid"])

    merchant = (await (await auth.get(f"/api/v1/admin/merchants/{data['merchantId']}",
                                      headers=admin.headers(settings))).json())["data"]
    assert (merchant["status"], merchant["ratePlan"], merchant["companyId"]) == \
        ("DEVELOPMENT", "STARTER", admin.company_id)
    assert merchant["returnUrl"] == body["returnUrl"] and "secret" not in merchant

    user = await db_row(settings, "SELECT * FROM users WHERE email = $1", body["merchantEmail"])
    assert (user["role"], user["enabled"], user["merchant_id"], user["company_id"]) == \
        ("MERCHANT", False, data["merchantId"], admin.company_id)
    assert (user["first_name"], user["last_name"]) == ("ABC", "Store")
    assert user["password_hash"].startswith("$argon2id$")

    [mail] = [e for e in events.events if e.type == "email.requested"]
    assert f"{PUBLIC_URL}/console/accept-invitation#token=" in mail.data["text"]
    assert re.search(r"Invitation code: \S+", mail.data["text"])
    [event] = [e for e in events.events if e.type == "merchant.created"]
    assert event.merchant_id == str(data["merchantId"])
    assert event.company_id == str(admin.company_id)


async def _types(events: EventTap, email: str) -> bool:
    mailed = any(e.type == "email.requested" and e.data["to"] == [email] for e in events.events)
    return mailed and {"merchant.created", "user.created"} <= {e.type for e in events.events}


async def invite(settings, auth, admin, body: dict) -> tuple[int, str]:
    """Create a merchant; its id and the invitation code, read from the e-mail event."""
    async with tap(settings, "email.requested") as events:
        resp = await auth.post("/api/v1/admin/create-merchant-account", json=body,
                               headers=admin.headers(settings))
        assert resp.status == 201, await resp.text()
        email = body["merchantEmail"]
        await poll_until(lambda: _mail_to(events, email), timeout=10, what="invitation")
    [mail] = [e for e in events.events if e.data["to"] == [body["merchantEmail"]]]
    code = re.search(r"Invitation code: (\S+)", mail.data["text"]).group(1)
    return (await resp.json())["data"]["merchantId"], code


async def _mail_to(events: EventTap, email: str) -> bool:
    return any(e.data.get("to") == [email] for e in events.events)


async def test_accepting_the_invitation_lets_the_merchant_sign_in(settings, auth, unique):
    admin = await make_company_admin(settings)
    body = merchant_body(unique)
    merchant_id, code = await invite(settings, auth, admin, body)
    sign_in = {"email": body["merchantEmail"], "password": PASSWORD}
    assert (await auth.post("/api/v1/auth/sign-in", json=sign_in)).status == 401

    accepted = await auth.post("/api/v1/auth/accept-invitation",
                               json={"token": code, "password": PASSWORD})
    assert accepted.status == 200, await accepted.text()
    session = await auth.post("/api/v1/auth/sign-in", json=sign_in)
    assert session.status == 200, await session.text()
    assert (await session.json())["role"] == "MERCHANT"
    again = await auth.post("/api/v1/auth/accept-invitation",
                            json={"token": code, "password": PASSWORD})
    assert (await again.json())["error"]["code"] == "invalid_confirmation_token"
    user = await db_row(settings, "SELECT merchant_id FROM users WHERE email = $1",
                        body["merchantEmail"])
    assert user["merchant_id"] == merchant_id


async def test_a_merchant_email_already_used_by_a_user_is_409_and_creates_nothing(
        settings, auth, unique):
    admin = await make_company_admin(settings)
    body = merchant_body(unique, merchantEmail=admin.email.upper())
    resp = await auth.post("/api/v1/admin/create-merchant-account", json=body,
                           headers=admin.headers(settings))
    assert resp.status == 409
    assert (await resp.json())["error"] | {"request_id": None} == {
        "code": "email_taken", "message": "An account with this e-mail already exists",
        "field": "merchantEmail", "request_id": None}
    count = await db_row(settings, "SELECT count(*) AS n FROM merchants WHERE company_id = $1",
                         admin.company_id)
    assert count["n"] == 0


async def test_a_super_user_names_the_company_of_a_new_merchant(settings, auth, unique):
    admin, root = await make_company_admin(settings), await make_super(settings)
    missing = await auth.post("/api/v1/admin/create-merchant-account",
                              json=merchant_body(unique), headers=root.headers(settings))
    assert missing.status == 400 and (await missing.json())["error"]["field"] == "companyId"
    resp = await auth.post("/api/v1/admin/create-merchant-account",
                           json=merchant_body(unique, companyId=admin.company_id,
                                              ratePlan="ENTERPRISE"),
                           headers=root.headers(settings))
    assert resp.status == 201, await resp.text()
    row = await db_row(settings, "SELECT company_id, rate_plan FROM merchants WHERE id = $1",
                       (await resp.json())["data"]["merchantId"])
    assert tuple(row) == (admin.company_id, "ENTERPRISE")


@pytest.mark.parametrize("overrides,field", [
    ({"merchantEmail": "nope"}, "merchantEmail"),
    ({"ratePlan": "GOLD"}, "ratePlan"),
    ({"returnUrl": "javascript:alert(1)"}, "returnUrl"),
    ({"merchantName": ""}, "merchantName"),
    ({"status": "ACTIVE"}, "status"),
])
async def test_bad_merchant_input_is_400_naming_the_field(settings, auth, unique, overrides,
                                                           field):
    admin = await make_company_admin(settings)
    resp = await auth.post("/api/v1/admin/create-merchant-account",
                           json=merchant_body(unique, **overrides),
                           headers=admin.headers(settings))
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == field


async def test_merchant_users_and_anonymous_callers_cannot_create_merchants(
        settings, auth, unique):
    merchant = await make_merchant(settings, await make_company_admin(settings))
    path = "/api/v1/admin/create-merchant-account"
    assert (await auth.post(path, json=merchant_body(unique),
                            headers=merchant.headers(settings))).status == 403
    assert (await auth.post(path, json=merchant_body(unique))).status == 401


async def test_the_list_filters_by_status_country_city_and_search_and_pages(settings, auth):
    admin = await make_company_admin(settings)
    harare = await make_merchant(settings, admin, name="Harare Books", country="Zimbabwe",
                                 city="Harare", status="ACTIVE")
    bulawayo = await make_merchant(settings, admin, name="Bulawayo Books", country="Zimbabwe",
                                   city="Bulawayo")
    lusaka = await make_merchant(settings, admin, name="Lusaka 100%_Shoes", country="Zambia",
                                 city="Lusaka")

    async def ids(query: str) -> list[int]:
        resp = await auth.get(f"/api/v1/admin/merchants?{query}",
                              headers=admin.headers(settings))
        assert resp.status == 200, await resp.text()
        return [m["merchantId"] for m in (await resp.json())["data"]]

    assert await ids("") == [harare.merchant_id, bulawayo.merchant_id, lusaka.merchant_id]
    assert await ids("status=ACTIVE") == [harare.merchant_id]
    assert await ids("status=development") == [bulawayo.merchant_id, lusaka.merchant_id]
    assert await ids("country=zimbabwe") == [harare.merchant_id, bulawayo.merchant_id]
    assert await ids("city=Lusaka") == [lusaka.merchant_id]
    assert await ids("search=books") == [harare.merchant_id, bulawayo.merchant_id]
    assert await ids(f"search={bulawayo.email.split('@')[0]}") == [bulawayo.merchant_id]
    assert await ids("search=100%25_") == [lusaka.merchant_id]
    assert await ids("search=a%25b") == []  # % is a character here, not a wildcard

    page = await (await auth.get("/api/v1/admin/merchants?page=2&per_page=2",
                                 headers=admin.headers(settings))).json()
    assert page["pagination"] == {"page": 2, "per_page": 2, "total": 3}
    assert [m["merchantId"] for m in page["data"]] == [lusaka.merchant_id]
    assert set(page["data"][0]) == {
        "merchantId", "merchantUid", "merchantName", "merchantEmail", "merchantAddress",
        "merchantPhone", "merchantCountry", "merchantCity", "merchantWebsite",
        "merchantDescription", "returnUrl", "webServiceUrl", "paymentMethods", "logoUrl",
        "accentColor", "status", "isDefault",
        "ratePlan", "companyId", "createdAt", "updatedAt"}
    bad = await auth.get("/api/v1/admin/merchants?status=LIVE", headers=admin.headers(settings))
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "status"


async def test_a_merchant_user_sees_only_its_own_merchant(settings, auth):
    admin = await make_company_admin(settings)
    mine, other = await make_merchant(settings, admin), await make_merchant(settings, admin)
    resp = await (await auth.get("/api/v1/admin/merchants",
                                 headers=mine.headers(settings))).json()
    assert [m["merchantId"] for m in resp["data"]] == [mine.merchant_id]
    assert resp["pagination"]["total"] == 1
    sibling = await auth.get(f"/api/v1/admin/merchants/{other.merchant_id}",
                             headers=mine.headers(settings))
    assert sibling.status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_activate_and_inactivate_accept_post_put_and_patch(settings, auth, method):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    base = f"/api/v1/admin/merchants/{merchant.merchant_id}"
    async with tap(settings, "merchant.activated", "merchant.inactivated") as events:
        for action, status in (("activate", "ACTIVE"), ("inactivate", "INACTIVE"),
                               ("inactivate", "INACTIVE")):
            resp = await auth.request(method, f"{base}/{action}", headers=admin.headers(settings))
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["data"]["status"] == status
        await poll_until(lambda: _count(events, merchant.merchant_id, 2), timeout=10,
                         what="status events")
    mine = [e for e in events.events if e.data["merchantId"] == merchant.merchant_id]
    assert [(e.type, e.data) for e in mine] == [  # the repeated inactivate changed nothing
        ("merchant.activated", {"merchantId": merchant.merchant_id, "status": "ACTIVE"}),
        ("merchant.inactivated", {"merchantId": merchant.merchant_id, "status": "INACTIVE"})]
    refused = await auth.request(method, f"{base}/activate", headers=merchant.headers(settings))
    assert refused.status == 403


async def _count(events: EventTap, merchant_id: int, n: int) -> bool:
    return len([e for e in events.events if e.data["merchantId"] == merchant_id]) >= n


async def test_patch_changes_only_the_settings_sent(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin, country="Zimbabwe", city="Harare")
    resp = await auth.patch(f"/api/v1/admin/merchants/{merchant.merchant_id}",
                            json={"returnUrl": "https://shop.example/back", "merchantCity": None,
                                  "ratePlan": "PROFESSIONAL"},
                            headers=admin.headers(settings))
    assert resp.status == 200, await resp.text()
    data = (await resp.json())["data"]
    assert (data["returnUrl"], data["merchantCity"], data["merchantCountry"],
            data["ratePlan"]) == ("https://shop.example/back", None, "Zimbabwe", "PROFESSIONAL")
    null_name = await auth.patch(f"/api/v1/admin/merchants/{merchant.merchant_id}",
                                 json={"merchantName": None}, headers=admin.headers(settings))
    assert (await null_name.json())["error"]["field"] == "merchantName"


async def test_put_replaces_the_settings_and_clears_absent_ones(settings, auth, unique):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin, country="Zimbabwe", city="Harare")
    resp = await auth.put(f"/api/v1/admin/merchants/{merchant.merchant_id}",
                          json={"merchantName": "Renamed", "merchantEmail": f"r.{unique}@x.com",
                                "webServiceUrl": "https://shop.example/hook"},
                          headers=admin.headers(settings))
    assert resp.status == 200, await resp.text()
    data = (await resp.json())["data"]
    assert (data["merchantName"], data["webServiceUrl"], data["merchantCountry"],
            data["ratePlan"]) == ("Renamed", "https://shop.example/hook", None, "STARTER")


async def test_a_merchant_user_edits_its_settings_but_not_its_rate_plan(settings, auth):
    merchant = await make_merchant(settings, await make_company_admin(settings))
    path = f"/api/v1/admin/merchants/{merchant.merchant_id}"
    same = await auth.patch(path, json={"ratePlan": "STARTER", "merchantCity": "Mutare"},
                            headers=merchant.headers(settings))
    assert same.status == 200 and (await same.json())["data"]["merchantCity"] == "Mutare"
    upgrade = await auth.patch(path, json={"ratePlan": "ENTERPRISE"},
                               headers=merchant.headers(settings))
    assert upgrade.status == 403 and (await upgrade.json())["error"]["field"] == "ratePlan"
    row = await db_row(settings, "SELECT rate_plan FROM merchants WHERE id = $1",
                       merchant.merchant_id)
    assert row["rate_plan"] == "STARTER"


async def test_the_merchant_secret_is_readable_and_regenerates(settings, auth):
    admin = await make_company_admin(settings)
    merchant, sibling = await make_merchant(settings, admin), await make_merchant(settings, admin)
    path = f"/api/v1/admin/merchant/secret/{merchant.merchant_id}"
    by_admin = (await (await auth.get(path, headers=admin.headers(settings))).json())["data"]
    by_self = (await (await auth.get(path, headers=merchant.headers(settings))).json())["data"]
    assert by_admin == by_self and len(by_admin["secret"]) >= 40
    fresh = await auth.post(f"{path}/regenerate", headers=merchant.headers(settings))
    assert fresh.status == 200
    new_secret = (await fresh.json())["data"]["secret"]
    assert new_secret != by_admin["secret"]
    now = (await (await auth.get(path, headers=admin.headers(settings))).json())["data"]
    assert now["secret"] == new_secret
    stored = await db_row(settings, "SELECT secret FROM merchants WHERE id = $1",
                          merchant.merchant_id)
    assert new_secret not in stored["secret"]  # sealed at rest
    assert (await auth.get(path, headers=sibling.headers(settings))).status == 404
    assert (await auth.post(f"{path}/regenerate",
                            headers=sibling.headers(settings))).status == 404


@pytest.mark.parametrize("raw", ["abc", "1e3", "-1", "99999999999999999999"])
async def test_merchant_ids_that_are_not_digits_are_404(settings, auth, raw):
    admin = await make_company_admin(settings)
    resp = await auth.get(f"/api/v1/admin/merchants/{raw}", headers=admin.headers(settings))
    assert resp.status == 404
    assert (await resp.json())["error"]["message"] == "Merchant not found"


async def test_payment_methods_narrow_what_the_merchant_offers(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    path = f"/api/v1/admin/merchants/{merchant.merchant_id}"
    got = await auth.get(path, headers=admin.headers(settings))
    assert (await got.json())["data"]["paymentMethods"] is None  # every method
    resp = await auth.patch(path, json={"paymentMethods": ["VISA_MASTER", "OMARI"]},
                            headers=admin.headers(settings))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"]["paymentMethods"] == ["VISA_MASTER", "OMARI"]
    for bad in (["PAYPAL"], [], ["OMARI", "OMARI"]):
        resp = await auth.patch(path, json={"paymentMethods": bad},
                                headers=admin.headers(settings))
        assert resp.status == 400
        assert (await resp.json())["error"]["field"].startswith("paymentMethods")
    resp = await auth.patch(path, json={"paymentMethods": None}, headers=admin.headers(settings))
    assert (await resp.json())["data"]["paymentMethods"] is None
