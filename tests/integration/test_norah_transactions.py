"""NORAH transactions against the real auth, fees and checkout services: payment
tokens, confirmation, status, cancel, lists and tenancy."""

from __future__ import annotations

import base64
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import pytest

from services.checkout import store
from shared.db import _init_connection
from shared.events import UnitOfWork
from shared.principal import HEADER, Principal, sign
from tests.integration.test_payments import services
from tests.support.auth import make_company_admin, make_merchant, service_headers
from tests.support.poll import poll_until

CARD = {"number": "4242424242424242", "expMonth": 12, "expYear": 2099, "cvc": "123"}


async def _uid(settings, merchant_id: int) -> str:
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        return str(await conn.fetchval("SELECT uid FROM merchants WHERE id = $1", merchant_id))
    finally:
        await conn.close()


def _key_headers(settings, merchant) -> dict:
    """What the gateway forwards for the merchant's API key."""
    who = Principal(kind="api_key", subject="key_test", role="MERCHANT",
                    company_id=str(merchant.company_id), merchant_id=str(merchant.merchant_id))
    return {HEADER: sign(who, settings)}


@pytest.fixture
async def norah(settings):
    async with services(settings) as checkout:
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, name="Corner Shop", status="ACTIVE")
        yield checkout, admin, merchant



async def _confirm(client, headers, uid, *, amount="100.00", charge, method="ZIMSWITCH",
                   **extra):
    return await client.post("/api/v1/transactions/confirmation", headers=headers, json={
        "user": "john.doe@company.com", "amount": amount, "charge": charge,
        "currency": "USD", "paymentMethod": method, "phoneNumber": "263771234567",
        "merchantUid": uid, **extra})


async def _charge_for(client, headers, uid, amount="100.00") -> str:
    """The charge the gateway expects, read from its own 400 for a wrong one."""
    resp = await _confirm(client, headers, uid, amount=amount, charge="99999.99")
    assert resp.status == 400
    message = (await resp.json())["message"]
    assert message.startswith("charge must be ") and message.endswith(" for this amount")
    return message.removeprefix("charge must be ").removesuffix(" for this amount")


# Payment tokens ---------------------------------------------------------------------

async def test_a_user_token_verifies_to_its_amount(settings, norah):
    client, admin, _ = norah
    resp = await client.post("/api/v1/transaction/u/generate", headers=admin.headers(settings),
                             json={"amount": 100.00, "currency": "USD"})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["message"] == "Successfully created a user payment token"
    token = body["data"]["token"]
    assert body["data"]["url"] == f"{settings.public_url}/check-out?token={token}&type=u"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["amount"], claims["currency"], claims["type"], claims["sub"]) == \
        ("100.00", "USD", "u", str(admin.user_id))
    assert claims["exp"] - claims["iat"] == 60 and claims["jti"]

    verified = await client.post("/api/v1/transaction/verify",
                                 json={"token": token, "type": "u"})
    raw = await verified.text()
    assert verified.status == 200, raw
    assert '"amount":100.00' in raw and '"currency":"USD"' in raw


