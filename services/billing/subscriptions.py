"""Subscription use cases: create, cancel, change the saved method, and the steps
the renewal scheduler takes (open a period's invoice, record a collection)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.billing import domain, invoices, projections, store
from shared.events import UnitOfWork
from shared.http.errors import ApiError, Errors
from shared.settings import Settings


def render(row) -> dict:
    method = row["payment_method"]
    return {
        "subscriptionId": row["subscription_id"], "planId": row["plan_id"],
        "customerId": row["customer_id"], "status": row["status"],
        "currentPeriodStart": domain.epoch(row["current_period_start"]),
        "currentPeriodEnd": domain.epoch(row["current_period_end"]),
        "trialEnd": domain.epoch(row["trial_end"]), "amount": str(int(row["amount"])),
        "currency": row["currency"], "interval": row["interval"],
        "intervalCount": row["interval_count"],
        "cancelAtPeriodEnd": row["cancel_at_period_end"],
        "canceledAt": domain.epoch(row["canceled_at"]), "endsAt": domain.epoch(row["ends_at"]),
        "cancelReason": row["cancel_reason"], "metadata": row["metadata"],
        "paymentMethod": domain.SavedMethod.model_validate(method).public() if method else None,
        "livemode": row["livemode"], "createdAt": domain.epoch(row["created_at"]),
    }


def ids(row) -> dict:
    return {"company_id": str(row["company_id"]), "merchant_id": str(row["merchant_id"])}


def _emit(uow: UnitOfWork, kind: str, row) -> None:
    uow.emit(f"subscription.{kind}", render(row), **ids(row))


async def create(uow: UnitOfWork, *, plan, body: domain.CreateSubscription, now: datetime):
    interval, count = plan["interval"], plan["interval_count"]
    if body.trial_days:
        trial_end = now + timedelta(days=body.trial_days)
        # period 0 is the trial; the first paid period starts when it ends
        start, end, status, anchor, number = now, trial_end, "trialing", trial_end, 0
        next_charge = trial_end
    else:
        trial_end, status, anchor, number = None, "active", now, 1
        start, end = now, domain.period_boundary(now, interval, count, 1)
        next_charge = now  # the first period is billed at the next tick
    method = body.payment_method.checked().model_dump(by_alias=True, exclude_none=True) \
        if body.payment_method else None
    row = await store.insert_subscription(
        uow.conn, subscription_id=domain.new_id("sub"), plan_pk=plan["id"],
        company_id=plan["company_id"], merchant_id=plan["merchant_id"],
        customer_id=body.customer_id, status=status, billing_anchor=anchor,
        period_number=number, current_period_start=start, current_period_end=end,
        trial_end=trial_end, next_charge_at=next_charge, metadata=body.metadata,
        payment_method=method, livemode=plan["livemode"], now=now)
    await projections.see_customers(uow.conn, [(
        plan["company_id"], plan["merchant_id"], plan["livemode"], body.customer_id, now)])
    _emit(uow, "created", row)
    return row


async def cancel(uow: UnitOfWork, row, body: domain.CancelSubscription, *, now: datetime):
    row = await store.subscription_by_pk(uow.conn, row["id"], for_update=True)
    if row["status"] == "canceled":
        raise ApiError(Errors.CONFLICT, detail="This subscription is already canceled")
    if body.cancel_at_period_end:
        # it stays in its status, and is not renewed, until the period ends
        row = await store.update_subscription(uow.conn, row["id"], {
            "cancel_at_period_end": True, "canceled_at": now,
            "ends_at": row["current_period_end"], "cancel_reason": body.reason}, now)
        _emit(uow, "updated", row)
        return row
    domain.check_subscription(row["status"], "canceled")
    row = await store.update_subscription(uow.conn, row["id"], {
        "status": "canceled", "canceled_at": now, "ends_at": now, "next_charge_at": None,
        "cancel_reason": body.reason}, now)
    _emit(uow, "canceled", row)
    return row


async def set_method(uow: UnitOfWork, row, method: domain.SavedMethod, *, now: datetime):
    row = await store.subscription_by_pk(uow.conn, row["id"], for_update=True)
    if row["status"] == "canceled":
        raise ApiError(Errors.CONFLICT, detail="This subscription is canceled")
    row = await store.update_subscription(uow.conn, row["id"], {
        "payment_method": method.checked().model_dump(by_alias=True, exclude_none=True)}, now)
    _emit(uow, "updated", row)
    return row


# Renewal steps (called by the scheduler) -------------------------------------------------

async def open_due_period(uow: UnitOfWork, settings: Settings, row, *, now: datetime):
    """Bill the period that starts at next_charge_at (rolling the period first when the
    current one is over), or end a subscription canceled at period end. Returns the
    subscription row after the step."""
    interval, count = row["interval"], row["interval_count"]
    changes: dict = {}
    start, end, number = row["current_period_start"], row["current_period_end"], \
        row["period_number"]
    if row["next_charge_at"] >= end:  # the current period is over
        if row["cancel_at_period_end"]:
            row = await store.update_subscription(uow.conn, row["id"], {
                "status": "canceled", "next_charge_at": None, "ends_at": end}, now)
            _emit(uow, "canceled", row)
            return row
        number += 1
        start = end
        end = domain.period_boundary(row["billing_anchor"], interval, count, number)
        changes.update(current_period_start=start, current_period_end=end,
                       period_number=number)
        if row["status"] == "trialing":
            changes["status"] = "active"
    changes["next_charge_at"] = end
    row = await store.update_subscription(uow.conn, row["id"], changes, now)
    amount = int(row["amount"])
    line = {"description": f"{row['plan_name']} - {domain.epoch(start)} to {domain.epoch(end)}",
            "quantity": 1, "unitPrice": str(amount), "amount": str(amount),
            "taxRateId": None, "taxRate": None, "tax": "0",
            "period": {"start": domain.epoch(start), "end": domain.epoch(end)}}
    await invoices.create(
        uow, settings, now=now, invoice_id=domain.new_id("inv"), company_id=row["company_id"],
        merchant_id=row["merchant_id"], livemode=row["livemode"], status="open",
        customer={"id": row["customer_id"], "subscriptionId": row["subscription_id"]},
        lines=[line], currency=row["currency"], subtotal=amount, tax=0, due=start,
        subscription_pk=row["id"], period=(start, end), next_attempt_at=now)
    if "current_period_start" in changes:
        _emit(uow, "updated", row)
    return row


async def collection_failed(uow: UnitOfWork, settings: Settings, invoice, reason: str, *,
                            dunning_days: tuple[float, ...], now: datetime) -> None:
    """A collection attempt failed: schedule the next dunning retry, or give up."""
    attempts = invoice["attempt_count"] + 1
    sub = await store.subscription_by_pk(uow.conn, invoice["subscription_pk"], for_update=True)
    if attempts <= len(dunning_days):
        await store.update_invoice(uow.conn, invoice["id"], {
            "attempt_count": attempts, "last_failure": reason[:500],
            "next_attempt_at": now + timedelta(days=dunning_days[attempts - 1])}, now)
        if sub["status"] in ("active", "trialing"):
            sub = await store.update_subscription(uow.conn, sub["id"], {"status": "past_due"},
                                                  now)
            _emit(uow, "updated", sub)
        return
    await store.update_invoice(uow.conn, invoice["id"], {
        "attempt_count": attempts, "last_failure": reason[:500], "next_attempt_at": None,
        "status": "uncollectible"}, now)
    if sub["status"] != "canceled":
        sub = await store.update_subscription(uow.conn, sub["id"], {
            "status": "canceled", "canceled_at": now, "ends_at": now, "next_charge_at": None,
            "cancel_reason": "Payment failed after every dunning retry"}, now)
        _emit(uow, "canceled", sub)


async def invoice_paid(uow: UnitOfWork, invoice, *, now: datetime) -> None:
    """A subscription's invoice was paid: a past_due subscription is active again."""
    if invoice["subscription_pk"] is None:
        return
    sub = await store.subscription_by_pk(uow.conn, invoice["subscription_pk"], for_update=True)
    if sub["status"] == "past_due":
        sub = await store.update_subscription(uow.conn, sub["id"], {"status": "active"}, now)
        _emit(uow, "updated", sub)
