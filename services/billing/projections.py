"""SQL of billing's own projections of payment events, and the dashboard's queries."""

from __future__ import annotations

from datetime import datetime

# Events can arrive out of order (retries, replicas): a status only moves forward.
STATUS_RANK = {"pending": 0, "processing": 1, "completed": 2, "failed": 2, "canceled": 2,
               "refunded": 3}


async def upsert_payment(conn, *, data: dict, company_id: int, merchant_id: int, kind: str,
                         product: str, at: datetime):
    status = data["status"]
    completed_at = at if status == "completed" else None
    customer = (data.get("metadata") or {}).get("customerId")
    return await conn.fetchrow(
        """INSERT INTO payment_projection AS p (payment_id, company_id, merchant_id, status,
               status_rank, amount, currency, charges, refunded_amount, kind, product,
               customer_id, created_at, completed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (payment_id) DO UPDATE SET
               status = CASE WHEN EXCLUDED.status_rank >= p.status_rank
                             THEN EXCLUDED.status ELSE p.status END,
               status_rank = GREATEST(p.status_rank, EXCLUDED.status_rank),
               charges = GREATEST(p.charges, EXCLUDED.charges),
               refunded_amount = GREATEST(p.refunded_amount, EXCLUDED.refunded_amount),
               created_at = LEAST(p.created_at, EXCLUDED.created_at),
               completed_at = COALESCE(p.completed_at, EXCLUDED.completed_at)
           RETURNING *""",
        data["paymentId"], company_id, merchant_id, status, STATUS_RANK.get(status, 0),
        int(data["amount"]), data["currency"], int(data.get("charges") or 0),
        int(data.get("refundedAmount") or 0), kind, product[:200],
        str(customer)[:200] if customer else None, at, completed_at)


async def refund_posted(conn, payment_id: str) -> int:
    """Locks the payment's projection row: two refund events post one after the other."""
    value = await conn.fetchval("SELECT refund_posted FROM payment_projection "
                                "WHERE payment_id = $1 FOR UPDATE", payment_id)
    return int(value or 0)


async def set_refund_posted(conn, payment_id: str, value: int) -> None:
    await conn.execute("UPDATE payment_projection SET refund_posted = $2 WHERE payment_id = $1",
                       payment_id, value)


async def see_customer(conn, *, company_id: int, merchant_id: int, customer_id: str,
                       at: datetime) -> None:
    await conn.execute(
        """INSERT INTO customers (company_id, merchant_id, customer_id, first_seen_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (merchant_id, customer_id) DO UPDATE
               SET first_seen_at = LEAST(customers.first_seen_at, EXCLUDED.first_seen_at)""",
        company_id, merchant_id, customer_id[:200], at)


def _where(company_id, merchant_id, args: list, prefix: str = "") -> str:
    parts = ["true"]
    if company_id is not None:
        args.append(company_id)
        parts.append(f"{prefix}company_id = ${len(args)}")
    if merchant_id is not None:
        args.append(merchant_id)
        parts.append(f"{prefix}merchant_id = ${len(args)}")
    return " AND ".join(parts)


async def dashboard(conn, *, company_id, merchant_id, since: datetime, currency: str) -> dict:
    args: list = [since, currency]
    scope = _where(company_id, merchant_id, args)
    revenue = await conn.fetchrow(
        f"""SELECT COALESCE(SUM(amount - refunded_amount), 0) AS total,
                   COALESCE(SUM(amount - refunded_amount) FILTER (
                       WHERE kind <> 'subscription'), 0) AS payments,
                   COALESCE(SUM(amount - refunded_amount) FILTER (
                       WHERE kind = 'subscription'), 0) AS subscriptions
              FROM payment_projection
             WHERE completed_at >= $1 AND currency = $2 AND {scope}""", *args)
    counts = await conn.fetch(
        f"""SELECT status, count(*) AS n FROM payment_projection
             WHERE created_at >= $1 AND currency = $2 AND {scope} GROUP BY status""", *args)
    top = await conn.fetch(
        f"""SELECT product, SUM(amount - refunded_amount) AS revenue, count(*) AS n
              FROM payment_projection
             WHERE completed_at >= $1 AND currency = $2 AND {scope}
             GROUP BY product ORDER BY revenue DESC, product LIMIT 5""", *args)
    sargs: list = []
    subs = await conn.fetch(
        f"SELECT status, count(*) AS n FROM subscriptions WHERE "
        f"{_where(company_id, merchant_id, sargs)} GROUP BY status", *sargs)
    cargs: list = [since]
    customers = await conn.fetchrow(
        f"""SELECT count(*) AS total, count(*) FILTER (WHERE first_seen_at >= $1) AS new
              FROM customers WHERE {_where(company_id, merchant_id, cargs)}""", *cargs)
    return {"revenue": revenue, "counts": {r["status"]: r["n"] for r in counts},
            "subscriptions": {r["status"]: r["n"] for r in subs}, "customers": customers,
            "top": top}
