"""Act: the payer's answer to the step a rail asked for (an OMARI OTP, 3-D Secure)."""

from __future__ import annotations

from services.checkout import connectors, domain
from services.checkout.domain import Payment
from services.checkout.payment_writes import PaymentWrites
from services.checkout.use_cases import record


async def act(writes: PaymentWrites, payment: Payment, body: domain.PaymentAction, *,
              retry: bool = False) -> tuple[Payment, connectors.Outcome]:
    payment = await writes.held(payment)
    payment.check_actionable()
    result = connectors.act(payment, body)
    return await record.outcome(writes, payment, result, retry=retry), result
