"""What an asynchronous rail (the sandbox ECOCASH phone prompt) sends later: its
callback settles a payment still waiting for it; an unanswered prompt fails after
RAIL_TIMEOUT, checked when the payment is read (as the seed's NORAH status check does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from services.checkout import connectors
from services.checkout.domain import Payment
from services.checkout.payment_writes import Locked
from services.checkout.use_cases import record
from shared.events import OutboxRelay, UnitOfWork

RAIL_TIMEOUT = timedelta(minutes=2)  # a phone prompt nobody answers fails after this


async def rail_answered(work: UnitOfWork, payment: Payment) -> Payment:
    writes = Locked(work)
    payment = await writes.held(payment)
    if payment.status != "processing" or payment.payment_method != "ECOCASH":
        return payment  # canceled, timed out or settled meanwhile: a late callback changes nothing
    return await record.outcome(writes, payment, connectors.ecocash_callback(payment))


async def settle_if_timed_out(pool: asyncpg.Pool, relay: OutboxRelay | None,
                              payment: Payment) -> Payment:
    if not (payment.status == "processing" and payment.payment_method == "ECOCASH"
            and payment.updated_at < datetime.now(UTC) - RAIL_TIMEOUT):
        return payment
    async with UnitOfWork(pool, producer="checkout", relay=relay) as work:
        writes = Locked(work)
        held = await writes.held(payment)
        if held.status != "processing":
            return held
        return await record.outcome(writes, held, connectors.Outcome(
            "failed", "The subscriber did not answer the payment prompt in time"))
