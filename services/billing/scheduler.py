"""The renewal scheduler: every NORGATE_BILLING_TICK_SECONDS, `tick(app, now)`

  1. opens an invoice for each subscription period that is due (trial ends,
     renewals), or ends a subscription canceled at period end;
  2. charges each open subscription invoice whose attempt is due through checkout
     (the subscription's saved off-session method); a failure schedules the next
     retry from NORGATE_BILLING_DUNNING_DAYS, and when they run out the invoice is
     uncollectible and the subscription canceled;
  3. emits invoice.overdue once for each open invoice past its due date.

Safe with several replicas: a tick runs only while holding a session advisory lock
(another replica's tick skips that round), and each row is taken with
FOR UPDATE SKIP LOCKED in its own transaction. Time comes from the app's clock, so a
test can call tick() with a clock it moves by a day at a time.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.billing import collect, invoices, store, subscriptions
from services.billing.context import CLOCK, uow
from shared.http.app import POOL
from shared.http.middleware import SETTINGS
from shared.logging import get_logger

log = get_logger(__name__)

LOCK_KEY = 0x6E67_6269_6C6C  # "ngbill": one billing tick at a time across replicas
MAX_STEPS = 10_000  # per phase and tick: a bound, never reached in practice


async def tick(app: web.Application, now: datetime | None = None) -> bool:
    """One round; False when another replica holds the lock."""
    now = now or app[CLOCK].now()
    async with app[POOL].acquire() as lock_conn:
        if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            return False
        try:
            await _open_periods(app, now)
            await _collect(app, now)
            await _overdue(app, now)
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    return True


async def _open_periods(app: web.Application, now: datetime) -> None:
    for _ in range(MAX_STEPS):
        async with uow(app) as work:
            row = await store.next_due_subscription(work.conn, now)
            if row is None:
                return
            await subscriptions.open_due_period(work, app[SETTINGS], row, now=now)


async def _collect(app: web.Application, now: datetime) -> None:
    settings = app[SETTINGS]
    for _ in range(MAX_STEPS):
        async with uow(app) as work:
            inv = await store.next_collectable_invoice(work.conn, now)
            if inv is None:
                return
            sub = await store.subscription_by_pk(work.conn, inv["subscription_pk"])
            method = sub["payment_method"]
            if method is None:
                outcome = {"status": "failed", "failureReason": "No saved payment method"}
            else:
                try:
                    # The row stays locked during the call: the payment.completed
                    # handler waits for this transaction and then finds it paid.
                    outcome = await collect.charge(
                        app, merchant_id=inv["merchant_id"], livemode=inv["livemode"],
                        amount=int(inv["total"]),
                        currency=inv["currency"],
                        description=f"Invoice {inv['invoice_number']}",
                        metadata={"subscriptionId": sub["subscription_id"],
                                  "invoiceId": inv["invoice_id"],
                                  "customerId": sub["customer_id"],
                                  "product": sub["plan_name"]},
                        method=method)
                except collect.CollectionUnavailable as exc:
                    log.warning("billing_collection_unavailable", error=str(exc),
                                invoice_id=inv["invoice_id"])
                    return  # nothing changed; the attempt runs again at the next tick
            if outcome["status"] == "completed":
                paid = await invoices.mark_paid(work, settings, inv["id"],
                                                payment_id=outcome["paymentId"], now=now)
                if paid is not None:
                    await subscriptions.invoice_paid(work, paid, now=now)
            else:
                await subscriptions.collection_failed(
                    work, settings, inv, outcome.get("failureReason") or outcome["status"],
                    dunning_days=settings.billing_dunning_days, now=now)


async def _overdue(app: web.Application, now: datetime) -> None:
    for _ in range(MAX_STEPS):
        async with uow(app) as work:
            inv = await store.next_overdue_invoice(work.conn, now)
            if inv is None:
                return
            inv = await store.update_invoice(work.conn, inv["id"], {"overdue_at": now}, now)
            work.emit("invoice.overdue", invoices.event_data(inv, app[SETTINGS]),
                      **invoices.ids(inv))
