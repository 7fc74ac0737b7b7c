"""Charge rules CRUD in the fees service: the real auth and fees apps in-process,
the real database and broker, principals as the gateway would sign them.

System rules apply to every merchant, and other tests in this run quote against
the same database, so every rule made here has a category of its own.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import orjson
import pytest

from services.fees.app import build_spec
from services.fees.rules_cache import RULES
from shared.events import Topology
from shared.http.app import create_app
from shared.principal import HEADER, Principal, sign
from tests.conftest import serve
from tests.support.auth import auth_client, make_company_admin, make_merchant, make_super
from tests.support.broker import EventTap
from tests.support.net import free_port
from tests.support.poll import poll_until

MERCHANT_CHARGES = "/api/v1/merchant/charges"
SYSTEM_CHARGES = "/api/v1/system/charges"


@pytest.fixture(scope="module")
async def auth(settings):
    async with auth_client(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def fees(settings, auth):
    s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.port}"})
    async with serve(create_app(s, build_spec(s))) as client:
        yield client


@pytest.fixture
def category(unique):
    return f"TEST_{unique.upper()}"


def rule(category: str, **overrides) -> dict:
    """The seed's merchant charge body, without the merchant."""
    return {"chargeType": "PERCENTAGE", "chargeSource": "MERCHANT", "chargeCategory": category,
            "status": "ACTIVE", "currency": "USD", "value": Decimal("1.5"),
            "statementNarration": "Merchant transaction fee", "minThreshold": 0,
            "maxThreshold": 1000000000, "plAccount": "MERCHANT_CHARGE_001", **overrides}


def body_of(payload: dict) -> bytes:
    """JSON with Decimals written as they are (1.5 stays 1.5, never a float)."""
    return orjson.dumps(payload, default=lambda d: orjson.Fragment(f"{d:f}".encode()))


async def send(client, method: str, path: str, account=None, settings=None, *,
               json: dict | None = None, headers: dict | None = None, raw: bytes | None = None):
    h = dict(headers or {})
    if account is not None:
        h.update(account.headers(settings))
    data = raw if raw is not None else (None if json is None else body_of(json))
    if data is not None:
        h["Content-Type"] = "application/json"
    return await client.request(method, path, data=data, headers=h)


def key_headers(settings, merchant) -> dict:
    """What the gateway signs for a request made with the merchant's API key."""
    who = Principal(kind="api_key", subject="key_test", role="MERCHANT",
                    company_id=str(merchant.company_id), merchant_id=str(merchant.merchant_id))
    return {HEADER: sign(who, settings)}


def tap(settings, *keys: str) -> EventTap:
    return EventTap(settings.amqp_url, Topology(settings.events_namespace), list(keys))


async def created(resp) -> dict:
    assert resp.status == 201, await resp.text()
    return (await resp.json())["data"]


async def merchant_charge(fees, settings, admin, merchant, category, **overrides) -> dict:
    return await created(await send(
        fees, "POST", f"{MERCHANT_CHARGES}/add", admin, settings,
        json={"merchantUserName": merchant.email, **rule(category, **overrides)}))


async def system_charge(fees, settings, root, category, **overrides) -> dict:
    return await created(await send(
        fees, "POST", f"{SYSTEM_CHARGES}/add", root, settings,
        json=rule(category, chargeSource="SYSTEM", **overrides)))


# System charges --------------------------------------------------------------------

async def test_super_creates_updates_and_deletes_a_system_charge(settings, fees, category):
    root = await make_super(settings)
    charge = await system_charge(fees, settings, root, category, value=Decimal("2.5"))
    assert (charge["scope"], charge["merchantId"], charge["merchantUserName"],
            charge["chargeSource"], charge["value"]) == ("SYSTEM", None, None, "SYSTEM", 2.5)
    path = f"{SYSTEM_CHARGES}/{charge['chargeId']}"

    changed = await send(fees, "PUT", path, root, settings,
                         json=rule(category, chargeSource="system", status="INACTIVE",
                                   chargeType="FLAT", value=Decimal("0.50")))
    assert changed.status == 200
    data = (await changed.json())["data"]
    assert (data["chargeId"], data["status"], data["chargeType"], data["chargeSource"],
            data["value"]) == (charge["chargeId"], "INACTIVE", "FLAT", "SYSTEM", 0.5)

    gone = await send(fees, "DELETE", path, root, settings)
    assert gone.status == 200
    listed = await send(fees, "GET", f"{SYSTEM_CHARGES}?chargeCategory={category}&per_page=100",
                        root, settings)
    assert (await listed.json())["data"] == []
    again = await send(fees, "DELETE", path, root, settings)
    assert again.status == 404


