"""SQL of billing's own projections of payment events, and the dashboard's queries.
Each row belongs to one mode and the dashboard counts the caller's (docs/modes.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

# Events can arrive out of order (retries, replicas): a status only moves forward.
STATUS_RANK = {"pending": 0, "processing": 1, "completed": 2, "failed": 2, "canceled": 2,
               "refunded": 3}


def payment_row(*, data: dict, company_id: int, merchant_id: int, livemode: bool, kind: str,
                product: str, at: datetime) -> tuple:
    """The projection's columns for one payment event (upsert_payments' rows)."""
    status = data["status"]
    customer = (data.get("metadata") or {}).get("customerId")
    return (data["paymentId"], company_id, merchant_id, status, STATUS_RANK.get(status, 0),
            int(data["amount"]), data["currency"], int(data.get("charges") or 0),
            int(data.get("refundedAmount") or 0), kind, product[:200],
            str(customer)[:200] if customer else None, at,
            at if status == "completed" else None, livemode)


_ID, _STATUS, _RANK, _CHARGES, _REFUNDED, _CUSTOMER, _CREATED, _COMPLETED, _LIVEMODE = \
    0, 3, 4, 7, 8, 11, 12, 13, 14


def customers_of(rows: list[tuple]) -> list[tuple]:
    """The customers payment_row()s name, as see_customers takes them."""
    return [(r[1], r[2], r[_LIVEMODE], r[_CUSTOMER], r[_CREATED]) for r in rows
            if r[_CUSTOMER]]


def _merged(rows: list[tuple]) -> list[tuple]:
    """One row per payment, as if each were upserted in turn (the ON CONFLICT rules
    below): one INSERT cannot touch a row twice."""
    out: dict[str, list] = {}
    for row in rows:
        seen = out.get(row[_ID])
        if seen is None:
            out[row[_ID]] = list(row)
            continue
        if row[_RANK] >= seen[_RANK]:
            seen[_STATUS] = row[_STATUS]
        seen[_RANK] = max(seen[_RANK], row[_RANK])
        seen[_CHARGES] = max(seen[_CHARGES], row[_CHARGES])
        seen[_REFUNDED] = max(seen[_REFUNDED], row[_REFUNDED])
        seen[_CREATED] = min(seen[_CREATED], row[_CREATED])
        seen[_COMPLETED] = seen[_COMPLETED] or row[_COMPLETED]
    return [tuple(r) for r in out.values()]


async def upsert_payments(conn, rows: list[tuple]) -> None:
    """Upsert payment_row()s, in order, in one statement. Events can arrive out of
    order (retries, replicas): a status only moves forward."""
    if not rows:
        return
    columns = list(zip(*_merged(rows), strict=True))
    await conn.execute(
        """INSERT INTO payment_projection AS p (payment_id, company_id, merchant_id, status,
               status_rank, amount, currency, charges, refunded_amount, kind, product,
               customer_id, created_at, completed_at, livemode)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[],
               $5::int[], $6::numeric[], $7::text[], $8::numeric[], $9::numeric[],
               $10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::timestamptz[],
               $15::boolean[])
           ON CONFLICT (payment_id) DO UPDATE SET
               status = CASE WHEN EXCLUDED.status_rank >= p.status_rank
                             THEN EXCLUDED.status ELSE p.status END,
               status_rank = GREATEST(p.status_rank, EXCLUDED.status_rank),
               charges = GREATEST(p.charges, EXCLUDED.charges),
               refunded_amount = GREATEST(p.refunded_amount, EXCLUDED.refunded_amount),
               created_at = LEAST(p.created_at, EXCLUDED.created_at),
               completed_at = COALESCE(p.completed_at, EXCLUDED.completed_at)""",
        *columns)


async def refund_posted(conn, payment_id: str) -> int:
    """Locks the payment's projection row: two refund events post one after the other."""
    value = await conn.fetchval("SELECT refund_posted FROM payment_projection "
                                "WHERE payment_id = $1 FOR UPDATE", payment_id)
    return int(value or 0)


async def set_refund_posted(conn, payment_id: str, value: int) -> None:
    await conn.execute("UPDATE payment_projection SET refund_posted = $2 WHERE payment_id = $1",
                       payment_id, value)


async def see_customers(conn, rows: list[tuple[int, int, bool, str, datetime]]) -> None:
    """(company_id, merchant_id, livemode, customer_id, at): each customer's first
    sighting in that mode."""
    first: dict[tuple[int, bool, str], tuple] = {}
    for company_id, merchant_id, livemode, customer_id, at in rows:
        key = (merchant_id, livemode, customer_id[:200])
        if key not in first or at < first[key][4]:
            first[key] = (company_id, merchant_id, livemode, customer_id[:200], at)
    if not first:
        return
    await conn.execute(
        """INSERT INTO customers (company_id, merchant_id, livemode, customer_id,
                                  first_seen_at)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::text[],
                                $5::timestamptz[])
           ON CONFLICT (merchant_id, livemode, customer_id) DO UPDATE
               SET first_seen_at = LEAST(customers.first_seen_at, EXCLUDED.first_seen_at)""",
        *zip(*first.values(), strict=True))


def _where(company_id, merchant_id, livemode: bool, args: list, prefix: str = "") -> str:
    args.append(livemode)
    parts = [f"{prefix}livemode = ${len(args)}"]
    if company_id is not None:
        args.append(company_id)
        parts.append(f"{prefix}company_id = ${len(args)}")
    if merchant_id is not None:
        args.append(merchant_id)
        parts.append(f"{prefix}merchant_id = ${len(args)}")
    return " AND ".join(parts)