async def test_a_merchant_token_is_signed_with_the_merchants_secret(settings, norah):
    client, _, merchant = norah
    for headers in (merchant.headers(settings), _key_headers(settings, merchant)):
        resp = await client.post("/api/v1/transaction/m/generate", headers=headers,
                                 json={"amount": 500, "currency": "USD"})
        body = await resp.json()
        assert body["message"] == "Successfully created a merchant payment token"
        token = body["data"]["token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["sub"], claims["mid"], claims["type"]) == \
            (str(merchant.merchant_id), str(merchant.merchant_id), "m")
        ok = await client.post("/api/v1/transaction/verify", json={"token": token, "type": "m"})
        assert ok.status == 200
        # A merchant token is not a user token.
        wrong = await client.post("/api/v1/transaction/verify",
                                  json={"token": token, "type": "u"})
        assert wrong.status == 400


async def test_an_admin_cannot_generate_a_merchant_token(settings, norah):
    client, admin, _ = norah
    resp = await client.post("/api/v1/transaction/m/generate", headers=admin.headers(settings),
                             json={"amount": 5, "currency": "USD"})
    assert resp.status == 403


async def test_an_expired_token_says_to_generate_a_new_one(settings, norah):
    client, _, merchant = norah
    async with _auth_secret(settings, client, "merchant", merchant.merchant_id) as secret:
        past = int(time.time()) - 120
        token = jwt.encode({"amount": "10.00", "currency": "USD", "type": "m",
                            "sub": str(merchant.merchant_id), "iat": past, "exp": past + 60,
                            "jti": uuid.uuid4().hex}, secret, algorithm="HS256")
    resp = await client.post("/api/v1/transaction/verify", json={"token": token, "type": "m"})
    body = await resp.json()
    assert resp.status == 400
    assert body["message"] == "The payment token has expired; generate a new one"
    assert body["error"]["code"] == "payment_token_expired"


async def test_a_tampered_token_is_refused(settings, norah):
    client, _, merchant = norah
    resp = await client.post("/api/v1/transaction/m/generate",
                             headers=merchant.headers(settings),
                             json={"amount": "10.00", "currency": "USD"})
    token = (await resp.json())["data"]["token"]
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["amount"] = "0.01"
    forged = jwt.encode(claims, "not-the-secret-" + "x" * 32, algorithm="HS256")
    payload = forged.split(".")[1]
    for bad in (forged, f"{header}.{payload}.{signature}", "not.a.token"):
        got = await client.post("/api/v1/transaction/verify", json={"token": bad, "type": "m"})
        body = await got.json()
        assert got.status == 400 and body["error"]["code"] == "payment_token_invalid", body


class _auth_secret:
    """The signer's secret, read the way checkout reads it (internal HTTP to auth)."""

    def __init__(self, settings, client, kind, ident):
        self.settings, self.client, self.kind, self.ident = settings, client, kind, ident

    async def __aenter__(self) -> str:
        from services.checkout.context import CLIENT
        status, body = await self.client.app[CLIENT].request(
            "auth", "GET", f"/internal/secrets/{self.kind}/{self.ident}")
        assert status == 200
        return body["secret"]

    async def __aexit__(self, *exc) -> None:
        return None


async def test_secrets_are_for_services_only(settings, norah):
    client, admin, merchant = norah
    from services.checkout.context import CLIENT
    auth_url = client.app[CLIENT]._settings.url_of("auth")
    session = client.session
    path = f"{auth_url}/internal/secrets/merchant/{merchant.merchant_id}"
    assert (await session.get(path, headers=admin.headers(settings))).status == 403
    assert (await session.get(path)).status == 403
    assert (await session.get(path, headers=service_headers(settings, "checkout"))).status == 200
    missing = await session.get(f"{auth_url}/internal/secrets/user/999999999",
                                headers=service_headers(settings, "checkout"))
    assert missing.status == 404


# Confirmation, status, cancel ---------------------------------------------------------

async def test_confirmation_with_the_quoted_charge_completes(settings, norah):
    client, _, merchant = norah
    headers, uid = merchant.headers(settings), await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, headers, uid)
    resp = await _confirm(client, headers, uid, charge=charge)
    raw = await resp.text()
    assert resp.status == 200, raw
    data = (await resp.json())["data"]
    assert data["status"] == "COMPLETED" and data["paymentMethod"] == "ZIMSWITCH"
    assert data["transactionId"].startswith("pay_") and uuid.UUID(data["trace"])
    assert '"amount":100.00' in raw and f'"charge":{charge}' in raw

    status = await client.post("/api/v1/transactions/status", headers=headers,
                               json={"trace": data["trace"]})
    got = (await status.json())["data"]
    assert (got["trace"], got["status"], got["currency"]) == (data["trace"], "COMPLETED", "USD")


