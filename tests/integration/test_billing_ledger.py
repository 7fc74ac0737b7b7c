"""NorLedger: postings from checkout's payment events, balances, trial balance,
reversals, the settlement report and the dashboard."""

from __future__ import annotations

import asyncio
import secrets

import aio_pika
import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from services.billing import ledger, ledger_store
from services.billing.app import build_spec as billing_spec
from shared.events import Event, Topology
from shared.http.app import create_app
from tests.conftest import serve
from tests.integration.test_billing_api import WALLET, _ok, billing_stack
from tests.support.auth import make_company_admin, make_merchant
from tests.support.poll import poll_until

ONE_NOR = 10**18


@pytest.fixture
async def shop(settings):
    async with billing_stack(settings) as (billing, checkout, app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        yield billing, checkout, merchant.headers(settings), merchant, admin


async def _pay(checkout, headers, amount: int, **meta) -> str:
    created = await checkout.post("/api/v2/payments/create", headers=headers, json={
        "amount": str(amount), "currency": "NOR", "description": "Product purchase",
        "metadata": meta})
    pid = (await created.json())["result"]["paymentId"]
    resp = await checkout.post(f"/api/v2/payments/{pid}/confirm", headers=headers,
                               json={"paymentMethod": "NOR_WALLET", "payer": WALLET})
    assert resp.status == 200, await resp.text()
    return pid


async def _entries(client, headers, **params):
    return (await _ok(await client.get("/api/v2/ledger/entries", headers=headers,
                                       params=params)))["entries"]


async def test_a_completed_payment_posts_the_seeds_entries_and_refunds_reverse_them(shop):
    client, checkout, headers, merchant, _ = shop
    pid = await _pay(checkout, headers, ONE_NOR, customerId="cust_456")
    entries = await poll_until(lambda: _entries(client, headers, referenceType="payment",
                                                referenceId=pid), what="payment entries")
    assert [e["display"] for e in entries] == [
        "Dr Customer NOR Wallet 1.00 NOR", "Cr Revenue - Product Sales 1.00 NOR"]
    assert {e["amount"] for e in entries} == {str(ONE_NOR)}
    assert len({e["transactionId"] for e in entries}) == 1
    resp = await checkout.post(f"/api/v2/payments/{pid}/refund", headers=headers,
                               json={"amount": str(ONE_NOR // 4)})
    assert resp.status == 200
    resp = await checkout.post(f"/api/v2/payments/{pid}/refund", headers=headers, json={})
    assert resp.status == 200

    async def refunds():
        rows = await _entries(client, headers, referenceType="refund", referenceId=pid)
        return rows if len(rows) == 4 else None
    rows = await poll_until(refunds, what="two refund postings")
    assert [r["display"] for r in rows if r["direction"] == "debit"] == [
        "Dr Refunds 0.25 NOR", "Dr Refunds 0.75 NOR"]
    balance = await _ok(await client.get("/api/v2/ledger/trial-balance", headers=headers))
    assert balance["balanced"] is True
    accounts = {a["account"]: a for a in await _ok(
        await client.get("/api/v2/ledger/accounts", headers=headers))}
    charges = (await (await checkout.get(f"/api/v2/payments/{pid}", headers=headers)).json())[
        "result"]["charges"]
    assert accounts["customer_wallet"]["balance"] == str(-int(charges))  # all given back
    assert accounts["revenue:product_sales"]["balance"] == str(ONE_NOR)
    assert accounts["refunds"]["balance"] == str(ONE_NOR)


async def test_entries_are_immutable_and_corrected_by_a_reversal(settings, shop):
    client, checkout, headers, merchant, admin = shop
    pid = await _pay(checkout, headers, 2 * ONE_NOR)
    entries = await poll_until(lambda: _entries(client, headers, referenceType="payment",
                                                referenceId=pid), what="payment entries")
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        with pytest.raises(asyncpg.RaiseError, match="immutable"):
            await conn.execute("UPDATE ledger_entries SET amount = 1 WHERE id = $1",
                               int(entries[0]["entryId"]))
    finally:
        await conn.close()
    tx = entries[0]["transactionId"]
    forbidden = await client.post(f"/api/v2/ledger/transactions/{tx}/reverse", headers=headers)
    assert forbidden.status == 403  # a merchant cannot rewrite its books
    admin_headers = admin.headers(settings)
    reversed_ = await _ok(await client.post(f"/api/v2/ledger/transactions/{tx}/reverse",
                                            headers=admin_headers), 201)
    assert reversed_["reverses"] == tx
    again = await client.post(f"/api/v2/ledger/transactions/{tx}/reverse",
                              headers=admin_headers)
    assert again.status == 409
    rows = await _entries(client, headers, referenceType="payment", referenceId=pid)
    assert [r["display"] for r in rows] == [
        "Dr Customer NOR Wallet 2.00 NOR", "Cr Revenue - Product Sales 2.00 NOR",
        "Cr Customer NOR Wallet 2.00 NOR", "Dr Revenue - Product Sales 2.00 NOR"]
    report = await _ok(await client.get("/api/v2/ledger/settlement", headers=headers,
                                        params={"period": "today"}))
    assert report["currencies"][0]["gross"] == "0"  # the reversal nets the payment out


async def test_settlement_report_as_json_and_csv_and_the_dashboard(shop):
    client, checkout, headers, merchant, _ = shop
    first = await _pay(checkout, headers, 3 * ONE_NOR, customerId="c1")
    await _pay(checkout, headers, ONE_NOR, customerId="c2", product="Widget")
    await checkout.post(f"/api/v2/payments/{first}/refund", headers=headers,
                        json={"amount": str(ONE_NOR)})

    async def report():
        body = await _ok(await client.get("/api/v2/ledger/settlement", headers=headers,
                                          params={"period": "today"}))
        rows = body["currencies"]
        return rows if rows and rows[0]["refunds"] != "0" and rows[0]["payments"] == 2 \
            else None
    row = (await poll_until(report, what="settlement with the refund"))[0]
    charges = 0
    for pid in await _payments_of(client, headers):
        got = (await (await checkout.get(f"/api/v2/payments/{pid}", headers=headers)).json())
        charges += int(got["result"]["charges"])
    assert (row["gross"], row["refunds"], row["charges"]) == (
        str(4 * ONE_NOR), str(ONE_NOR), str(charges))
    assert row["net"] == str(4 * ONE_NOR - ONE_NOR - charges)
    csv_resp = await client.get("/api/v2/ledger/settlement", headers=headers,
                                params={"period": "today", "format": "csv"})
    assert csv_resp.status == 200 and csv_resp.content_type == "text/csv"
    lines = (await csv_resp.text()).splitlines()
    assert lines[0] == ("merchantId,currency,periodStart,periodEnd,gross,charges,refunds,net,"
                        "payments,refundCount")
    assert lines[1].startswith(f"{merchant.merchant_id},NOR,") and row["net"] in lines[1]

    dash = await _ok(await client.get("/api/v2/merchants/dashboard", headers=headers,
                                      params={"period": "today"}))
    assert dash["revenue"] == {"total": str(3 * ONE_NOR), "payments": str(3 * ONE_NOR),
                               "subscriptions": "0"}
    assert (dash["payments"]["total"], dash["payments"]["completed"]) == (2, 2)
    assert dash["customers"] == {"total": 2, "new": 2}
    assert {p["name"]: p["revenue"] for p in dash["topProducts"]} == {
        "Product Sales": str(2 * ONE_NOR), "Widget": str(ONE_NOR)}
    assert set(dash["subscriptions"]) >= {"active", "trialing", "canceled"}
    bad = await client.get("/api/v2/merchants/dashboard", headers=headers,
                           params={"period": "decade"})
    assert bad.status == 400 and "period" in (await bad.json())["message"]


async def _payments_of(client, headers) -> set[str]:
    rows = await _entries(client, headers, referenceType="payment")
    return {r["referenceId"] for r in rows}


async def test_an_admin_chooses_the_merchant_and_others_see_nothing(settings, shop):
    client, checkout, headers, merchant, admin = shop
    await _pay(checkout, headers, ONE_NOR)
    await poll_until(lambda: _entries(client, headers), what="entries")
    mine = await _ok(await client.get("/api/v2/merchants/dashboard", params={
        "period": "today", "merchantId": str(merchant.merchant_id)},
        headers=admin.headers(settings)))
    assert mine["revenue"]["total"] == str(ONE_NOR)
    stranger = await make_company_admin(settings)
    theirs = await _ok(await client.get("/api/v2/merchants/dashboard", params={
        "period": "today", "merchantId": str(merchant.merchant_id)},
        headers=stranger.headers(settings)))
    assert theirs["revenue"]["total"] == "0"
    assert await _entries(client, stranger.headers(settings)) == []


# Property: random payments and refunds keep the books exact ---------------------------

@pytest.fixture
async def billing_only(settings):
    async with serve(create_app(settings, billing_spec(settings, run_scheduler=False))):
        conn = await aio_pika.connect(settings.amqp_url)
        channel = await conn.channel(publisher_confirms=True)
        exchange = await Topology(settings.events_namespace).declare_exchange(channel)
        pool = await asyncpg.create_pool(settings.dsn_of("billing"), min_size=1, max_size=2)
        yield exchange, pool
        await pool.close()
        await conn.close()


payment_st = st.tuples(st.integers(1, 10**22), st.integers(0, 100),  # amount, fee per mille
                       st.lists(st.integers(1, 100), max_size=3),     # refunds, % of left
                       st.booleans())                                 # livemode


async def _publish(exchange, event: Event) -> None:
    await exchange.publish(aio_pika.Message(event.to_bytes(), message_id=str(event.id),
                                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                           routing_key=event.type)


@hsettings(max_examples=12, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payments=st.lists(payment_st, min_size=1, max_size=6), duplicate=st.booleans(),
       order=st.randoms(use_true_random=False))
async def test_random_payments_and_refunds_keep_every_balance_equal_to_its_entries(
        billing_only, payments, duplicate, order):
    exchange, pool = billing_only
    company, merchant = secrets.randbelow(10**12) + 1, secrets.randbelow(10**12) + 1
    streams = []
    # One book per mode: the test and the live payments of one merchant never mix.
    expected = {(livemode, code): 0 for livemode in (False, True) for code in (
        "customer_wallet", "revenue:product_sales", "fees", "refunds")}
    for amount, per_mille, refunds, livemode in payments:
        pid = "pay_prop" + secrets.token_hex(8)
        charges = amount * per_mille // 1000
        base = {"paymentId": pid, "amount": str(amount), "currency": "NOR",
                "charges": str(charges), "netAmount": str(amount - charges), "metadata": {},
                **({"livemode": True} if livemode else {})}
        stream = [Event(type="payment.completed", producer="checkout", company_id=str(company),
                        merchant_id=str(merchant),
                        data={**base, "status": "completed", "refundedAmount": "0"})]
        refunded = 0
        for percent in refunds:
            left = amount - refunded
            if left == 0:
                break
            part = max(1, left * percent // 100)
            refunded += part
            stream.append(Event(
                type="payment.refunded", producer="checkout", company_id=str(company),
                merchant_id=str(merchant),
                data={**base, "status": "refunded" if refunded == amount else "completed",
                      "refundedAmount": str(refunded), "refundAmount": str(part)}))
        streams.append(stream)
        expected[(livemode, "customer_wallet")] += amount - charges - refunded
        expected[(livemode, "revenue:product_sales")] += amount
        expected[(livemode, "fees")] += charges
        expected[(livemode, "refunds")] += refunded
    # interleave the payments' streams (each in its own order), some events twice
    queue = [list(s) for s in streams]
    while any(queue):
        stream = order.choice([s for s in queue if s])
        event = stream.pop(0)
        await _publish(exchange, event)
        if duplicate:
            await _publish(exchange, event)

    async def balances():
        rows = await pool.fetch("SELECT livemode, code, type, debits, credits "
                                "FROM billing.ledger_accounts WHERE merchant_id = $1", merchant)
        got = {(r["livemode"], r["code"]): (int(r["debits"]) - int(r["credits"])) * (
            -1 if r["type"] == "revenue" else 1) for r in rows}
        return got if all(got.get(k, 0) == v for k, v in expected.items()) else None
    await poll_until(balances, timeout=20, what=f"balances {expected}")
    sums = await pool.fetch(
        """SELECT a.livemode, a.code, a.debits, a.credits,
                  COALESCE(SUM(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS d,
                  COALESCE(SUM(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS c,
                  bool_and(t.livemode = a.livemode) AS same_book
             FROM billing.ledger_accounts a
             LEFT JOIN billing.ledger_entries e ON e.account_pk = a.id
             LEFT JOIN billing.ledger_transactions t ON t.id = e.transaction_pk
            WHERE a.merchant_id = $1 GROUP BY a.id""", merchant)
    for row in sums:
        assert (row["debits"], row["credits"]) == (row["d"], row["c"]), row["code"]
        assert row["same_book"] is not False, row["code"]  # entries of its mode only
    for livemode in (False, True):  # each book's trial balance is zero
        book = [r for r in sums if r["livemode"] is livemode]
        assert sum(r["d"] for r in book) == sum(r["c"] for r in book), livemode


async def test_concurrent_postings_to_a_new_merchants_accounts_create_each_account_once(
        settings):
    """One statement creates a posting's accounts and adds to their totals: postings
    racing on accounts that do not exist yet all land, on one row per account."""
    async with serve(create_app(settings, billing_spec(settings, run_scheduler=False))):
        pool = await asyncpg.create_pool(settings.dsn_of("billing"), min_size=20,
                                         max_size=20, server_settings={"search_path": "billing"})
        try:
            company, merchant = secrets.randbelow(10**12) + 1, secrets.randbelow(10**12) + 1

            async def post(i: int):
                async with pool.acquire() as conn, conn.transaction():
                    for posting in ledger.payment_completed({
                            "paymentId": f"pay_race{i}", "amount": str(1000 + i),
                            "currency": "USD", "charges": "25", "metadata": {}}):
                        await ledger_store.post(conn, posting, company_id=company,
                                                merchant_id=merchant, livemode=i % 2 == 1)
            await asyncio.gather(*(post(i) for i in range(20)))
            rows = await pool.fetch(
                """SELECT a.livemode, a.code, a.debits, a.credits, count(e.id) AS entries,
                          COALESCE(SUM(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS d,
                          COALESCE(SUM(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS c
                     FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_pk = a.id
                    WHERE a.merchant_id = $1 GROUP BY a.id""", merchant)
        finally:
            await pool.close()
    assert len(rows) == 6  # each account once in each of the two books
    assert all((r["debits"], r["credits"]) == (r["d"], r["c"]) for r in rows)
    for livemode in (False, True):
        by_code = {r["code"]: r for r in rows if r["livemode"] is livemode}
        total = sum(1000 + i for i in range(20) if (i % 2 == 1) is livemode)
        assert sorted(by_code) == ["customer_wallet", "fees", "revenue:product_sales"]
        assert (by_code["customer_wallet"]["debits"],
                by_code["customer_wallet"]["credits"]) == (total, 10 * 25)
        assert by_code["revenue:product_sales"]["credits"] == total
        assert by_code["fees"]["debits"] == 10 * 25
        assert by_code["customer_wallet"]["entries"] == 20


async def test_postings_written_together_are_the_postings_written_one_by_one(settings):
    """ledger_store.post_many (a consumer's batch of completions): transactions in the
    order given, each with its own entries, across merchants, modes and currencies, and
    every account's totals equal to its entries, as separate posts would leave them."""
    async with serve(create_app(settings, billing_spec(settings, run_scheduler=False))):
        pool = await asyncpg.create_pool(settings.dsn_of("billing"), min_size=1,
                                         max_size=2, server_settings={"search_path": "billing"})
        try:
            company = secrets.randbelow(10**12) + 1
            shops = [secrets.randbelow(10**12) + 1 for _ in range(2)]
            payments = [(shops[i % 2], ("USD", "NOR")[i // 2 % 2], 1000 + i, i * 10,
                         i % 3 == 0) for i in range(12)]
            posts = [ledger_store.Post(posting, company, merchant, livemode=livemode)
                     for merchant, currency, amount, charges, livemode in payments
                     for posting in ledger.payment_completed({
                         "paymentId": f"pay_many{amount}", "amount": str(amount),
                         "currency": currency, "charges": str(charges), "metadata": {}})]
            async with pool.acquire() as conn, conn.transaction():
                ids = await ledger_store.post_many(conn, posts)
            bad = ledger.Posting("payment", "pay_bad", "x", "USD", (
                ledger.Line(ledger.wallet("USD"), ledger.DEBIT, 5),))
            async with pool.acquire() as conn:
                with pytest.raises(ValueError):
                    await ledger_store.post_many(
                        conn, [posts[0], ledger_store.Post(bad, company, shops[0],
                                                           livemode=False)])
            txs = await pool.fetch(
                """SELECT t.transaction_id, t.merchant_id, t.livemode, t.currency,
                          t.reference_id, t.reference_type, count(e.id) AS n,
                          sum(e.amount) FILTER (WHERE e.direction = 'debit') AS d,
                          sum(e.amount) FILTER (WHERE e.direction = 'credit') AS c
                     FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_pk = t.id
                    WHERE t.merchant_id = ANY($1) GROUP BY t.id ORDER BY t.id""", shops)
            accounts = await pool.fetch(
                """SELECT a.merchant_id, a.livemode, a.currency, a.code, a.debits, a.credits,
                          COALESCE(SUM(e.amount) FILTER (WHERE e.direction = 'debit'), 0) AS d,
                          COALESCE(SUM(e.amount) FILTER (WHERE e.direction = 'credit'), 0) AS c
                     FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_pk = a.id
                    WHERE a.merchant_id = ANY($1) GROUP BY a.id""", shops)
        finally:
            await pool.close()
    # Each posting is its own balanced transaction, in the order given (the bad batch
    # left nothing).
    assert [t["transaction_id"] for t in txs] == ids
    assert [(t["merchant_id"], t["livemode"], t["currency"], t["reference_id"],
             t["reference_type"]) for t in txs] == [
        (p.merchant_id, p.livemode, p.posting.currency, p.posting.reference_id,
         p.posting.reference_type) for p in posts]
    assert all(t["d"] == t["c"] and t["n"] == len(p.posting.lines)
               for t, p in zip(txs, posts, strict=True))
    # One account per merchant, mode, currency and code, its totals equal to its entries.
    keys = [(a["merchant_id"], a["livemode"], a["currency"], a["code"]) for a in accounts]
    assert len(keys) == len(set(keys))
    assert all((a["debits"], a["credits"]) == (a["d"], a["c"]) for a in accounts)
    wallets = {(a["merchant_id"], a["livemode"], a["currency"]): a["debits"]
               for a in accounts if a["code"] == "customer_wallet"}
    assert {k[1] for k in wallets} == {False, True}
    for key, debits in wallets.items():
        assert debits == sum(amount for m, c, amount, _, live in payments
                             if (m, live, c) == key)
