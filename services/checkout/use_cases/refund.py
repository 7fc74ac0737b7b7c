"""Refund: give back all or part of a completed payment. All of it makes the payment
refunded; a part leaves it completed, with its own payment.refunded (partial: true)."""

from __future__ import annotations

import asyncpg

from services.checkout import domain, store
from services.checkout.domain import Payment
from services.checkout.payment_writes import Locked
from services.checkout.use_cases import record
from shared.money import parse_minor_string


async def refund(writes: Locked, payment: Payment,
                 body: domain.RefundPayment) -> tuple[Payment, asyncpg.Record]:
    payment = await writes.held(payment)
    payment.check_refundable()
    asked = None if body.amount is None else \
        parse_minor_string(body.amount, payment.currency).minor
    amount = payment.refund_amount(asked)  # at most what is left (RefundTooLarge)
    conn = writes.work.conn
    made = await store.add_refund(conn, refund_id=domain.new_refund_id(), pk=payment.id,
                                  amount=amount, reason=body.reason)
    refunded = int(payment.refunded_amount) + amount
    if refunded == int(payment.amount):
        updated = await record.transition(writes, payment, "refunded",
                                          changes={"refunded_amount": refunded},
                                          detail={"refundId": made["refund_id"]})
        return updated, made
    updated = await writes.update(payment, {"refunded_amount": refunded})
    sent = writes.work.emit("payment.refunded", {
        **updated.event_data(), "partial": True, "refundAmount": str(amount)},
        company_id=str(updated.company_id), merchant_id=str(updated.merchant_id))
    await store.add_history(conn, payment.id, "partially_refunded",
                            {"refundId": made["refund_id"], "amount": str(amount),
                             "eventId": str(sent.id)})
    return updated, made