async def test_only_a_super_user_writes_system_charges(settings, fees, category):
    root, admin = await make_super(settings), await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    charge = await system_charge(fees, settings, root, category)
    path = f"{SYSTEM_CHARGES}/{charge['chargeId']}"
    for caller in (admin, merchant):
        answers = [
            (await send(fees, "POST", f"{SYSTEM_CHARGES}/add", caller, settings,
                        json=rule(category))).status,
            (await send(fees, "PUT", path, caller, settings, json=rule(category))).status,
            (await send(fees, "DELETE", path, caller, settings)).status,
        ]
        assert answers == [403, 403, 403], caller.role
    with_key = await send(fees, "DELETE", path, headers=key_headers(settings, merchant))
    anonymous = await send(fees, "POST", f"{SYSTEM_CHARGES}/add", json=rule(category))
    assert (with_key.status, anonymous.status) == (401, 401)
    still = await send(fees, "GET", f"{SYSTEM_CHARGES}?chargeCategory={category}", root,
                       settings)
    assert [c["chargeId"] for c in (await still.json())["data"]] == [charge["chargeId"]]


async def test_every_signed_in_caller_reads_the_system_charges(settings, fees, category):
    root, admin = await make_super(settings), await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    charge = await system_charge(fees, settings, root, category)
    query = f"{SYSTEM_CHARGES}?chargeCategory={category.lower()}"
    for headers in (admin.headers(settings), merchant.headers(settings),
                    key_headers(settings, merchant)):
        resp = await send(fees, "GET", query, headers=headers)
        assert resp.status == 200
        body = await resp.json()
        assert [c["chargeId"] for c in body["data"]] == [charge["chargeId"]]
        assert body["pagination"] == {"page": 1, "per_page": 10, "total": 1}
    assert (await send(fees, "GET", SYSTEM_CHARGES)).status == 401


# Merchant charges ------------------------------------------------------------------

async def test_an_admin_adds_a_charge_for_its_merchant_by_user_name(settings, fees, category):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    charge = await merchant_charge(fees, settings, admin, merchant, category)
    assert (charge["scope"], charge["merchantId"], charge["merchantUserName"],
            charge["chargeType"], charge["chargeCategory"], charge["currency"],
            charge["plAccount"], charge["allowAboveAmount"]) == (
        "MERCHANT", merchant.merchant_id, merchant.email, "PERCENTAGE", category, "USD",
        "MERCHANT_CHARGE_001", False)
    conn = await asyncpg.connect(settings.dsn_of("fees"))
    try:
        row = await conn.fetchrow("SELECT company_id, value FROM charges WHERE id = $1",
                                  charge["chargeId"])
    finally:
        await conn.close()
    assert (row["company_id"], row["value"]) == (admin.company_id, Decimal("1.5"))
    mine = await send(fees, "GET", f"{MERCHANT_CHARGES}/{merchant.email}", admin, settings)
    assert [c["chargeId"] for c in (await mine.json())["data"]] == [charge["chargeId"]]


async def test_another_companys_admin_cannot_see_or_touch_the_merchants_charges(
        settings, fees, category):
    admin, stranger = await make_company_admin(settings), await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    charge = await merchant_charge(fees, settings, admin, merchant, category)
    path = f"{MERCHANT_CHARGES}/{charge['chargeId']}"
    adding = await send(fees, "POST", f"{MERCHANT_CHARGES}/add", stranger, settings,
                        json={"merchantUserName": merchant.email, **rule(category)})
    assert adding.status == 404
    assert (await adding.json())["message"] == "Merchant not found"
    answers = [
        (await send(fees, "GET", f"{MERCHANT_CHARGES}/{merchant.email}", stranger,
                    settings)).status,
        (await send(fees, "PUT", path, stranger, settings, json=rule(category))).status,
        (await send(fees, "DELETE", path, stranger, settings)).status,
    ]
    assert answers == [404, 404, 404]
    refused = await send(fees, "DELETE", path, stranger, settings)
    assert (await refused.json())["message"] == "Charge not found"
    listed = await send(fees, "GET", f"{MERCHANT_CHARGES}?per_page=100", stranger, settings)
    assert charge["chargeId"] not in [c["chargeId"] for c in (await listed.json())["data"]]
    unchanged = await send(fees, "GET", f"{MERCHANT_CHARGES}/{merchant.email}", admin, settings)
    assert [c["status"] for c in (await unchanged.json())["data"]] == ["ACTIVE"]