async def test_a_wrong_charge_names_the_expected_one(settings, norah):
    client, admin, merchant = norah
    uid = await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, admin.headers(settings), uid, amount="250.00")
    resp = await _confirm(client, admin.headers(settings), uid, amount="250.00",
                          charge="0.01" if charge != "0.01" else "0.02")
    body = await resp.json()
    assert resp.status == 400
    assert body["message"] == f"charge must be {charge} for this amount"
    assert body["error"]["field"] == "charge"


async def test_cancel_pending_and_processing_but_not_completed(settings, norah):
    client, _, merchant = norah
    headers, uid = _key_headers(settings, merchant), await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, headers, uid)
    # OMARI waits for an OTP: PROCESSING.
    omari = (await (await _confirm(client, headers, uid, charge=charge,
                                   method="OMARI")).json())["data"]
    assert omari["status"] == "PROCESSING"
    resp = await client.post("/api/v1/transactions/cancel", headers=headers,
                             json={"trace": omari["trace"]})
    raw = await resp.text()
    assert resp.status == 200, raw
    assert (await resp.json())["data"]["status"] == "CANCELLED"
    assert '"refundedAmount":100.00' in raw
    # A PENDING one (as a rail that has not answered would leave it).
    pending = await _seed(settings, merchant, status="pending")
    resp = await client.post("/api/v1/transactions/cancel", headers=headers,
                             json={"trace": str(pending["trace"])})
    assert (await resp.json())["data"]["status"] == "CANCELLED"

    done = (await (await _confirm(client, headers, uid, charge=charge,
                                  method="VISA_MASTER", card=CARD)).json())["data"]
    assert done["status"] == "COMPLETED"
    resp = await client.post("/api/v1/transactions/cancel", headers=headers,
                             json={"trace": done["trace"]})
    body = await resp.json()
    assert resp.status == 409
    assert body["message"] == "A completed transaction cannot be cancelled; refund it instead"


async def test_ecocash_confirmation_settles_through_the_rail(settings, norah):
    client, _, merchant = norah
    headers, uid = merchant.headers(settings), await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, headers, uid)
    data = (await (await _confirm(client, headers, uid, charge=charge,
                                  method="ECOCASH")).json())["data"]
    assert data["status"] == "PROCESSING"

    async def completed():
        resp = await client.post("/api/v1/transactions/status", headers=headers,
                                 json={"trace": data["trace"]})
        return (await resp.json())["data"]["status"] == "COMPLETED"
    await poll_until(completed, timeout=10, what="ECOCASH callback")


async def test_another_tenants_merchant_and_trace_are_not_found(settings, norah):
    client, _, merchant = norah
    stranger = await make_merchant(settings, await make_company_admin(settings),
                                   status="ACTIVE")
    uid = await _uid(settings, merchant.merchant_id)
    resp = await _confirm(client, stranger.headers(settings), uid, charge="1.00")
    assert resp.status == 404
    assert (await _confirm(client, stranger.headers(settings), "not-a-uid",
                           charge="1.00")).status == 404
    row = await _seed(settings, merchant, status="processing")
    for path in ("/api/v1/transactions/status", "/api/v1/transactions/cancel"):
        got = await client.post(path, headers=stranger.headers(settings),
                                json={"trace": str(row["trace"])})
        assert got.status == 404, path
    got = await client.get(f"/api/v1/transactions/details/{row['payment_id']}",
                           headers=stranger.headers(settings))
    assert got.status == 404


# Lists ----------------------------------------------------------------------------

