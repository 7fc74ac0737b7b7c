"""Refund: give back all or part of a completed payment. All of it makes the payment
refunded; a part leaves it completed, with its own payment.refunded (partial: true).

Written through PaymentWrites like every use case: `Shared` raises NeedsLock for it (a
refund is decided on the payment locked), so the caller runs it with `Locked`.
"""

from __future__ import annotations

import asyncpg

from services.checkout import domain
from services.checkout.domain import Payment
from services.checkout.payment_writes import PaymentWrites
from services.checkout.use_cases import record
from shared.money import parse_minor_string


async def refund(writes: PaymentWrites, payment: Payment,
                 body: domain.RefundPayment) -> tuple[Payment, asyncpg.Record]:
    payment = await writes.held(payment)
    payment.check_refundable()
    asked = None if body.amount is None else \
        parse_minor_string(body.amount, payment.currency).minor
    amount = payment.refund_amount(asked)  # at most what is left (RefundTooLarge)
    made = await writes.add_refund(payment, domain.new_refund_id(), amount, body.reason)
    refunded = int(payment.refunded_amount) + amount
    if refunded == int(payment.amount):
        updated = await record.transition(writes, payment, "refunded",
                                          changes={"refunded_amount": refunded},
                                          detail={"refundId": made["refund_id"]})
        return updated, made
    # A part: no status change, but its own event and history row.
    updated = await record.partly_refunded(writes, payment, refunded=refunded, amount=amount,
                                           refund_id=made["refund_id"])
    return updated, made
