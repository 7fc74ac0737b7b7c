"""A merchant's settlement accounts and payout schedule (NORAH /api/v1/admin/merchants/
{merchantId}/settlement-accounts | payout-schedule, served by billing) against the real
auth and billing services, PostgreSQL and RabbitMQ; one pass through the gateway."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest
from cryptography.exceptions import InvalidTag

from services.auth import store as auth_store
from services.auth.app import build_spec as auth_spec
from services.billing import app as billing_app
from services.billing import merchant_settings_api
from services.billing import settlement_accounts_store as sa_store
from services.billing.context import ManualClock
from services.gateway.app import build_spec as gateway_spec
from shared.crypto import SecretBox, random_secret
from shared.events import Topology
from shared.http.app import create_app
from shared.principal import HEADER, Principal, sign
from tests.conftest import serve
from tests.support.auth import (
    PASSWORD,
    Account,
    make_company_admin,
    make_merchant,
    make_super,
    service_headers,
)
from tests.support.broker import EventTap
from tests.support.poll import poll_until

NUMBER = "1234567890"
PHONE = "263771234567"
# 2031-03-05 is a Wednesday.
START = datetime(2031, 3, 5, 10, 30, tzinfo=UTC)


def billing_spec(settings, *, clock=None):
    """Billing with the merchant-settings routes, whether or not app.py registers them
    yet (the lead adds the module to API_MODULES)."""
    spec = billing_app.build_spec(settings, clock=clock, run_scheduler=False)
    if merchant_settings_api in billing_app.API_MODULES:
        return spec
    base = spec.setup_routes

    def setup_routes(app):
        base(app)
        merchant_settings_api.setup_routes(app)

    return dataclasses.replace(spec, setup_routes=setup_routes,
                               docs=spec.docs + merchant_settings_api.DOCS)


@asynccontextmanager
async def settings_stack(settings, *, clock=None, gateway=False):
    """auth and billing in-process (and the gateway in front); yields (client, clock):
    billing's client, or the gateway's."""
    clock = clock or ManualClock(START)
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        async with serve(create_app(s, billing_spec(s, clock=clock))) as billing:
            if not gateway:
                yield billing, clock
                return
            s = s.model_copy(update={"billing_url": f"http://127.0.0.1:{billing.server.port}"})
            async with serve(create_app(s, gateway_spec(s))) as gw:
                yield gw, clock


@dataclasses.dataclass
class World:
    client: object
    clock: ManualClock
    admin: Account
    merchant: Account
    settings: object

    def path(self, merchant_id: int | None = None, rest: str = "settlement-accounts") -> str:
        return f"/api/v1/admin/merchants/{merchant_id or self.merchant.merchant_id}/{rest}"


@pytest.fixture
async def world(settings):
    async with settings_stack(settings) as (client, clock):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        yield World(client, clock, admin, merchant, settings)


def bank(**extra) -> dict:
    return {"type": "BANK", "currency": "USD", "bankName": "CBZ Bank", "branchCode": "6101",
            "accountName": "Shop Trading (Pvt) Ltd", "accountNumber": NUMBER, **extra}


def wallet(kind: str = "ECOCASH", **extra) -> dict:
    return {"type": kind, "currency": "USD", "phoneNumber": PHONE, **extra}


async def answer(resp, status: int = 200):
    text = await resp.text()
    assert resp.status == status, text
    body = await resp.json()
    assert body["statusCode"] == status
    return body["data"], text


async def add(w: World, body: dict, who: Account | None = None) -> dict:
    resp = await w.client.post(w.path(), json=body,
                               headers=(who or w.admin).headers(w.settings))
    data, text = await answer(resp, 201)
    for secret in (body.get("accountNumber"), body.get("phoneNumber")):
        if secret:
            assert secret not in text
    return data


async def rows(settings, merchant_id: int) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        return await conn.fetch("SELECT * FROM billing.settlement_accounts WHERE merchant_id = $1"
                                " ORDER BY id", merchant_id)
    finally:
        await conn.close()


def mails_to(tap: EventTap, email: str) -> list[dict]:
    return [e.data for e in tap.events if e.type == "email.requested" and e.data["to"] == [email]]


# Adding, masking, sealing ---------------------------------------------------------------

async def test_a_bank_account_is_added_masked_in_every_answer_and_sealed_at_rest(world):
    w = world
    made = await add(w, bank(isDefault=False))
    assert made["settlementAccountId"].startswith("sa_")
    assert (made["type"], made["currency"], made["bankName"], made["branchCode"]) == (
        "BANK", "USD", "CBZ Bank", "6101")
    assert (made["accountNumber"], made["last4"], made["phoneNumber"]) == (
        "****7890", "7890", None)
    assert made["isDefault"] is True  # the first of its currency, whatever it asked
    assert made["merchantId"] == w.merchant.merchant_id and made["deletedAt"] is None
    headers = w.admin.headers(w.settings)
    for path in (w.path(), f"{w.path()}/{made['settlementAccountId']}"):
        data, text = await answer(await w.client.get(path, headers=headers))
        assert NUMBER not in text and "****7890" in text
    listed, _ = await answer(await w.client.get(w.path(), headers=headers))
    assert listed == [made]
    [row] = await rows(w.settings, w.merchant.merchant_id)
    assert NUMBER not in row["number_sealed"] and row["number_last4"] == "7890"
    assert SecretBox(w.settings, "settlement-account").open(row["number_sealed"]) == NUMBER
    # Sealed for this purpose only: another box's key does not open it.
    with pytest.raises(InvalidTag):
        SecretBox(w.settings, "account-secrets").open(row["number_sealed"])


async def test_a_wallet_account_shows_its_phone_masked(world):
    w = world
    made = await add(w, wallet("INNBUCKS", accountName="Shop Till", currency="ZWG"))
    assert (made["type"], made["phoneNumber"], made["last4"], made["accountNumber"]) == (
        "INNBUCKS", "****4567", "4567", None)
    assert made["accountName"] == "Shop Till" and made["bankName"] is None


async def test_the_list_pages_and_filters_by_currency(world):
    w = world
    made = [await add(w, bank(accountNumber=f"10000{i}0{i}", currency=c))
            for i, c in enumerate(("USD", "ZWG", "USD"))]
    headers = w.admin.headers(w.settings)
    resp = await w.client.get(w.path(), params={"per_page": "2"}, headers=headers)
    body = await resp.json()
    assert [a["settlementAccountId"] for a in body["data"]] == [
        m["settlementAccountId"] for m in made[:2]]
    assert body["pagination"] == {"page": 1, "per_page": 2, "total": 3}
    usd, _ = await answer(await w.client.get(w.path(), params={"currency": "usd"},
                                             headers=headers))
    assert [a["currency"] for a in usd] == ["USD", "USD"]
    resp = await w.client.get(w.path(), params={"currency": "XYZ"}, headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "currency"


# Validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    (bank(accountNumber=None), "accountNumber"),
    ({k: v for k, v in bank().items() if k != "accountNumber"}, "accountNumber"),
    (bank(accountNumber="12345"), "accountNumber"),
    (bank(accountNumber="1" * 21), "accountNumber"),
    (bank(accountNumber="12-3456789"), "accountNumber"),
    (bank(accountNumber=1234567890), "accountNumber"),
    (bank(bankName=None), "bankName"),
    (bank(branchCode=None), "branchCode"),
    (bank(branchCode="61 01"), "branchCode"),
    (bank(accountName=None), "accountName"),
    (bank(phoneNumber=PHONE), "phoneNumber"),
    (bank(currency="XYZ"), "currency"),
    (bank(currency=None), "currency"),
    (bank(type="PAYPAL"), "type"),
    (bank(isDefault="yes"), "isDefault"),
    (bank(iban="ZW00123"), "iban"),
    (wallet(phoneNumber="0771234567"), "phoneNumber"),
    (wallet(phoneNumber="26377123456"), "phoneNumber"),
    (wallet(phoneNumber="+263771234567"), "phoneNumber"),
    (wallet(phoneNumber=None), "phoneNumber"),
    (wallet("OMARI", accountNumber=NUMBER), "accountNumber"),
    (wallet(bankName="CBZ"), "bankName"),
])
async def test_bad_input_is_a_400_naming_the_field_and_never_echoing_the_number(
        world, body, field):
    w = world
    body = {k: v for k, v in body.items() if v is not None}
    resp = await w.client.post(w.path(), json=body, headers=w.admin.headers(w.settings))
    text = await resp.text()
    assert resp.status == 400, text
    error = (await resp.json())["error"]
    assert error["field"] == field and field in error["message"], error
    for secret in (NUMBER, PHONE):
        assert secret not in text
    assert await rows(w.settings, w.merchant.merchant_id) == []


# Defaults ----------------------------------------------------------------------------------

async def defaults(w: World) -> dict[str, list[str]]:
    listed, _ = await answer(await w.client.get(w.path(), params={"per_page": "100"},
                                                headers=w.admin.headers(w.settings)))
    out: dict[str, list[str]] = {}
    for a in listed:
        if a["isDefault"]:
            out.setdefault(a["currency"], []).append(a["settlementAccountId"])
    return out


async def test_one_default_per_currency(world):
    w = world
    a = await add(w, bank())
    b = await add(w, wallet(isDefault=True))
    c = await add(w, bank(currency="ZWG", isDefault=False))
    d = await add(w, wallet("OMARI", currency="ZWG"))
    assert await defaults(w) == {"USD": [b["settlementAccountId"]],
                                 "ZWG": [c["settlementAccountId"]]}
    assert d["isDefault"] is False
    # Making one the default clears the currency's other, and leaves other currencies be.
    body = {k: v for k, v in bank(isDefault=True).items() if k != "accountNumber"}
    changed, _ = await answer(await w.client.put(
        f"{w.path()}/{a['settlementAccountId']}", json=body,
        headers=w.admin.headers(w.settings)))
    assert changed["isDefault"] is True and changed["last4"] == "7890"  # number kept
    assert await defaults(w) == {"USD": [a["settlementAccountId"]],
                                 "ZWG": [c["settlementAccountId"]]}
    # The only account of a currency stays its default, whatever a PUT says.
    e = await add(w, bank(currency="EUR"))
    lone = {k: v for k, v in bank(currency="EUR", isDefault=False).items()
            if k != "accountNumber"}
    kept, _ = await answer(await w.client.put(
        f"{w.path()}/{e['settlementAccountId']}", json=lone,
        headers=w.admin.headers(w.settings)))
    assert kept["isDefault"] is True
    # The database holds the same: one default per (merchant, currency).
    stored = await rows(w.settings, w.merchant.merchant_id)
    assert sorted(r["currency"] for r in stored if r["is_default"]) == ["EUR", "USD", "ZWG"]


async def test_first_accounts_of_a_currency_added_at_once_make_one_default(world):
    w = world
    made = await asyncio.gather(*(add(w, bank(currency="GBP", accountNumber=f"55500{i}11"))
                                  for i in range(6)))
    assert sum(a["isDefault"] for a in made) == 1
    assert len((await defaults(w))["GBP"]) == 1


# Changing and deleting ----------------------------------------------------------------------

async def test_put_replaces_the_account_and_a_new_type_needs_its_number(world):
    w = world
    a = await add(w, bank())
    path, headers = f"{w.path()}/{a['settlementAccountId']}", w.admin.headers(w.settings)
    resp = await w.client.put(path, json={"type": "ECOCASH", "currency": "USD"},
                              headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "phoneNumber"
    changed, text = await answer(await w.client.put(path, json=wallet(), headers=headers))
    assert (changed["type"], changed["phoneNumber"], changed["bankName"]) == (
        "ECOCASH", "****4567", None)
    assert PHONE not in text and changed["isDefault"] is True
    got, _ = await answer(await w.client.get(path, headers=headers))
    assert got == changed
    [row] = await rows(w.settings, w.merchant.merchant_id)
    assert SecretBox(w.settings, "settlement-account").open(row["number_sealed"]) == PHONE
    resp = await w.client.put(f"{w.path()}/sa_nosuchaccount", json=wallet(), headers=headers)
    assert resp.status == 404
    assert (await resp.json())["message"] == "Settlement account not found"


async def test_delete_is_soft_and_a_deleted_default_leaves_none(world, billing_pool):
    w = world
    a = await add(w, bank())
    b = await add(w, bank(accountNumber="99887766"))
    headers = w.admin.headers(w.settings)
    path = f"{w.path()}/{a['settlementAccountId']}"
    box = SecretBox(w.settings, "settlement-account")
    async with billing_pool.acquire() as conn:
        dest = await sa_store.payout_destination(
            conn, box, merchant_id=w.merchant.merchant_id, currency="USD",
            settlement_account_id=None)
    assert dest is not None and (dest.settlement_account_id, dest.number) == (
        a["settlementAccountId"], NUMBER)
    assert dest.masked()["last4"] == "7890" and NUMBER not in repr(dest)
    gone, text = await answer(await w.client.delete(path, headers=headers))
    assert gone["deletedAt"] and gone["isDefault"] is False and NUMBER not in text
    for method in ("GET", "DELETE"):
        resp = await w.client.request(method, path, headers=headers)
        assert resp.status == 404, method
    resp = await w.client.put(path, json=bank(), headers=headers)
    assert resp.status == 404
    listed, _ = await answer(await w.client.get(w.path(), headers=headers))
    assert [x["settlementAccountId"] for x in listed] == [b["settlementAccountId"]]
    assert listed[0]["isDefault"] is False and await defaults(w) == {}
    # Kept in the table, marked deleted.
    stored = {r["settlement_account_id"]: r for r in await rows(w.settings,
                                                               w.merchant.merchant_id)}
    assert stored[a["settlementAccountId"]]["deleted_at"] is not None
    async with billing_pool.acquire() as conn:
        # No default now: a payout must name its account; a deleted one is never used.
        for named in (None, a["settlementAccountId"]):
            assert await sa_store.payout_destination(
                conn, box, merchant_id=w.merchant.merchant_id, currency="USD",
                settlement_account_id=named) is None
        named = await sa_store.payout_destination(
            conn, box, merchant_id=w.merchant.merchant_id, currency="USD",
            settlement_account_id=b["settlementAccountId"])
        assert named is not None and named.number == "99887766"
        # Of this merchant and of the currency asked only.
        for merchant_id, currency in ((w.merchant.merchant_id + 10**6, "USD"),
                                      (w.merchant.merchant_id, "ZWG")):
            assert await sa_store.payout_destination(
                conn, box, merchant_id=merchant_id, currency=currency,
                settlement_account_id=b["settlementAccountId"]) is None


# Who may call ---------------------------------------------------------------------------------

async def test_each_role_sees_only_its_own_merchants_accounts(settings, world):
    w = world
    a = await add(w, bank())
    own = f"{w.path()}/{a['settlementAccountId']}"
    stranger = await make_company_admin(settings, company="Other Co")
    sibling = await make_merchant(settings, w.admin, status="ACTIVE")
    for who in (stranger, sibling):
        for method, path, body in (("GET", w.path(), None), ("POST", w.path(), bank()),
                                   ("GET", own, None), ("PUT", own, bank()),
                                   ("DELETE", own, None),
                                   ("GET", w.path(rest="payout-schedule"), None),
                                   ("PUT", w.path(rest="payout-schedule"),
                                    {"interval": "manual"})):
            resp = await w.client.request(method, path, json=body,
                                          headers=who.headers(settings))
            assert resp.status == 404, (who.role, method, path, await resp.text())
            assert (await resp.json())["message"] == "Merchant not found"
    # Another merchant's account under one's own merchant is not found either.
    other_account = await w.client.post(w.path(sibling.merchant_id), json=bank(),
                                        headers=w.admin.headers(settings))
    sid = (await answer(other_account, 201))[0]["settlementAccountId"]
    resp = await w.client.get(f"{w.path()}/{sid}", headers=w.merchant.headers(settings))
    assert resp.status == 404
    assert (await resp.json())["message"] == "Settlement account not found"
    # The merchant itself, and a SUPER user, may; the merchant's API key reads only.
    mine = await add(w, wallet(), who=w.merchant)
    assert mine["type"] == "ECOCASH"
    boss = await make_super(settings)
    listed, _ = await answer(await w.client.get(w.path(), headers=boss.headers(settings)))
    assert len(listed) == 2
    key = {HEADER: sign(Principal(kind="api_key", subject="key_test", role="MERCHANT",
                                  company_id=str(w.admin.company_id),
                                  merchant_id=str(w.merchant.merchant_id)), settings)}
    listed, _ = await answer(await w.client.get(w.path(), headers=key))
    assert len(listed) == 2
    resp = await w.client.post(w.path(), json=bank(), headers=key)
    assert resp.status == 403
    resp = await w.client.get(w.path())
    assert resp.status == 401
    for raw in ("abc", "1" * 19, "-1"):
        resp = await w.client.get(f"/api/v1/admin/merchants/{raw}/settlement-accounts",
                                  headers=boss.headers(settings))
        assert resp.status == 404, raw
    resp = await w.client.get(w.path(10**15), headers=boss.headers(settings))
    assert resp.status == 404 and (await resp.json())["message"] == "Merchant not found"


# Mail ---------------------------------------------------------------------------------------

async def add_merchant_user(settings, merchant: Account, *, enabled: bool = True) -> str:
    email = f"till.{secrets.token_hex(4)}@example.com"
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        await auth_store.create_user(
            conn, role="MERCHANT", email=email, password_hash="x", first_name="Tina",
            last_name="Till", company_id=merchant.company_id, merchant_id=merchant.merchant_id,
            enabled=enabled,
            sealed_secret=SecretBox(settings, "account-secrets").seal(random_secret()))
    finally:
        await conn.close()
    return email


async def test_every_change_mails_each_of_the_merchants_users_masked(settings, world):
    w = world
    colleague = await add_merchant_user(settings, w.merchant)
    away = await add_merchant_user(settings, w.merchant, enabled=False)
    people = (w.merchant.email, colleague)
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["email.requested"]) as tap:
        a = await add(w, bank())
        await poll_until(lambda: all(mails_to(tap, p) for p in people), what="added mails")
        [mail] = mails_to(tap, colleague)
        assert mail["subject"].startswith(
            "Settlement account ****7890 (BANK, USD) was added")
        text = mail["text"]
        assert "Settlement account ****7890 (BANK, USD) was added" in text
        assert f"ADMIN user {w.admin.user_id}" in text
        assert "When: 2031-03-05 10:30:00 UTC" in text
        assert "If this was not you, contact your administrator" in text
        assert not mails_to(tap, away) and not mails_to(tap, w.admin.email)

        # The merchant's own user changes the number: the mail names it, masked.
        path = f"{w.path()}/{a['settlementAccountId']}"
        w.clock.advance(hours=1)
        await answer(await w.client.put(path, json=bank(accountNumber="5550001234"),
                                        headers=w.merchant.headers(settings)))
        changed = await poll_until(lambda: [m for m in mails_to(tap, colleague)
                                            if "was changed" in m["subject"]],
                                   what="changed mail")
        assert "number, now ****1234" in changed[0]["text"]
        assert f"By: {w.merchant.email}" in changed[0]["text"]
        assert "When: 2031-03-05 11:30:00 UTC" in changed[0]["text"]
        # A PUT that changes nothing mails nobody.
        await answer(await w.client.put(path, json=bank(accountNumber="5550001234"),
                                        headers=w.merchant.headers(settings)))
        await answer(await w.client.delete(path, headers=w.admin.headers(settings)))
        deleted = await poll_until(lambda: [m for m in mails_to(tap, w.merchant.email)
                                            if "was deleted" in m["subject"]],
                                   what="deleted mail")
        assert "****1234 (BANK, USD) was deleted" in deleted[0]["text"]
        assert "now has none" in deleted[0]["text"]
        await poll_until(lambda: len(mails_to(tap, colleague)) == 3, what="three mails")
    for m in [e.data for e in tap.events if e.type == "email.requested"]:
        assert NUMBER not in m["text"] and "5550001234" not in m["text"]
        assert NUMBER not in m["subject"]
    assert len([m for m in mails_to(tap, colleague) if "was changed" in m["subject"]]) == 1


async def test_auth_answers_the_merchants_recipients_to_services_only(settings):
    from tests.support.auth import auth_client

    admin = await make_company_admin(settings)
    merchant = await make_merchant(settings, admin)
    colleague = await add_merchant_user(settings, merchant)
    async with auth_client(settings) as auth:
        path = f"/internal/merchants/{merchant.merchant_id}/users"
        resp = await auth.get(path, headers=service_headers(settings, "billing"))
        body = await resp.json()
        assert resp.status == 200, body
        assert body["emails"] == [merchant.email, colleague]  # the merchant's own once
        assert [u["userId"] for u in body["users"]] == [merchant.user_id, body["users"][1][
            "userId"]]
        resp = await auth.get(path, headers=admin.headers(settings))
        assert resp.status == 403
        for raw in ("999999999999", "x1"):
            resp = await auth.get(f"/internal/merchants/{raw}/users",
                                  headers=service_headers(settings, "billing"))
            assert resp.status == 404


# The payout schedule ----------------------------------------------------------------------

async def test_the_schedule_answers_the_defaults_until_set_and_its_next_run(world):
    w = world
    path, headers = w.path(rest="payout-schedule"), w.admin.headers(w.settings)
    got, _ = await answer(await w.client.get(path, headers=headers))
    assert got == {"merchantId": w.merchant.merchant_id, "interval": "daily",
                   "weeklyAnchor": None, "monthlyAnchor": None, "delayDays": 2,
                   "minimumAmount": "0", "nextRunAt": None, "updatedAt": None}
    # START is Wednesday 2031-03-05 10:30 UTC.
    for body, next_run in (
            ({"interval": "weekly", "weeklyAnchor": "monday", "delayDays": 3,
              "minimumAmount": "5000"}, "2031-03-10T00:00:00+00:00"),
            ({"interval": "monthly", "monthlyAnchor": 31}, "2031-03-31T00:00:00+00:00"),
            ({"interval": "daily", "minimumAmount": 100}, "2031-03-06T00:00:00+00:00"),
            ({"interval": "manual"}, None)):
        put, _ = await answer(await w.client.put(path, json=body, headers=headers))
        assert put["interval"] == body["interval"] and put["nextRunAt"] == next_run
        got, _ = await answer(await w.client.get(path, headers=w.merchant.headers(w.settings)))
        assert got == put
    assert (got["delayDays"], got["minimumAmount"]) == (2, "0")
    w.clock.advance(days=30)  # 2031-04-04, a Friday
    put, _ = await answer(await w.client.put(path, json={"interval": "monthly",
                                                         "monthlyAnchor": 31},
                                             headers=w.merchant.headers(w.settings)))
    assert put["nextRunAt"] == "2031-04-30T00:00:00+00:00"  # April has 30 days
    conn = await asyncpg.connect(w.settings.dsn_of("billing"))
    try:
        row = await conn.fetchrow("SELECT * FROM billing.payout_schedules WHERE merchant_id"
                                  " = $1", w.merchant.merchant_id)
    finally:
        await conn.close()
    assert (row["interval"], row["monthly_anchor"]) == ("monthly", 31)
    assert row["next_run_at"] == datetime(2031, 4, 30, tzinfo=UTC)


async def test_the_first_settlement_account_gives_the_default_schedule(world):
    w = world
    path, headers = w.path(rest="payout-schedule"), w.admin.headers(w.settings)
    await add(w, bank())
    got, _ = await answer(await w.client.get(path, headers=headers))
    assert (got["interval"], got["delayDays"], got["nextRunAt"]) == (
        "daily", 2, "2031-03-06T00:00:00+00:00")
    # A schedule set before is kept by later accounts.
    await answer(await w.client.put(path, json={"interval": "manual"}, headers=headers))
    await add(w, wallet())
    got, _ = await answer(await w.client.get(path, headers=headers))
    assert (got["interval"], got["nextRunAt"]) == ("manual", None)


@pytest.mark.parametrize("body, field", [
    ({"interval": "weekly"}, "weeklyAnchor"),
    ({"interval": "weekly", "weeklyAnchor": "someday"}, "weeklyAnchor"),
    ({"interval": "monthly"}, "monthlyAnchor"),
    ({"interval": "monthly", "monthlyAnchor": 32}, "monthlyAnchor"),
    ({"interval": "daily", "monthlyAnchor": 3}, "monthlyAnchor"),
    ({"interval": "daily", "delayDays": 31}, "delayDays"),
    ({"interval": "daily", "minimumAmount": "-1"}, "minimumAmount"),
    ({"interval": "daily", "minimumAmount": "1.5"}, "minimumAmount"),
    ({"interval": "daily", "minimumAmount": "9" * 79}, "minimumAmount"),
    ({"interval": "hourly"}, "interval"),
    ({}, "interval"),
])
async def test_a_bad_schedule_is_a_400_naming_the_field(world, body, field):
    w = world
    resp = await w.client.put(w.path(rest="payout-schedule"), json=body,
                              headers=w.admin.headers(w.settings))
    error = (await resp.json())["error"]
    assert resp.status == 400 and error["field"] == field, error


async def test_short_settlement_days_schedule_in_seconds(settings):
    s = settings.model_copy(update={"payout_day_seconds": 2.0})
    clock = ManualClock(datetime(2031, 3, 5, 10, 30, 1, tzinfo=UTC))
    async with settings_stack(s, clock=clock) as (client, _):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin)
        resp = await client.put(f"/api/v1/admin/merchants/{merchant.merchant_id}/"
                                "payout-schedule", json={"interval": "daily"},
                                headers=admin.headers(settings))
        data, _ = await answer(resp)
    assert data["nextRunAt"] == "2031-03-05T10:30:02+00:00"


# Through the gateway -------------------------------------------------------------------------

async def test_through_the_gateway_a_merchant_manages_its_accounts(settings):
    async with settings_stack(settings, gateway=True) as (gateway, _):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        stranger = await make_company_admin(settings, company="Rival")
        tokens = {}
        for who in (merchant, stranger):
            resp = await gateway.post("/api/v1/auth/sign-in", json={
                "email": who.email, "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            tokens[who.email] = {"Authorization": f"Bearer {(await resp.json())['token']}"}
        path = f"/api/v1/admin/merchants/{merchant.merchant_id}/settlement-accounts"
        made, text = await answer(await gateway.post(path, json=bank(),
                                                     headers=tokens[merchant.email]), 201)
        assert made["accountNumber"] == "****7890" and NUMBER not in text
        listed, text = await answer(await gateway.get(path, headers=tokens[merchant.email]))
        assert [a["settlementAccountId"] for a in listed] == [made["settlementAccountId"]]
        assert NUMBER not in text
        resp = await gateway.get(path, headers=tokens[stranger.email])
        assert resp.status == 404 and (await resp.json())["message"] == "Merchant not found"
        resp = await gateway.put(path.replace("settlement-accounts", "payout-schedule"),
                                 json={"interval": "weekly"}, headers=tokens[merchant.email])
        assert resp.status == 400
        assert (await resp.json())["error"]["field"] == "weeklyAnchor"
