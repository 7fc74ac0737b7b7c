"""The dashboard's and the settlement report's rollups (billing 0007_rollups) always say
what the rows they sum say.

Payment events are applied as the consumer applies them — in batches, out of order,
redelivered, with refunds — and ledger postings land at random moments around hour and
day boundaries, with reversals; then every dashboard period and many report ranges
(whole days, single seconds, ranges inside an hour, ranges across midnight) are read
from the rollups and compared with the same sums taken from the raw rows."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, datetime, timedelta

from services.billing import ledger, ledger_store, projections

DAY0 = datetime(2026, 2, 27, tzinfo=UTC)  # the history: four days from this midnight,
# across the end of a month (the month rollups)
SPAN = timedelta(days=4)


def _ids() -> tuple[int, int]:
    """A merchant of its own (rollups and ledger rows are never deleted)."""
    return 7_000_000_000 + secrets.randbelow(10**9), 8_000_000_000 + secrets.randbelow(10**9)


def _events(rng: random.Random, n: int) -> list[tuple[dict, str, datetime]]:
    """(event data, product, when) of n payments' lives."""
    out = []
    for i in range(n):
        pid = f"pay_roll{secrets.token_hex(6)}{i}"
        made = DAY0 + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())))
        amount = rng.randrange(100, 100_000)
        currency = rng.choice(["NOR", "NOR", "USD"])
        meta = {"customerId": f"cust_{rng.randrange(40)}", "product": rng.choice(
            ["Tea", "Coffee", "Cake", "Juice", "Bread", "Jam", "Soup"])}
        base = {"paymentId": pid, "amount": str(amount), "currency": currency,
                "metadata": meta, "charges": str(amount // 40), "livemode": False}
        at = made
        out.append(({**base, "status": "pending"}, meta["product"], at))
        if rng.random() < 0.5:
            at += timedelta(seconds=rng.randrange(1, 90))
            out.append(({**base, "status": "processing"}, meta["product"], at))
        end = rng.choice(["completed"] * 6 + ["failed", "canceled", None])
        if end is None:
            continue
        at += timedelta(seconds=rng.randrange(1, 4000))
        out.append(({**base, "status": end}, meta["product"], at))
        if end == "completed" and rng.random() < 0.3:
            at += timedelta(seconds=rng.randrange(1, 90_000))
            refunded = amount if rng.random() < 0.5 else rng.randrange(1, amount)
            out.append(({**base, "status": "refunded" if refunded == amount else "completed",
                         "refundedAmount": str(refunded)}, meta["product"], at))
    return out


def _deliveries(rng: random.Random, events: list) -> list[list]:
    """Batches as the consumer might see them: shuffled a little, some redelivered."""
    seq = list(events)
    for i in range(len(seq) - 1):  # neighbours swap: out of order
        if rng.random() < 0.3:
            seq[i], seq[i + 1] = seq[i + 1], seq[i]
    seq += rng.sample(events, len(events) // 5)  # redeliveries, later
    batches, i = [], 0
    while i < len(seq):
        size = rng.randrange(1, 33)
        batches.append(seq[i:i + size])
        i += size
    return batches


_RAW_DASHBOARD = {
    "revenue": """SELECT COALESCE(SUM(amount - refunded_amount), 0) AS total,
                         COALESCE(SUM(amount - refunded_amount) FILTER (
                             WHERE kind <> 'subscription'), 0) AS payments
                    FROM payment_projection
                   WHERE completed_at >= $1 AND currency = $2 AND merchant_id = $3""",
    "counts": """SELECT status, count(*) AS n FROM payment_projection
                  WHERE created_at >= $1 AND currency = $2 AND merchant_id = $3
                  GROUP BY status""",
    "top": """SELECT product, SUM(amount - refunded_amount) AS revenue, count(*) AS n
                FROM payment_projection
               WHERE completed_at >= $1 AND currency = $2 AND merchant_id = $3
               GROUP BY product ORDER BY revenue DESC, product LIMIT 5""",
    "customers": """SELECT count(*) AS total, count(*) FILTER (WHERE first_seen_at >= $1)
                      FROM customers WHERE merchant_id = $2""",
}


async def test_the_dashboard_from_rollups_equals_the_projection_it_sums(billing_pool):
    seed = secrets.randbelow(10**6)
    rng = random.Random(seed)
    company, merchant = _ids()
    batches = _deliveries(rng, _events(rng, 400))
    for batch in batches:
        rows = [projections.payment_row(
            data=data, company_id=company, merchant_id=merchant, livemode=False,
            kind="payment", product=product, at=at) for data, product, at in batch]
        async with billing_pool.acquire() as conn, conn.transaction():
            await projections.upsert_payments(conn, rows)
            await projections.see_customers(conn, projections.customers_of(rows))
    async with billing_pool.acquire() as conn:
        # A refund's bookkeeping updates the row too, and must move nothing.
        some = await conn.fetchval("SELECT payment_id FROM payment_projection "
                                   "WHERE merchant_id = $1 LIMIT 1", merchant)
        await projections.set_refund_posted(conn, some, 5)
        # Each period from a day of the history, a 1st and a 1 January, as of a day in
        # it (no month over), a day of the next month (February over) and of the one
        # after (March over too): days and months must cover it exactly once.
        starts = [DAY0 + timedelta(days=days) for days in range(-1, 5)] + [
            datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC),
            datetime(2026, 3, 1, tzinfo=UTC)]
        nows = [DAY0 + timedelta(hours=30), datetime(2026, 3, 9, tzinfo=UTC),
                datetime(2026, 4, 2, 5, tzinfo=UTC)]
        for since, now in ((s, n) for s in starts for n in nows if s <= n):
            for currency in ("NOR", "USD"):
                got = await projections.dashboard(conn, company_id=company,
                                                  merchant_id=merchant, livemode=False,
                                                  since=since, currency=currency, now=now)
                want = {k: await conn.fetch(q, since, currency, merchant)
                        for k, q in _RAW_DASHBOARD.items() if k != "customers"}
                where = f"seed {seed}, since {since:%F}, now {now:%F}, {currency}"
                assert (got["revenue"]["total"], got["revenue"]["payments"]) == \
                    tuple(want["revenue"][0]), where
                assert got["counts"] == {r["status"]: r["n"] for r in want["counts"]}, where
                assert [tuple(r) for r in got["top"]] == [tuple(r) for r in want["top"]], \
                    where
            customers = await conn.fetchrow(_RAW_DASHBOARD["customers"], since, merchant)
            assert (got["customers"]["total"], got["customers"]["new"]) == \
                tuple(customers), f"seed {seed}, since {since:%F}, now {now:%F}"
        company_view = await projections.dashboard(  # the company's view sums them too
            conn, company_id=company, merchant_id=None, livemode=False, since=DAY0,
            currency="NOR", now=nows[-1])
        mine = await projections.dashboard(conn, company_id=company, merchant_id=merchant,
                                           livemode=False, since=DAY0, currency="NOR",
                                           now=nows[-1])
        assert company_view["counts"] == mine["counts"] and sum(mine["counts"].values())


_RAW_SETTLEMENT = """
SELECT t.currency,
       COALESCE(SUM(CASE WHEN t.reference_type = 'payment' THEN
           CASE e.direction WHEN 'debit' THEN e.amount ELSE -e.amount END END), 0),
       COALESCE(SUM(CASE WHEN t.reference_type = 'fee' THEN
           CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END END), 0),
       COALESCE(SUM(CASE WHEN t.reference_type = 'refund' THEN
           CASE e.direction WHEN 'credit' THEN e.amount ELSE -e.amount END END), 0),
       COUNT(DISTINCT t.reference_id) FILTER (
           WHERE t.reference_type = 'payment' AND t.reverses IS NULL),
       COUNT(DISTINCT t.id) FILTER (WHERE t.reference_type = 'refund' AND t.reverses IS NULL)
  FROM ledger_transactions t
  JOIN ledger_entries e ON e.transaction_pk = t.id
  JOIN ledger_accounts a ON a.id = e.account_pk AND a.code = 'customer_wallet'
 WHERE t.merchant_id = $1 AND t.livemode = false AND t.posted_at >= $2 AND t.posted_at < $3
 GROUP BY t.currency HAVING count(*) > 0 ORDER BY t.currency"""


def _moment(rng: random.Random) -> datetime:
    """Mostly near an hour's or a day's edge, where the report's pieces meet."""
    edge = DAY0 + timedelta(hours=rng.randrange(int(SPAN.total_seconds()) // 3600))
    return edge + timedelta(seconds=rng.choice([0, 1, -1, 59, 1800, 3599, -3600]) +
                            rng.choice([0, 0, rng.randrange(-7200, 7200)]))


async def test_the_settlement_report_from_rollups_equals_the_ledger(billing_pool):
    seed = secrets.randbelow(10**6)
    rng = random.Random(seed)
    company, merchant = _ids()
    posts: list[ledger_store.Post] = []
    for i in range(300):
        at = _moment(rng)
        data = {"paymentId": f"pay_set{secrets.token_hex(6)}{i}",
                "amount": str(rng.randrange(100, 10**6)), "charges": str(rng.randrange(50)),
                "currency": rng.choice(["NOR", "USD"])}
        postings = ledger.payment_completed(data)
        if rng.random() < 0.3:
            data["refundedAmount"] = str(rng.randrange(1, int(data["amount"])))
            postings += ledger.payment_refunded(data, 0)
        if rng.random() < 0.2:  # funds becoming available: the wallet moves, no sums do
            released = ledger.release(data["currency"], rng.randrange(1, 1000), f"rel_{i}")
            postings += [released] if released else []
        posts += [ledger_store.Post(p, company, merchant, at=at + timedelta(seconds=k),
                                    livemode=False) for k, p in enumerate(postings)]
    async with billing_pool.acquire() as conn:
        ids: list[str] = []
        for i in range(0, len(posts), 50):  # a consumer's batches: one statement each
            ids += await ledger_store.post_many(conn, posts[i:i + 50])
        # Reversals (a correction posts the mirror image, later)
        for k in rng.sample(range(len(posts)), 20):
            pk = await conn.fetchval("SELECT id FROM ledger_transactions "
                                     "WHERE transaction_id = $1", ids[k])
            await ledger_store.post(conn, ledger.reversal(posts[k].posting, ids[k]),
                                    company_id=company, merchant_id=merchant,
                                    livemode=False, reverses=pk, at=_moment(rng))
        ranges = [(DAY0 - timedelta(days=1), DAY0 + SPAN + timedelta(days=1))]
        for _ in range(150):
            a, b = sorted((_moment(rng), _moment(rng)))
            ranges.append((a, b + timedelta(seconds=1)))
        ranges += [(DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)),   # a whole day
                   (DAY0 + timedelta(hours=5), DAY0 + timedelta(hours=6)),  # an hour
                   (DAY0 + timedelta(hours=5, seconds=1), DAY0 + timedelta(hours=5,
                                                                           seconds=2))]
        for start, end in ranges:
            got = await ledger_store.settlement(conn, merchant_id=merchant, livemode=False,
                                                start=start, end=end)
            want = await conn.fetch(_RAW_SETTLEMENT, merchant, start, end)
            assert [tuple(r) for r in got] == [tuple(r) for r in want], \
                f"seed {seed}: [{start}, {end})"


async def test_subscription_counts_follow_inserts_updates_and_deletes(billing_pool):
    """subscription_counts (0011) equals count(*) by status after batches that insert,
    move statuses (and renew without moving one), and delete."""
    seed = secrets.randbelow(10**6)
    rng = random.Random(seed)
    company, merchant = _ids()
    statuses = ("trialing", "active", "past_due", "canceled")
    raw = """SELECT status, count(*) AS n FROM subscriptions
              WHERE merchant_id = $1 AND NOT livemode GROUP BY status"""
    kept = """SELECT status, n FROM subscription_counts
               WHERE merchant_id = $1 AND NOT livemode AND n <> 0"""
    async with billing_pool.acquire() as conn:
        plan = await conn.fetchval(
            """INSERT INTO plans (plan_id, company_id, merchant_id, livemode, name, amount,
                   currency, interval, interval_count)
               VALUES ('plan_counts_' || $1, $2, $3, false, 'Counts', 1000, 'USD', 'month', 1)
               RETURNING id""", str(seed), company, merchant)
        await conn.execute(
            """INSERT INTO subscriptions (subscription_id, plan_pk, company_id, merchant_id,
                   customer_id, status, billing_anchor, period_number, current_period_start,
                   current_period_end, livemode, created_at, updated_at)
               SELECT 'sub_counts_' || $1 || '_' || n, $2, $3, $4, 'cust_' || n, s, now(), 1,
                      now(), now() + interval '1 month', false, now(), now()
                 FROM unnest($5::text[]) WITH ORDINALITY AS t(s, n)""",
            str(seed), plan, company, merchant, [rng.choice(statuses) for _ in range(60)])
        for step in range(6):
            if step % 3 == 2:
                await conn.execute(  # a renewal: no status moves
                    "UPDATE subscriptions SET period_number = period_number + 1"
                    " WHERE merchant_id = $1", merchant)
            else:
                await conn.execute(
                    "UPDATE subscriptions SET status = $2 WHERE merchant_id = $1"
                    " AND id % 5 = $3", merchant, rng.choice(statuses), rng.randrange(5))
            want = {r["status"]: r["n"] for r in await conn.fetch(raw, merchant)}
            assert {r["status"]: r["n"] for r in await conn.fetch(kept, merchant)} == want, \
                f"seed {seed}, step {step}"
        await conn.execute("DELETE FROM subscriptions WHERE merchant_id = $1 AND id % 3 = 0",
                           merchant)
        want = {r["status"]: r["n"] for r in await conn.fetch(raw, merchant)}
        assert {r["status"]: r["n"] for r in await conn.fetch(kept, merchant)} == want
        dash = await projections.dashboard(conn, company_id=company, merchant_id=merchant,
                                           livemode=False, since=DAY0, currency="USD",
                                           now=DAY0)
        assert {s: n for s, n in dash["subscriptions"].items() if n} == want
