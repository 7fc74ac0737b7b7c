"""Every list that grows with a merchant's history pages by keyset cursor (issue 21):
walking `nextCursor` gives each row exactly once, in the list's order, whatever is
written meanwhile; a cursor the list did not give (or another list's kind) is a 400
naming `cursor`. The balance transactions' and NORAH transactions' own tests are in
test_payouts.py and test_norah_transactions.py."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.db import Position
from shared.http.pagination import encode_cursor
from tests.integration.test_billing_api import SEED_INVOICE, make_plan
from tests.integration.test_billing_api import shop as billing_shop  # noqa: F401 (fixture)
from tests.integration.test_payouts import _available, ok
from tests.integration.test_payouts import shop as payout_shop  # noqa: F401 (fixture)
from tests.support import cursor
from tests.support.poll import poll_until


async def _everything(client, path: str, headers: dict, read: cursor.Read,
                      params: dict | None = None) -> list[str]:
    ids, pagination = read(await cursor.get(client, path, headers,
                                            {**(params or {}), "per_page": "100"}))
    assert pagination["nextCursor"] is None and pagination["total"] == len(ids), pagination
    return ids


async def _refused(client, path: str, headers: dict, raw: str) -> None:
    resp = await client.get(path, headers=headers, params={"cursor": raw})
    body = await resp.json()
    assert resp.status == 400 and "cursor" in body["message"], body


async def test_plans_subscriptions_and_invoices_walk_by_cursor(billing_shop):  # noqa: F811
    client, headers, *_ = billing_shop
    plans = [await make_plan(client, headers, name=f"Plan {n}") for n in range(5)]
    for n in range(5):
        await ok(await client.post("/api/v2/subscriptions/create", headers=headers, json={
            "planId": plans[n % 2]["planId"], "customerId": f"cust_{n % 2}"}), 201)
        await ok(await client.post("/api/v2/invoices/create", headers=headers,
                                   json=SEED_INVOICE), 201)
    lists = (("/api/v2/plans", cursor.norpay("plans", "planId"), {}),
             ("/api/v2/subscriptions", cursor.norpay("subscriptions", "subscriptionId"), {}),
             ("/api/v2/subscriptions", cursor.norpay("subscriptions", "subscriptionId"),
              {"customerId": "cust_0"}),
             ("/api/v2/invoices", cursor.norpay("invoices", "invoiceId"), {}),
             ("/api/v2/invoices", cursor.norpay("invoices", "invoiceId"),
              {"status": "draft", "customerEmail": "billing@acme.com"}))
    for path, read, params in lists:
        everything = await _everything(client, path, headers, read, params)
        assert len(everything) == (3 if params.get("customerId") else 5)
        assert await cursor.walk(client, path, headers, read, per_page=2,
                                 params=params) == everything, (path, params)
        await _refused(client, path, headers, "bm90LWEtY3Vyc29y")
        # a cursor of a list ordered by time is not one of these
        await _refused(client, path, headers,
                       encode_cursor(2, Position(datetime.now(UTC), 1)))

    # A plan made between two pages is not on the next one (it is newer than the
    # cursor), and no plan is repeated, as an OFFSET page would.
    first = await cursor.get(client, "/api/v2/plans", headers, {"per_page": "2"})
    await make_plan(client, headers, name="Newer")
    after = await cursor.get(client, "/api/v2/plans", headers, {
        "per_page": "2", "cursor": first["result"]["pagination"]["nextCursor"]})
    assert [p["planId"] for p in after["result"]["plans"]] == \
        [plans[2]["planId"], plans[1]["planId"]]


async def test_ledger_entries_payouts_and_settlements_walk_by_cursor(payout_shop):  # noqa: F811
    shop = payout_shop
    await shop.account()
    await _available(shop, 90_00)
    for n in range(5):
        made = await ok(await shop.billing.post(
            "/api/v2/payouts/create", headers=shop.headers,
            json={"amount": str(1_00 + n), "currency": "USD"}), 201)
        # canceled at once: the scheduler's ticks are global, and other tests count
        # the pending payouts they submit
        await ok(await shop.billing.post(f"/api/v2/payouts/{made['payoutId']}/cancel",
                                         headers=shop.headers))
    for _ in range(2):
        await _posted(shop, await shop.pay(5_00))
    entries = cursor.norpay("entries", "entryId")
    lists = (("/api/v2/ledger/entries", entries, {}),
             ("/api/v2/ledger/entries", entries, {"account": "available_balance"}),
             ("/api/v2/ledger/entries", entries, {"referenceType": "payout"}),
             ("/api/v2/payouts", cursor.norpay("payouts", "payoutId"), {}),
             ("/api/v1/settlements", cursor.norah("settlementId"), {}))
    for path, read, params in lists:
        everything = await _everything(shop.billing, path, shop.headers, read, params)
        assert len(everything) >= 5, (path, params, everything)
        assert len(set(everything)) == len(everything)
        assert await cursor.walk(shop.billing, path, shop.headers, read, per_page=2,
                                 params=params) == everything, (path, params)
        await _refused(shop.billing, path, shop.headers, "bm90LWEtY3Vyc29y")

    # Entries are oldest first: one posted between two pages is on a later one, once.
    path = "/api/v2/ledger/entries"
    before = await _everything(shop.billing, path, shop.headers, entries)
    first = await cursor.get(shop.billing, path, shop.headers, {"per_page": "3"})
    await _posted(shop, await shop.pay(6_00))
    longer = await _everything(shop.billing, path, shop.headers, entries)
    assert len(longer) > len(before) and longer[:len(before)] == before
    walked = first["result"]["entries"]
    cursor_at = first["result"]["pagination"]["nextCursor"]
    rest = await cursor.walk(shop.billing, path, shop.headers, entries, per_page=3,
                             start=cursor_at)
    assert [e["entryId"] for e in walked] + rest == longer


async def _posted(shop, payment: dict) -> None:
    async def entries() -> list | None:
        found = (await ok(await shop.billing.get(
            "/api/v2/ledger/entries", headers=shop.headers,
            params={"referenceType": "payment", "referenceId": payment["paymentId"]})))
        return found["entries"] or None
    await poll_until(entries, what=f"the entries of {payment['paymentId']}")
