"""Cancel: end a pending or processing payment (payment.canceled)."""

from __future__ import annotations

from services.checkout.domain import Payment
from services.checkout.payment_writes import PaymentWrites
from services.checkout.use_cases import record


async def cancel(writes: PaymentWrites, payment: Payment) -> Payment:
    payment = await writes.held(payment)
    payment.check_cancelable()
    return await record.transition(writes, payment, "canceled")
