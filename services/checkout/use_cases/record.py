"""How a use case writes a payment's status change: the column changes the Payment
rules give, its event and its history row, together (payment_writes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.checkout import connectors
from services.checkout.domain import ATTEMPT_FAILED, EVENT_OF, Payment, event_data, event_ids
from services.checkout.payment_writes import PaymentWrites
from shared.events import Event


def event(event_type: str, payment: Mapping[str, Any], **extra: Any) -> Event:
    return Event(type=event_type, producer="checkout",
                 data={**event_data(payment), **extra}, **event_ids(payment))


async def transition(writes: PaymentWrites, payment: Payment, target: str, *,
                     changes: Mapping[str, Any] | None = None,
                     detail: dict[str, Any] | None = None) -> Payment:
    """Move `payment` to `target`. Each status change names the event it emitted (the
    timeline links its webhooks)."""
    changes = payment.status_changes(target, changes, datetime.now(UTC))
    sent = event(EVENT_OF[target], payment.seen_with(changes))
    return await writes.transition(payment, changes, target,
                                   {**(detail or {}), "eventId": str(sent.id)}, sent)


async def partly_refunded(writes: PaymentWrites, payment: Payment, *, refunded: int,
                          amount: int, refund_id: str) -> Payment:
    """A part of `payment` given back (`refunded` in all now): no status change, but its
    own payment.refunded (partial: true) and a "partially_refunded" history row."""
    changes = {"refunded_amount": refunded}
    sent = event("payment.refunded", payment.seen_with(changes), partial=True,
                 refundAmount=str(amount))
    return await writes.transition(payment, changes, "partially_refunded",
                                   {"refundId": refund_id, "amount": str(amount),
                                    "eventId": str(sent.id)}, sent)


async def outcome(writes: PaymentWrites, payment: Payment, result: connectors.Outcome, *,
                  method: str | None = None, retry: bool = False) -> Payment:
    """Record the rail's outcome. `retry`: the shopper is on a checkout page, so a
    decline is an attempt they may follow with another (Payment.may_retry)."""
    if retry and result.status == "failed" and payment.may_retry(datetime.now(UTC)):
        return await _failed_attempt(writes, payment, result, method or payment.payment_method)
    changes: dict[str, Any] = dict(result.facts)
    if method:
        changes["payment_method"] = method
    if result.status == "failed":
        changes["failure_reason"] = result.reason
    if result.status == "processing":
        changes["pending_action"] = result.action
    if result.status == payment.status:  # still processing, facts only
        return await writes.update(payment, changes) if changes else payment
    return await transition(writes, payment, result.status, changes=changes,
                            detail={"reason": result.reason, "action": result.action})


async def _failed_attempt(writes: PaymentWrites, payment: Payment,
                          result: connectors.Outcome, method: str | None) -> Payment:
    """A declined attempt: back to pending, the attempt in the timeline and sent as
    `payment.attempt_failed`."""
    changes = payment.attempt_changes(result.reason)
    attempt = changes["failed_attempts"]
    detail: dict[str, Any] = {"attempt": attempt, "method": method, "reason": result.reason}
    facts = result.facts
    if facts.get("card_last4"):  # which card, as the shopper would name it
        detail["card"] = f"{facts.get('card_brand') or 'CARD'} {facts['card_last4']}"
    sent = event(ATTEMPT_FAILED, payment.seen_with(changes), paymentMethod=method,
                 attempt=attempt, failureReason=result.reason)
    return await writes.transition(payment, changes, "attempt_failed",
                                   {**detail, "eventId": str(sent.id)}, sent)
