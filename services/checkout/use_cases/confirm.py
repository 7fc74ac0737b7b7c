"""Confirm: charge a pending payment through the rail the payer chose, and record what
the rail answered.

With `Locked` the payment is read FOR UPDATE first; with `Shared` it is decided on as
read and written only if still so, and NeedsLock sends the caller to `Locked` (a rail
that needs the database, a payment that changed meanwhile). Either way concurrent
confirms charge it once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from services.checkout import connectors, domain
from services.checkout.domain import Payment
from services.checkout.payment_writes import PaymentWrites
from services.checkout.use_cases import record


async def confirm(writes: PaymentWrites, payment: Payment, body: domain.ConfirmPayment, *,
                  retry: bool = False) -> tuple[Payment, connectors.Outcome]:
    """`retry`: the payer is on a checkout page, so a decline leaves another attempt
    while the payment's rules allow one."""
    payment = await writes.held(payment)
    # Refused before any rail is reached: the payment stays as it is, with no event.
    payment.check_confirmable(body.payment_method, connectors.for_mode(payment.livemode),
                              datetime.now(UTC))
    result = await writes.charge(payment, body)
    payment = await record.outcome(writes, payment, result, method=body.payment_method,
                                   retry=retry)
    return payment, result