def _months_of(since: date, now: datetime) -> tuple[date, date]:
    """[first, end) of the whole months a period from `since` to `now` holds that are over
    (the month rollups answer them; days answer the rest): from the first 1st on or after
    `since` to the 1st of `now`'s month. Empty (first == end) when there are none."""
    end = now.astimezone(UTC).date().replace(day=1)
    first = since if since.day == 1 else (since.replace(day=28) + timedelta(days=4)).replace(
        day=1)
    return min(first, end), end


def _days_and_months(days: str, months: str, columns: str, scope: str) -> str:
    """The rows of a day rollup and its month rollup that together cover the period
    exactly once: the days from $1 outside [$3, $4), the months within it."""
    return f"""(SELECT {columns} FROM {days} WHERE day >= $1 AND NOT (day >= $3 AND day < $4)
                  AND currency = $2 AND {scope}
                UNION ALL
                SELECT {columns} FROM {months} WHERE month >= $3 AND month < $4
                  AND currency = $2 AND {scope}) AS r"""


async def dashboard(conn, *, company_id, merchant_id, livemode: bool, since: datetime,
                    currency: str, now: datetime) -> dict:
    """From the rollups (0007_rollups, 0010_month_rollups): a period reads one row per
    status (or product) and merchant in scope for each month of it that is over and each
    day of the rest; `since` is a UTC midnight (ledger_api.period_start), `now` the time
    the period runs to."""
    day = since.astimezone(UTC).date()
    first, end = _months_of(day, now)
    args: list = [day, currency, first, end]
    scope = _where(company_id, merchant_id, livemode, args)
    revenue = await conn.fetchrow(
        f"""SELECT COALESCE(SUM(revenue), 0) AS total,
                   COALESCE(SUM(revenue) FILTER (WHERE kind <> 'subscription'), 0) AS payments,
                   COALESCE(SUM(revenue) FILTER (WHERE kind = 'subscription'), 0)
                       AS subscriptions
              FROM {_days_and_months("revenue_days", "revenue_months", "kind, revenue", scope)}""",
        *args)
    counts = await conn.fetch(
        f"""SELECT status, SUM(n)::bigint AS n
              FROM {_days_and_months("payment_day_counts", "payment_month_counts",
                                     "status, n", scope)}
             GROUP BY status HAVING SUM(n) <> 0""", *args)
    top = await conn.fetch(
        f"""SELECT product, SUM(revenue) AS revenue, SUM(n)::bigint AS n
              FROM {_days_and_months("revenue_days", "revenue_months",
                                     "product, revenue, n", scope)}
             GROUP BY product HAVING SUM(n) <> 0 ORDER BY revenue DESC, product LIMIT 5""",
        *args)
    sargs: list = []
    subs = await conn.fetch(
        f"SELECT status, SUM(n)::bigint AS n FROM subscription_counts WHERE "
        f"{_where(company_id, merchant_id, livemode, sargs)} GROUP BY status", *sargs)
    # Every customer ever (the months before this one, this month's days) and the new
    # ones since `since` (its months that are over, the rest of it in days).
    cargs: list = [day, first, end]
    cscope = _where(company_id, merchant_id, livemode, cargs)
    customers = await conn.fetchrow(
        f"""SELECT COALESCE(SUM(n) FILTER (WHERE whole OR at >= $3), 0)::bigint AS total,
                   COALESCE(SUM(n) FILTER (WHERE whole AND at >= $2
                                           OR NOT whole AND at >= $1
                                              AND NOT (at >= $2 AND at < $3)), 0)::bigint
                       AS new
              FROM (SELECT day AS at, n, false AS whole FROM customer_days
                     WHERE (day >= $3 OR day >= $1 AND day < $2) AND {cscope}
                    UNION ALL
                    SELECT month, n, true FROM customer_months
                     WHERE month < $3 AND {cscope}) AS c""",
        *cargs)
    return {"revenue": revenue, "counts": {r["status"]: r["n"] for r in counts},
            "subscriptions": {r["status"]: r["n"] for r in subs}, "customers": customers,
            "top": top}


async def dashboard_series(conn, *, company_id, merchant_id, livemode: bool, hourly: bool,
                           start: datetime, end: datetime,
                           currencies: list[str]) -> tuple[list, list]:
    """The series' buckets in [start, end) (bucket-aligned: UTC hours or midnights), from
    the hour rollups or the day ones (0012_hour_rollups): (counts, revenue) rows of
    (currency, bucket, ...). Every currency is named (currency = ANY): the day counts'
    key has the currency before the day, so each currency is its own index range."""
    lo: date | datetime
    hi: date | datetime
    if hourly:
        lo, hi, counts_table, revenue_table, col = start, end, "payment_hour_counts", \
            "revenue_hours", "hour"
    else:
        lo, hi, counts_table, revenue_table, col = start.date(), end.date(), \
            "payment_day_counts", "revenue_day_totals", "day"
    args: list = [lo, hi, currencies]
    scope = _where(company_id, merchant_id, livemode, args)
    counts = await conn.fetch(
        f"""SELECT currency, {col} AS bucket,
                   COALESCE(SUM(n) FILTER (WHERE status = 'completed'), 0)::bigint
                       AS completed,
                   COALESCE(SUM(n) FILTER (WHERE status = 'failed'), 0)::bigint AS failed
              FROM {counts_table}
             WHERE {col} >= $1 AND {col} < $2 AND currency = ANY($3::text[]) AND {scope}
             GROUP BY 1, 2""", *args)
    revenue = await conn.fetch(
        f"""SELECT currency, {col} AS bucket, SUM(revenue) AS revenue
              FROM {revenue_table}
             WHERE {col} >= $1 AND {col} < $2 AND currency = ANY($3::text[]) AND {scope}
             GROUP BY 1, 2 HAVING SUM(n) <> 0 OR SUM(revenue) <> 0""", *args)
    return list(counts), list(revenue)