async def _seed(settings, merchant, *, status="completed", currency="USD", amount=10_000,
                charges=250, created_at: datetime | None = None, name="Corner Shop"):
    """A payment row written straight through checkout's store, as checkout would."""
    pool = await asyncpg.create_pool(settings.dsn_of("checkout"), min_size=1, max_size=1,
                                     init=_init_connection)  # the pool's json/jsonb codecs
    try:
        async with UnitOfWork(pool, producer="checkout") as work:
            quote = {"charges": str(charges), "netAmount": str(amount - charges),
                     "breakdown": [{"type": "PERCENTAGE", "value": 2.5,
                                    "amount": str(charges)}] if charges else []}
            row = await store.insert_payment(
                work, payment_id=f"pay_{uuid.uuid4().hex[:24]}", trace=uuid.uuid4(),
                company_id=merchant.company_id, merchant_id=merchant.merchant_id,
                origin="norah", amount=amount, currency=currency, description=None,
                metadata={}, success_url=None, cancel_url=None, quote=quote,
                charges=charges, net_amount=amount - charges,
                expires_at=datetime.now(UTC) + timedelta(hours=1))
            changes = {"status": status, "merchant_name": name,
                       "payment_method": "ZIMSWITCH"}
            if created_at is not None:
                changes["created_at"] = created_at
            return await store.update_payment(work.conn, row["id"], changes)
    finally:
        await pool.close()


async def _all_pages(client, path, headers, per_page=25, **params):
    seen, page, total = [], 1, None
    while True:
        resp = await client.get(path, headers=headers,
                                params={"page": page, "per_page": per_page, **params})
        body = await resp.json()
        assert resp.status == 200, body
        assert body["pagination"]["per_page"] == per_page
        total = body["pagination"]["total"] if total is None else total
        assert body["pagination"]["total"] == total
        seen += body["data"]
        if len(body["data"]) < per_page:
            return seen, total
        page += 1


