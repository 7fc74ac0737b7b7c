"""Merchants of one company share the company's apps, never each other's prices and
triggers (issue 19 item 9): against the real auth, fees and checkout services, with the
principals the gateway signs (a session and an API key)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from shared.principal import HEADER, Principal, sign
from tests.integration.test_price_checkout import _open, _pay_by_card
from tests.integration.test_prices import _create, _new, _new_app, new_trigger, services
from tests.support.auth import Account, make_company_admin, make_merchant, make_super
from tests.support.poll import poll_until


@dataclass
class Company:
    checkout: TestClient
    auth: TestClient
    app: dict  # the company's shared app (made by its ADMIN: no merchant)
    admin: dict[str, str]
    a: dict[str, str]  # merchant A's session
    b: dict[str, str]  # merchant B's session
    b_key: dict[str, str]  # merchant B's API key
    super_: dict[str, str]
    merchant_b: Account


def _key_of(settings, merchant: Account, app_id: str | None = None) -> dict[str, str]:
    key = Principal(kind="api_key", role="MERCHANT", subject="key_b",
                    company_id=str(merchant.company_id), merchant_id=str(merchant.merchant_id),
                    app_id=app_id)
    return {HEADER: sign(key, settings)}


@pytest.fixture
async def company(settings):
    async with services(settings) as (auth, _fees, checkout):
        admin = await make_company_admin(settings)
        a = await make_merchant(settings, admin, status="ACTIVE")
        b = await make_merchant(settings, admin, status="ACTIVE")
        app = await _new_app(auth, settings, admin)
        yield Company(checkout, auth, app, admin.headers(settings), a.headers(settings),
                      b.headers(settings), _key_of(settings, b),
                      (await make_super(settings)).headers(settings), b)


async def _ids(client, path: str, headers) -> set[str]:
    resp = await client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    return {row["id"] for row in (await resp.json())["data"]}


async def _not_found(resp, resource: str) -> None:
    assert resp.status == 404, await resp.text()
    assert (await resp.json())["error"]["message"] == f"{resource} not found"


async def test_another_merchants_prices_are_invisible_on_the_shared_app(company):
    c, app_id = company.checkout, company.app["id"]
    mine = await _new(c, company.a, app_id, name="A's ticket", type="static")
    theirs = await _new(c, company.b, app_id, name="B's ticket")
    base = f"/prices/{app_id}"
    for b in (company.b, company.b_key):
        assert await _ids(c, base, b) == {theirs["id"]}
        assert await _ids(c, base + "?include_deleted=true", b) == {theirs["id"]}
        listed = await (await c.get(base, headers=b)).json()
        assert listed["pagination"]["total"] == 1
        await _not_found(await c.get(f"{base}/{mine['id']}", headers=b), "Price")
        await _not_found(await c.get(f"{base}/{mine['id']}/trigger-executions", headers=b),
                         "Price")
        await _not_found(await c.delete(f"{base}/{mine['id']}", headers=b), "Price")
    # A's price is untouched and A does not see B's.
    got = await c.get(f"{base}/{mine['id']}", headers=company.a)
    assert got.status == 200
    assert (await got.json())["data"]["deleted"] is False
    assert await _ids(c, base, company.a) == {mine["id"]}
    # The company's ADMIN sees both; SUPER too.
    for sees_all in (company.admin, company.super_):
        assert await _ids(c, base, sees_all) == {mine["id"], theirs["id"]}
        assert (await c.get(f"{base}/{mine['id']}", headers=sees_all)).status == 200


async def test_another_merchants_triggers_are_invisible_and_unusable(company):
    c, app_id = company.checkout, company.app["id"]
    mine = await new_trigger(c, company.a, app_id)
    theirs = await new_trigger(c, company.b, app_id)
    base = f"/triggers/{app_id}"
    for b in (company.b, company.b_key):
        assert await _ids(c, base, b) == {theirs["id"]}
        listed = await (await c.get(base, headers=b)).json()
        assert listed["pagination"]["total"] == 1
        await _not_found(await c.get(f"{base}/{mine['id']}", headers=b), "Trigger")
        await _not_found(await c.delete(f"{base}/{mine['id']}", headers=b), "Trigger")
        # B may not put A's signed fulfilment call on its own price.
        resp = await _create(c, b, app_id, trigger_id=mine["id"])
        assert resp.status == 400, await resp.text()
        error = (await resp.json())["error"]
        assert error["field"] == "trigger_id" and "no trigger" in error["message"]
    # Nothing was made, A's trigger is alive, and B's own trigger works for B.
    assert await _ids(c, f"/prices/{app_id}", company.b) == set()
    assert (await c.get(f"{base}/{mine['id']}", headers=company.a)).status == 200
    assert await _ids(c, base, company.a) == {mine["id"]}
    price = await _new(c, company.b, app_id, trigger_id=theirs["id"])
    assert price["trigger_id"] == theirs["id"]
    for sees_all in (company.admin, company.super_):
        assert await _ids(c, base, sees_all) == {mine["id"], theirs["id"]}


async def test_an_admins_price_may_not_borrow_a_merchants_trigger(company):
    """A price belongs to one merchant (or none, an ADMIN's on a shared app); its
    trigger must belong to the same one."""
    c, app_id = company.checkout, company.app["id"]
    a_trigger = await new_trigger(c, company.a, app_id)
    resp = await _create(c, company.admin, app_id, trigger_id=a_trigger["id"])
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "trigger_id"


async def test_a_merchants_own_app_stays_its_own(settings, company):
    """B's own app is invisible to A, whatever A names."""
    c = company.checkout
    b_app = await _new_app(company.auth, settings, company.merchant_b)
    price = await _new(c, company.b, b_app["id"])
    resp = await c.get(f"/prices/{b_app['id']}/{price['id']}", headers=company.a)
    await _not_found(resp, "App")
    # An API key scoped to another app reaches neither.
    scoped = _key_of(settings, company.merchant_b, app_id="app_" + "1" * 22)
    await _not_found(await c.get(f"/prices/{b_app['id']}", headers=scoped), "App")


async def test_a_price_attached_to_another_merchants_trigger_before_the_fix_never_calls_it(
        settings, company):
    """Defence in depth for rows written before prices were held to their merchant's
    triggers: B's price whose intent names A's trigger is paid, and A's call is not
    made (no execution), though the price is used up as usual."""
    c, app_id = company.checkout, company.app["id"]
    a_trigger = await new_trigger(c, company.a, app_id)
    price = await _new(c, company.b, app_id)
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        await conn.execute(
            """INSERT INTO trigger_intents (intent_id, trigger_id, price_id)
               VALUES ('ti_legacy' || substr(md5(random()::text), 1, 13), $1, $2)""",
            a_trigger["id"], price["id"])
    finally:
        await conn.close()
    pid = await _open(c, price["id"])
    await _pay_by_card(c, settings, pid)

    async def used_up():
        got = await c.get(f"/prices/{app_id}/{price['id']}", headers=company.b)
        return (await got.json())["data"]["expired"]
    await poll_until(used_up, timeout=10, what="B's price used up")
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        assert await conn.fetchval(
            "SELECT count(*) FROM trigger_executions WHERE payment_id = $1", pid) == 0
    finally:
        await conn.close()