async def test_a_merchant_user_reads_only_its_own_charges_and_changes_none(
        settings, fees, category):
    admin = await make_company_admin(settings)
    merchant, neighbour = await make_merchant(settings, admin), await make_merchant(settings,
                                                                                    admin)
    own = await merchant_charge(fees, settings, admin, merchant, category)
    theirs = await merchant_charge(fees, settings, admin, neighbour, category)

    listed = await send(fees, "GET", f"{MERCHANT_CHARGES}?per_page=100", merchant, settings)
    assert [c["chargeId"] for c in (await listed.json())["data"]] == [own["chargeId"]]
    by_key = await send(fees, "GET", f"{MERCHANT_CHARGES}/{merchant.email}",
                        headers=key_headers(settings, merchant))
    assert [c["chargeId"] for c in (await by_key.json())["data"]] == [own["chargeId"]]
    other = await send(fees, "GET", f"{MERCHANT_CHARGES}/{neighbour.email}", merchant, settings)
    assert other.status == 404

    answers = [
        (await send(fees, "POST", f"{MERCHANT_CHARGES}/add", merchant, settings,
                    json={"merchantUserName": merchant.email, **rule(category)})).status,
        (await send(fees, "PUT", f"{MERCHANT_CHARGES}/{own['chargeId']}", merchant, settings,
                    json=rule(category))).status,
        (await send(fees, "DELETE", f"{MERCHANT_CHARGES}/{own['chargeId']}", merchant,
                    settings)).status,
        (await send(fees, "DELETE", f"{MERCHANT_CHARGES}/{theirs['chargeId']}", merchant,
                    settings)).status,
    ]
    assert answers == [403, 403, 403, 403]
    with_key = await send(fees, "DELETE", f"{MERCHANT_CHARGES}/{own['chargeId']}",
                          headers=key_headers(settings, merchant))
    assert with_key.status == 401


async def test_a_super_user_manages_any_merchants_charges(settings, fees, category):
    root, admin = await make_super(settings), await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    charge = await merchant_charge(fees, settings, root, merchant, category)
    listed = await send(fees, "GET", f"{MERCHANT_CHARGES}/{merchant.email}", root, settings)
    assert [c["chargeId"] for c in (await listed.json())["data"]] == [charge["chargeId"]]
    gone = await send(fees, "DELETE", f"{MERCHANT_CHARGES}/{charge['chargeId']}", root, settings)
    assert gone.status == 200
    after = await send(fees, "GET", f"{MERCHANT_CHARGES}/{merchant.email}", admin, settings)
    assert (await after.json())["data"] == []


async def test_an_unknown_merchant_user_name_is_404(settings, fees, category, unique):
    admin = await make_company_admin(settings)
    resp = await send(fees, "POST", f"{MERCHANT_CHARGES}/add", admin, settings,
                      json={"merchantUserName": f"nobody.{unique}@example.com",
                            **rule(category)})
    assert resp.status == 404
    assert (await resp.json())["message"] == "Merchant not found"


async def test_charge_ids_that_are_not_digits_or_of_the_other_scope_are_404(
        settings, fees, category):
    root = await make_super(settings)
    system = await system_charge(fees, settings, root, category)
    answers = [
        (await send(fees, "DELETE", f"{MERCHANT_CHARGES}/abc", root, settings)).status,
        (await send(fees, "PUT", f"{SYSTEM_CHARGES}/-1", root, settings,
                    json=rule(category))).status,
        (await send(fees, "DELETE", f"{SYSTEM_CHARGES}/99999999999999999999", root,
                    settings)).status,
        (await send(fees, "DELETE", f"{MERCHANT_CHARGES}/{system['chargeId']}", root,
                    settings)).status,
    ]
    assert answers == [404, 404, 404, 404]