@pytest.fixture
async def ledger(settings):
    """300 payments over two merchants of one company and one of another."""
    async with services(settings) as checkout:
        admin = await make_company_admin(settings)
        tag = uuid.uuid4().hex[:6]
        first = await make_merchant(settings, admin, name=f"Alpha{tag}", status="ACTIVE")
        second = await make_merchant(settings, admin, name=f"Beta{tag}", status="ACTIVE")
        other = await make_merchant(settings, await make_company_admin(settings),
                                    name=f"Gamma{tag}", status="ACTIVE")
        rng = random.Random(7)
        base = datetime(2031, 3, 10, 12, 0, tzinfo=UTC)
        rows = []
        for i in range(300):
            merchant, name = rng.choice([(first, f"Alpha{tag} shop"), (second, f"Beta{tag} shop"),
                                         (other, f"Gamma{tag} shop")])
            # Several rows share a created_at, so the id tie-break matters.
            created = base + timedelta(days=i // 20)
            row = await _seed(settings, merchant, name=name, created_at=created,
                              status=rng.choice(["pending", "completed", "failed", "canceled"]),
                              currency=rng.choice(["USD", "ZWG"]),
                              charges=rng.choice([0, 150, 300]), amount=10_000 + i)
            rows.append(row)
        yield checkout, admin, first, second, other, rows, tag


def _newest_first(rows):
    return [r["payment_id"] for r in sorted(rows, key=lambda r: (r["created_at"], r["id"]),
                                            reverse=True)]


async def test_all_transactions_filter_page_and_order_like_the_ledger(settings, ledger):
    client, admin, first, second, other, rows, tag = ledger
    mine = [r for r in rows if r["company_id"] == admin.company_id]
    headers = admin.headers(settings)
    seen, total = await _all_pages(client, "/api/v1/transactions/all", headers)
    ours = [t for t in seen if t["merchant"] and tag in t["merchant"]]
    assert [t["transactionId"] for t in ours] == _newest_first(mine)
    assert all(t["merchantId"] != other.merchant_id for t in seen)

    cases = [
        ({"status": "COMPLETED", "currency": "USD"},
         lambda r: r["status"] == "completed" and r["currency"] == "USD"),
        ({"search": f"beta{tag}"}, lambda r: r["merchant_id"] == second.merchant_id),
        ({"start_date": "2031-03-12", "end_date": "2031-03-14"},
         lambda r: datetime(2031, 3, 12, tzinfo=UTC) <= r["created_at"]
         < datetime(2031, 3, 15, tzinfo=UTC)),
        ({"search": str(mine[0]["trace"])}, lambda r: r["id"] == mine[0]["id"]),
    ]
    for params, keep in cases:
        got, total = await _all_pages(client, "/api/v1/transactions/all", headers,
                                      per_page=5, **params)
        got = [t for t in got if t["merchant"] and tag in t["merchant"]]
        expected = _newest_first([r for r in mine if keep(r)])
        assert [t["transactionId"] for t in got] == expected, params
        if "start_date" in params or "search" in params:
            assert total == len(expected), params


async def test_a_bad_date_or_status_is_named(settings, ledger):
    client, admin, *_ = ledger
    for params, field in (({"start_date": "2031-13-01"}, "start_date"),
                          ({"end_date": "yesterday"}, "end_date"),
                          ({"status": "DONE"}, "status"),
                          ({"start_date": "2031-03-12", "end_date": "2031-03-11"}, "end_date")):
        resp = await client.get("/api/v1/transactions/all", headers=admin.headers(settings),
                                params=params)
        body = await resp.json()
        assert resp.status == 400 and body["error"]["field"] == field, body
        assert body["message"].startswith(f"{field}:")


async def test_merchant_lists_are_scoped_and_foreign_merchants_are_not_found(settings,
                                                                               ledger):
    client, admin, first, second, other, rows, _ = ledger
    expected = _newest_first([r for r in rows if r["merchant_id"] == first.merchant_id])
    for headers in (admin.headers(settings), first.headers(settings),
                    _key_headers(settings, first)):
        got, total = await _all_pages(
            client, f"/api/v1/transactions/merchant/{first.merchant_id}", headers)
        assert [t["transactionId"] for t in got] == expected and total == len(expected)
    mine, total = await _all_pages(client, "/api/v1/transactions/user",
                                   first.headers(settings))
    assert [t["transactionId"] for t in mine] == expected and total == len(expected)

    for headers, merchant_id in ((first.headers(settings), second.merchant_id),
                                 (admin.headers(settings), other.merchant_id),
                                 (other.headers(settings), first.merchant_id),
                                 (admin.headers(settings), "abc")):
        for path in ("merchant", "merchant-charges"):
            resp = await client.get(f"/api/v1/transactions/{path}/{merchant_id}",
                                    headers=headers)
            assert resp.status == 404, (path, merchant_id)


async def test_merchant_charges_list_only_charged_rows_with_breakdown(settings, ledger):
    client, admin, first, *_ = ledger
    rows = ledger[5]
    expected = _newest_first([r for r in rows if r["merchant_id"] == first.merchant_id
                              and r["charges"] > 0])
    got, total = await _all_pages(
        client, f"/api/v1/transactions/merchant-charges/{first.merchant_id}",
        admin.headers(settings))
    assert [t["transactionId"] for t in got] == expected and total == len(expected)
    assert all(t["chargesBreakdown"][0]["type"] == "PERCENTAGE" for t in got)
    assert all(t["chargesBreakdown"][0]["amount"] == t["charges"] for t in got)


async def test_details_show_the_charges_breakdown(settings, ledger):
    client, admin, first, *_ = ledger
    row = await _seed(settings, first, charges=300, currency="USD", status="canceled")
    resp = await client.get(f"/api/v1/transactions/details/{row['payment_id']}",
                            headers=first.headers(settings))
    raw = await resp.text()
    assert resp.status == 200, raw
    assert '"charges":3.00' in raw and '"chargesBreakdown":[{"type":"PERCENTAGE",' \
        '"value":2.5,"amount":3.00}]' in raw
    data = (await resp.json())["data"]
    assert (data["trace"], data["status"]) == (str(row["trace"]), "CANCELLED")
    assert data["netAmount"] == 97.0 and '"netAmount":97.00' in raw


async def test_recent_transactions_search_by_merchant_name(settings, ledger):
    client, admin, first, second, other, rows, tag = ledger
    expected = _newest_first([r for r in rows if r["merchant_id"] == second.merchant_id])
    got, total = await _all_pages(client, "/api/v1/dashboard/recent-transactions",
                                  admin.headers(settings), per_page=4,
                                  search=f"Beta{tag}")
    assert [t["transactionId"] for t in got] == expected and total == len(expected)
    assert {t["merchant"] for t in got} == {f"Beta{tag} shop"}
    # The other company's merchant is out of the admin's sight, even by name.
    none, total = await _all_pages(client, "/api/v1/dashboard/recent-transactions",
                                   admin.headers(settings), search=f"Gamma{tag}")
    assert none == [] and total == 0


# Lookups, keyset pages and the total past the exact count -----------------------------

async def test_a_trace_or_transaction_id_search_finds_exactly_that_payment(settings, ledger):
    client, admin, first, second, other, rows, tag = ledger
    mine = next(r for r in rows if r["merchant_id"] == second.merchant_id)
    theirs = next(r for r in rows if r["merchant_id"] == other.merchant_id)
    for path in ("/api/v1/transactions/all", "/api/v1/dashboard/recent-transactions"):
        for search in (str(mine["trace"]), mine["payment_id"], str(mine["trace"]).upper()):
            resp = await client.get(path, headers=admin.headers(settings),
                                    params={"search": search})
            body = await resp.json()
            assert resp.status == 200, body
            assert [t["transactionId"] for t in body["data"]] == [mine["payment_id"]], search
            assert body["pagination"]["total"] == 1
            assert body["pagination"]["nextCursor"] is None
        # Another company's payment is not found, by trace or by id, as a missing one.
        for search in (str(theirs["trace"]), theirs["payment_id"], str(uuid.uuid4())):
            resp = await client.get(path, headers=admin.headers(settings),
                                    params={"search": search})
            body = await resp.json()
            assert body["data"] == [] and body["pagination"]["total"] == 0, search
        # A merchant sees its own only, even inside its company.
        resp = await client.get(path, headers=first.headers(settings),
                                params={"search": str(mine["trace"])})
        assert (await resp.json())["data"] == []


async def test_a_payment_made_through_the_api_is_found_by_its_merchants_name(settings,
                                                                              norah):
    client, admin, merchant = norah
    headers, uid = merchant.headers(settings), await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, headers, uid)
    made = (await (await _confirm(client, headers, uid, charge=charge)).json())["data"]
    name = (await (await client.get(f"/api/v1/transactions/details/{made['transactionId']}",
                                    headers=headers)).json())["data"]["merchant"]
    assert name.startswith("Corner Shop ")
    resp = await client.get("/api/v1/transactions/all", headers=admin.headers(settings),
                            params={"search": name.split()[-1].upper()})  # its tag, any case
    body = await resp.json()
    assert [t["transactionId"] for t in body["data"]] == [made["transactionId"]]
    # Another company's admin does not find it by that name.
    stranger = await make_company_admin(settings)
    resp = await client.get("/api/v1/transactions/all", headers=stranger.headers(settings),
                            params={"search": name})
    assert (await resp.json())["data"] == []


