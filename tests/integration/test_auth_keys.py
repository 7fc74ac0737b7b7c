"""Merchant API keys and the gateway's internal lookup, against the real database."""

from __future__ import annotations

import re

import asyncpg
import pytest

from shared.crypto import base62, sha256_hex
from shared.events import Topology
from tests.support.auth import (
    auth_client,
    make_company_admin,
    make_merchant,
    make_super,
    service_headers,
)
from tests.support.broker import EventTap
from tests.support.poll import poll_until

VERIFY = "/internal/api-keys/verify"


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings) as client:
        yield client


async def create_key(settings, auth, who, **body) -> dict:
    resp = await auth.post("/api/v1/api-keys", json=body, headers=who.headers(settings))
    assert resp.status == 201, await resp.text()
    return (await resp.json())["data"]


async def verify(settings, auth, key: str):
    return await auth.post(VERIFY, json={"key": key}, headers=service_headers(settings))


async def fetch(settings, sql: str, *args):
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_a_new_key_is_shown_once_and_stored_only_as_its_hash(settings, auth):
    merchant = await make_merchant(settings, await make_company_admin(settings))
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["api_key.created"]) as tap:
        created = await create_key(settings, auth, merchant, name="shop backend")
        await poll_until(lambda: _has(tap, created["keyId"]), timeout=10, what="key event")
    key = created["key"]
    assert re.fullmatch(r"nk_test_[A-Za-z0-9]{40}", key)  # test unless asked for live
    # The prefix shows the mode and 8 of the random characters.
    assert created["prefix"] == key[:16] and re.fullmatch(r"key_[A-Za-z0-9]{22}",
                                                          created["keyId"])
    assert (created["name"], created["merchantId"], created["appId"], created["mode"]) == \
        ("shop backend", merchant.merchant_id, None, "test")

    rows = await fetch(settings, "SELECT k::text AS line, key_hash FROM api_keys k "
                                 "WHERE key_id = $1", created["keyId"])
    assert rows[0]["key_hash"] == sha256_hex(key)
    anywhere = await fetch(settings, "SELECT 1 FROM api_keys k WHERE position($1 in k::text) > 0",
                           key)
    assert anywhere == []
    assert all(key.encode() not in m.body for m in tap.messages)

    listed = await auth.get("/api/v1/api-keys", headers=merchant.headers(settings))
    text = await listed.text()
    assert key not in text and sha256_hex(key) not in text
    [item] = (await listed.json())["data"]
    assert item == {"keyId": created["keyId"], "prefix": created["prefix"],
                    "name": "shop backend", "merchantId": merchant.merchant_id, "appId": None,
                    "mode": "test", "createdAt": created["createdAt"], "lastUsedAt": None,
                    "revokedAt": None}


async def _has(tap: EventTap, key_id: str) -> bool:
    return any(e.data.get("keyId") == key_id for e in tap.events)


async def test_the_gateway_learns_the_merchant_plan_and_activity_of_a_key(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    created = await create_key(settings, auth, admin, merchantId=merchant.merchant_id)
    resp = await verify(settings, auth, created["key"])
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {
        "keyId": created["keyId"], "merchantId": str(merchant.merchant_id),
        "companyId": str(admin.company_id), "appId": None, "plan": "STARTER",
        "merchantActive": False, "mode": "test"}
    await auth.patch(f"/api/v1/admin/merchants/{merchant.merchant_id}",
                     json={"ratePlan": "PROFESSIONAL"}, headers=admin.headers(settings))
    await auth.post(f"/api/v1/admin/merchants/{merchant.merchant_id}/activate",
                    headers=admin.headers(settings))
    now = await (await verify(settings, auth, created["key"])).json()
    assert (now["plan"], now["merchantActive"]) == ("PROFESSIONAL", True)
    await auth.post(f"/api/v1/admin/merchants/{merchant.merchant_id}/inactivate",
                    headers=admin.headers(settings))
    # Still answered: the gateway and checkout decide what an inactive merchant may do.
    assert (await (await verify(settings, auth, created["key"])).json())["merchantActive"] \
        is False


async def test_a_revoked_key_no_longer_verifies_and_revoking_again_changes_nothing(
        settings, auth):
    merchant = await make_merchant(settings, await make_company_admin(settings))
    created = await create_key(settings, auth, merchant)
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["api_key.revoked"]) as tap:
        first = await auth.delete(f"/api/v1/api-keys/{created['keyId']}",
                                  headers=merchant.headers(settings))
        assert first.status == 200, await first.text()
        revoked_at = (await first.json())["data"]["revokedAt"]
        second = await auth.delete(f"/api/v1/api-keys/{created['keyId']}",
                                   headers=merchant.headers(settings))
        assert second.status == 200 and (await second.json())["data"]["revokedAt"] == revoked_at
        await poll_until(lambda: _has(tap, created["keyId"]), timeout=10, what="revoke event")
    assert [e.data["keyId"] for e in tap.events].count(created["keyId"]) == 1
    gone = await verify(settings, auth, created["key"])
    assert gone.status == 404
    assert (await gone.json())["error"]["code"] == "unknown_api_key"
    assert gone.headers["X-Error-Code"] == "unknown_api_key"
    listed = (await (await auth.get("/api/v1/api-keys", headers=merchant.headers(settings)))
              .json())["data"]
    assert listed[0]["revokedAt"] == revoked_at