async def test_a_put_replaces_every_field_but_never_the_merchant(settings, fees, category):
    admin = await make_company_admin(settings)
    merchant, neighbour = await make_merchant(settings, admin), await make_merchant(settings,
                                                                                    admin)
    charge = await merchant_charge(fees, settings, admin, merchant, category)
    path = f"{MERCHANT_CHARGES}/{charge['chargeId']}"
    replacement = {"chargeType": "FLAT", "chargeSource": "merchant",
                   "chargeCategory": category.lower(), "status": "INACTIVE", "currency": "usd",
                   "value": Decimal("1.00"), "allowAboveAmount": True}
    resp = await send(fees, "PUT", path, admin, settings,
                      json={"merchantUserName": merchant.email, **replacement})
    assert resp.status == 200
    data = (await resp.json())["data"]
    assert (data["chargeType"], data["chargeCategory"], data["currency"], data["value"],
            data["statementNarration"], data["plAccount"], data["minThreshold"],
            data["maxThreshold"], data["allowAboveAmount"], data["merchantId"]) == (
        "FLAT", category, "USD", 1, None, None, 0, None, True, merchant.merchant_id)
    moved = await send(fees, "PUT", path, admin, settings,
                       json={"merchantUserName": neighbour.email, **replacement})
    assert moved.status == 400
    assert (await moved.json())["error"]["field"] == "merchantUserName"


# Validation and rendering ----------------------------------------------------------

@pytest.mark.parametrize(("overrides", "field"), [
    ({"value": Decimal("100.01")}, "value"),
    ({"value": Decimal("-1")}, "value"),
    ({"chargeType": "FLAT", "value": Decimal("1.234")}, "value"),
    ({"minThreshold": 500, "maxThreshold": 100}, "minThreshold"),
    ({"currency": "XYZ"}, "currency"),
    ({"allowAboveAmount": True}, "allowAboveAmount"),
    ({"maxThreshold": Decimal("10.001")}, "maxThreshold"),
    ({"chargeSource": "X" * 51}, "chargeSource"),
    ({"chargeType": "TIERED"}, "chargeType"),
])
async def test_an_invalid_rule_is_a_400_naming_the_field(settings, fees, category, overrides,
                                                         field):
    root = await make_super(settings)
    resp = await send(fees, "POST", f"{SYSTEM_CHARGES}/add", root, settings,
                      json=rule(category, **overrides))
    assert resp.status == 400
    body = await resp.json()
    assert (body["error"]["code"], body["error"]["field"]) == ("validation_error", field)
    assert body["message"].startswith(f"{field}: ")
    listed = await send(fees, "GET", f"{SYSTEM_CHARGES}?chargeCategory={category}", root,
                        settings)
    assert (await listed.json())["data"] == []


async def test_a_put_is_validated_like_a_create(settings, fees, category):
    root = await make_super(settings)
    charge = await system_charge(fees, settings, root, category)
    resp = await send(fees, "PUT", f"{SYSTEM_CHARGES}/{charge['chargeId']}", root, settings,
                      json=rule(category, value=Decimal("101")))
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == "value"


async def test_amounts_are_rendered_without_trailing_zeros_or_exponents(
        settings, fees, category):
    root = await make_super(settings)
    raw = (b'{"chargeType": "PERCENTAGE", "chargeSource": "SYSTEM", "chargeCategory": "'
           + category.encode() + b'", "status": "ACTIVE", "currency": "USD",'
           b' "value": 1.500, "minThreshold": 0.00, "maxThreshold": 1E+9}')
    resp = await send(fees, "POST", f"{SYSTEM_CHARGES}/add", root, settings, raw=raw)
    assert resp.status == 201
    text = await resp.text()
    assert '"value":1.5,' in text
    assert '"minThreshold":0,' in text and '"maxThreshold":1000000000,' in text

    wei = await system_charge(fees, settings, root, category, chargeType="FLAT",
                              currency="NOR", value=Decimal("0.000000000000000001"),
                              minThreshold=Decimal("1.5"), maxThreshold=None)
    listed = await send(fees, "GET", f"{SYSTEM_CHARGES}?currency=nor&chargeCategory={category}",
                        root, settings)
    text = await listed.text()
    assert f'"chargeId":{wei["chargeId"]},' in text
    assert '"value":0.000000000000000001,' in text and '"minThreshold":1.5,' in text
    assert '"maxThreshold":null' in text