async def test_cursor_pages_neither_overlap_nor_skip_when_payments_arrive(settings, norah):
    client, admin, merchant = norah
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
    # 25 rows, pairs sharing a created_at: the id breaks the tie.
    before = [await _seed(settings, merchant, created_at=base + timedelta(minutes=i // 2))
              for i in range(25)]
    path = f"/api/v1/transactions/merchant/{merchant.merchant_id}"
    headers = admin.headers(settings)
    first = await (await client.get(path, headers=headers, params={"per_page": 10})).json()
    pages = [first["data"]]
    cursor = first["pagination"]["nextCursor"]
    assert first["pagination"]["total"] == 25 and cursor
    while cursor:
        # Between two reads: newer payments, and one at the very time of the last row read.
        last = pages[-1][-1]
        for created in (datetime.now(UTC), base + timedelta(hours=1),
                        datetime.fromisoformat(last["timestamp"]).replace(tzinfo=UTC)):
            await _seed(settings, merchant, created_at=created)
        resp = await client.get(path, headers=headers, params={"per_page": 10,
                                                                "cursor": cursor})
        body = await resp.json()
        assert resp.status == 200, body
        pages.append(body["data"])
        assert body["pagination"]["page"] == len(pages)
        cursor = body["pagination"]["nextCursor"]
    seen = [t["transactionId"] for page in pages for t in page]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert seen == _newest_first(before)  # each once, in order, none of the later ones
    # page=2 by offset after the arrivals shows rows page 1 already showed: the cursor
    # is what continues a list that grows.
    offset_page = await (await client.get(path, headers=headers,
                                          params={"per_page": 10, "page": 2})).json()
    assert {t["transactionId"] for t in offset_page["data"]} & \
        {t["transactionId"] for t in pages[0]}


async def test_a_bad_cursor_is_a_400_naming_it(settings, norah):
    client, admin, _ = norah
    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    for cursor in ("nonsense", "%%%", "x" * 500, "é", b64("1:1"), b64("-1:0:1"),
                   b64("2:1:" + "9" * 19),  # past bigint
                   b64("2:" + "9" * 18 + ":1")):  # past the year 9999
        resp = await client.get("/api/v1/transactions/all", headers=admin.headers(settings),
                                params={"cursor": cursor})
        body = await resp.json()
        assert resp.status == 400 and body["error"]["field"] == "cursor", (cursor, body)
        assert body["message"].startswith("cursor:")


async def _bulk(settings, merchant, count: int, *, start: datetime) -> None:
    """`count` completed payments of the merchant in one statement, in the shape the API
    writes them (every column a create and its settlement set)."""
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        await conn.execute(
            """INSERT INTO payments (payment_id, trace, company_id, merchant_id, origin,
                   amount, currency, metadata, status, payment_method, quote, charges,
                   net_amount, expires_at, created_at, updated_at, completed_at,
                   merchant_name)
               SELECT 'pay_' || substr(md5(random()::text), 1, 24), gen_random_uuid(),
                      $1, $2, 'norah', 10000, 'USD', '{}', 'completed', 'ZIMSWITCH',
                      '{"charges": "250", "netAmount": "9750", "breakdown": []}', 250,
                      9750, t + interval '1 hour', t, t, t, 'Bulk shop'
                 FROM generate_series(1, $3::int) AS g,
                      LATERAL (SELECT $4::timestamptz + g * interval '1 second' AS t) AS c""",
            merchant.company_id, merchant.merchant_id, count, start)
    finally:
        await conn.close()


async def test_the_total_is_exact_up_to_the_bound_and_an_estimate_past_it(settings, norah):
    client, admin, merchant = norah
    path = f"/api/v1/transactions/merchant/{merchant.merchant_id}"
    start = datetime(2029, 1, 1, tzinfo=UTC)
    await _bulk(settings, merchant, store.EXACT_TOTAL_UP_TO, start=start)
    body = await (await client.get(path, headers=admin.headers(settings))).json()
    assert body["pagination"]["total"] == store.EXACT_TOTAL_UP_TO
    assert "totalIsEstimate" not in body["pagination"]

    await _seed(settings, merchant)
    for params in ({}, {"cursor": body["pagination"]["nextCursor"]}):
        got = await (await client.get(path, headers=admin.headers(settings),
                                      params=params)).json()
        assert got["pagination"]["totalIsEstimate"] is True, params
        assert got["pagination"]["total"] > store.EXACT_TOTAL_UP_TO
    # A filter that narrows the list below the bound counts exactly again.
    narrow = await (await client.get("/api/v1/transactions/all",
                                     headers=admin.headers(settings),
                                     params={"start_date": "2029-01-01",
                                             "end_date": "2029-01-01"})).json()
    assert narrow["pagination"]["total"] == store.EXACT_TOTAL_UP_TO
    assert "totalIsEstimate" not in narrow["pagination"]