@pytest.mark.parametrize("key", ["nk_" + "x" * 40, "nk_test_" + "x" * 40,
                                 "nk_live_" + "x" * 40, "sk_live_123", "nk_"])
async def test_an_unknown_key_is_404(settings, auth, key):
    resp = await verify(settings, auth, key)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "unknown_api_key"


# Test and live mode (docs/modes.md) ------------------------------------------------

async def test_an_active_merchant_gets_a_live_key_when_it_asks_for_one(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin, status="ACTIVE")
    live = await create_key(settings, auth, admin, merchantId=merchant.merchant_id,
                            mode="live", name="live server")
    assert re.fullmatch(r"nk_live_[A-Za-z0-9]{40}", live["key"]), live["key"]
    assert live["mode"] == "live" and live["prefix"] == live["key"][:16]
    test = await create_key(settings, auth, merchant, mode="test")
    assert test["key"].startswith("nk_test_") and test["mode"] == "test"
    found = await (await verify(settings, auth, live["key"])).json()
    assert (found["keyId"], found["mode"], found["merchantActive"]) == \
        (live["keyId"], "live", True)
    assert (await (await verify(settings, auth, test["key"])).json())["mode"] == "test"
    listed = (await (await auth.get("/api/v1/api-keys", headers=merchant.headers(settings)))
              .json())["data"]
    assert {k["keyId"]: k["mode"] for k in listed} == {live["keyId"]: "live",
                                                       test["keyId"]: "test"}


@pytest.mark.parametrize("kind", [{}, {"type": "publishable",
                                       "allowedOrigins": ["https://shop.example.com"]}],
                         ids=["secret", "publishable"])
async def test_a_development_merchant_has_test_keys_only(settings, auth, kind):
    merchant = await make_merchant(settings, await make_company_admin(settings))
    resp = await auth.post("/api/v1/api-keys", json={"mode": "live", **kind},
                           headers=merchant.headers(settings))
    assert resp.status == 400, await resp.text()
    error = (await resp.json())["error"]
    assert (error["code"], error["field"]) == ("validation_error", "mode")
    assert "a DEVELOPMENT merchant has test keys only; activate it first" in error["message"]
    listed = await (await auth.get("/api/v1/api-keys", headers=merchant.headers(settings))).json()
    assert listed["data"] == []  # nothing was made
    assert (await create_key(settings, auth, merchant, **kind))["mode"] == "test"


async def test_an_inactive_merchant_may_still_be_given_keys_of_either_mode(settings, auth):
    # As before modes: key creation does not look at an inactive merchant's status; the
    # gateway and checkout decide what its keys may do (verify says merchantActive).
    merchant = await make_merchant(settings, await make_company_admin(settings),
                                   status="INACTIVE")
    live = await create_key(settings, auth, merchant, mode="live")
    assert live["key"].startswith("nk_live_") and live["mode"] == "live"


@pytest.mark.parametrize("mode", ["sandbox", "LIVE", "", None, 1])
async def test_an_unknown_mode_is_400_naming_it(settings, auth, mode):
    merchant = await make_merchant(settings, await make_company_admin(settings),
                                   status="ACTIVE")
    resp = await auth.post("/api/v1/api-keys", json={"mode": mode},
                           headers=merchant.headers(settings))
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"]["field"] == "mode"


async def test_a_key_made_before_modes_still_verifies_as_a_test_key(settings, auth):
    merchant = await make_merchant(settings, await make_company_admin(settings),
                                   status="ACTIVE")
    old = "nk_" + base62(40)  # the format before modes; the row as it was written then
    await fetch(settings, """INSERT INTO api_keys (key_id, prefix, key_hash, company_id,
                                                   merchant_id)
                             VALUES ($1, $2, $3, $4, $5)""",
                "key_" + base62(22), old[:11], sha256_hex(old), merchant.company_id,
                merchant.merchant_id)
    resp = await verify(settings, auth, old)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["mode"] == "test"
    [item] = (await (await auth.get("/api/v1/api-keys", headers=merchant.headers(settings)))
              .json())["data"]
    assert (item["prefix"], item["mode"]) == (old[:11], "test")