async def test_lists_filter_by_currency_status_and_category_and_page(settings, fees, category):
    root = await make_super(settings)
    made = [await system_charge(fees, settings, root, category, currency=cur, status=status)
            for cur, status in (("USD", "ACTIVE"), ("USD", "INACTIVE"), ("ZWG", "ACTIVE"))]

    async def ids(query: str) -> list[int]:
        resp = await send(fees, "GET", f"{SYSTEM_CHARGES}?chargeCategory={category}&{query}",
                          root, settings)
        assert resp.status == 200
        return [c["chargeId"] for c in (await resp.json())["data"]]

    assert await ids("currency=USD") == [made[0]["chargeId"], made[1]["chargeId"]]
    assert await ids("status=inactive") == [made[1]["chargeId"]]
    assert await ids("currency=ZWG&status=ACTIVE") == [made[2]["chargeId"]]
    second = await send(fees, "GET", f"{SYSTEM_CHARGES}?chargeCategory={category}"
                        "&page=2&per_page=2", root, settings)
    body = await second.json()
    assert [c["chargeId"] for c in body["data"]] == [made[2]["chargeId"]]
    assert body["pagination"] == {"page": 2, "per_page": 2, "total": 3}
    bad = await send(fees, "GET", f"{SYSTEM_CHARGES}?currency=XYZ", root, settings)
    assert (bad.status, (await bad.json())["error"]["field"]) == (400, "currency")


# Events and the rule cache ---------------------------------------------------------

async def test_each_change_publishes_its_charge_event(settings, fees, category):
    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    async with tap(settings, "charge.created", "charge.updated", "charge.deleted") as events:
        charge = await merchant_charge(fees, settings, admin, merchant, category)
        path = f"{MERCHANT_CHARGES}/{charge['chargeId']}"
        assert (await send(fees, "PUT", path, admin, settings,
                           json=rule(category, status="INACTIVE"))).status == 200
        assert (await send(fees, "DELETE", path, admin, settings)).status == 200

        async def mine():
            found = [e for e in events.events if e.data.get("chargeId") == charge["chargeId"]]
            return found if len(found) == 3 else None

        found = await poll_until(mine, what="three charge events")
    by_type = {e.type: e for e in found}
    assert set(by_type) == {"charge.created", "charge.updated", "charge.deleted"}
    assert by_type["charge.updated"].data == {
        "chargeId": charge["chargeId"], "scope": "MERCHANT", "merchantId": merchant.merchant_id,
        "currency": "USD", "chargeCategory": category, "status": "INACTIVE"}
    for event in found:
        assert (event.producer, event.company_id, event.merchant_id) == (
            "fees", str(admin.company_id), str(merchant.merchant_id))


async def test_the_rule_cache_gains_an_active_rule_and_loses_a_deleted_one(
        settings, fees, category):
    root = await make_super(settings)
    cache = fees.app[RULES]
    charge = await system_charge(fees, settings, root, category)
    inactive = await system_charge(fees, settings, root, category, status="INACTIVE")

    def cached() -> set[int]:
        return {r.id for r in cache.rules if r.category == category}

    async def has_active():
        return cached() == {charge["chargeId"]}

    await poll_until(has_active, what="the created rule in the cache")
    assert inactive["chargeId"] not in cached()
    gone = await send(fees, "DELETE", f"{SYSTEM_CHARGES}/{charge['chargeId']}", root, settings)
    assert gone.status == 200

    async def lost():
        return not cached()

    await poll_until(lost, what="the deleted rule gone from the cache")


async def test_auth_being_down_is_a_502_naming_it(settings, auth, category):
    admin = await make_company_admin(settings)
    s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{free_port()}"})
    async with serve(create_app(s, build_spec(s))) as fees:
        resp = await send(fees, "POST", f"{MERCHANT_CHARGES}/add", admin, settings,
                          json={"merchantUserName": "someone@example.com", **rule(category)})
        assert resp.status == 502
        body = await resp.json()
        assert (body["error"]["code"], body["message"]) == (
            "upstream_unavailable", "The auth service is unavailable; retry later")