async def test_only_internal_services_may_verify_keys(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    key = (await create_key(settings, auth, merchant))["key"]
    for headers in (admin.headers(settings), merchant.headers(settings), await _root(settings),
                    {}):
        resp = await auth.post(VERIFY, json={"key": key}, headers=headers)
        assert resp.status == 403, headers
        assert "merchantId" not in await resp.text()


async def _root(settings) -> dict:
    return (await make_super(settings)).headers(settings)


async def test_last_use_is_recorded_at_most_once_a_minute(settings, auth):
    merchant = await make_merchant(settings, await make_company_admin(settings))
    created = await create_key(settings, auth, merchant)

    async def last_used():
        rows = await fetch(settings, "SELECT last_used_at FROM api_keys WHERE key_id = $1",
                           created["keyId"])
        return rows[0]["last_used_at"]

    assert (await verify(settings, auth, created["key"])).status == 200
    first = await last_used()
    assert first is not None
    assert (await verify(settings, auth, created["key"])).status == 200
    assert await last_used() == first
    await fetch(settings, "UPDATE api_keys SET last_used_at = last_used_at - interval '61 s' "
                          "WHERE key_id = $1", created["keyId"])
    assert (await verify(settings, auth, created["key"])).status == 200
    assert await last_used() > first
    listed = (await (await auth.get("/api/v1/api-keys", headers=merchant.headers(settings)))
              .json())["data"]
    assert listed[0]["lastUsedAt"] is not None


async def test_an_admin_names_a_merchant_of_its_own_company(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    stranger = await make_merchant(settings, await make_company_admin(settings))
    missing = await auth.post("/api/v1/api-keys", json={}, headers=admin.headers(settings))
    assert missing.status == 400 and (await missing.json())["error"]["field"] == "merchantId"
    foreign = await auth.post("/api/v1/api-keys", json={"merchantId": stranger.merchant_id},
                              headers=admin.headers(settings))
    assert foreign.status == 404
    assert (await create_key(settings, auth, admin, merchantId=merchant.merchant_id))[
        "merchantId"] == merchant.merchant_id
    root = await make_super(settings)
    assert (await create_key(settings, auth, root, merchantId=stranger.merchant_id))[
        "merchantId"] == stranger.merchant_id


async def test_a_key_scoped_to_an_app_reports_the_app(settings, auth):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    app = await auth.post("/api/v1/apps", json={"name": "Storefront"},
                          headers=admin.headers(settings))
    app_id = (await app.json())["data"]["id"]
    created = await create_key(settings, auth, merchant, appId=app_id)
    assert created["appId"] == app_id
    assert (await (await verify(settings, auth, created["key"])).json())["appId"] == app_id
    other_company_app = await auth.post(
        "/api/v1/apps", json={"name": "Elsewhere"},
        headers=(await make_company_admin(settings)).headers(settings))
    foreign = await auth.post("/api/v1/api-keys",
                              json={"appId": (await other_company_app.json())["data"]["id"]},
                              headers=merchant.headers(settings))
    assert foreign.status == 404 and (await foreign.json())["error"]["message"] == \
        "App not found"


async def test_lists_are_scoped_and_paged(settings, auth):
    admin = await make_company_admin(settings)
    one, two = await make_merchant(settings, admin), await make_merchant(settings, admin)
    for who in (one, one, two):
        await create_key(settings, auth, who)
    mine = await (await auth.get("/api/v1/api-keys", headers=one.headers(settings))).json()
    assert {k["merchantId"] for k in mine["data"]} == {one.merchant_id}
    company = await (await auth.get("/api/v1/api-keys?per_page=2&page=2",
                                    headers=admin.headers(settings))).json()
    assert company["pagination"] == {"page": 2, "per_page": 2, "total": 3}
    only_two = await (await auth.get(f"/api/v1/api-keys?merchantId={two.merchant_id}",
                                     headers=admin.headers(settings))).json()
    assert [k["merchantId"] for k in only_two["data"]] == [two.merchant_id]


@pytest.mark.parametrize("key_id", ["abc", "key_short", "key_" + "a" * 23])
async def test_malformed_key_ids_are_404(settings, auth, key_id):
    merchant = await make_merchant(settings, await make_company_admin(settings))
    resp = await auth.delete(f"/api/v1/api-keys/{key_id}", headers=merchant.headers(settings))
    assert resp.status == 404
