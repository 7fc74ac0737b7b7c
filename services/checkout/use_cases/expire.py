"""Expire: the sweep that cancels pending payments whose session has ended.

A session's end is enforced at once by every confirm and page (Payment.expired); the
sweep only makes the status (and its event) follow, so a few seconds' lag costs
nothing and one indexed query per replica per run is cheap.
"""

from __future__ import annotations

import asyncpg

from services.checkout import domain, store
from services.checkout.payment_writes import Locked
from services.checkout.use_cases import record
from shared.events import OutboxRelay, UnitOfWork
from shared.logging import get_logger

log = get_logger(__name__)

SWEEP_BATCH = 100  # payments per transaction: a short lock, a bounded outbox insert


async def sweep_expired(pool: asyncpg.Pool, relay: OutboxRelay | None = None, *,
                        batch: int = SWEEP_BATCH) -> int:
    """Cancel the pending payments whose session has ended, `batch` at a time, each
    batch one transaction in which every status change commits with its
    payment.canceled event (cancellationReason "expired"). Rows another transaction
    holds are skipped (a confirm deciding the payment, another replica's sweep): the
    next run sees them again if still pending. How many it canceled."""
    swept = 0
    while True:
        async with UnitOfWork(pool, producer="checkout", relay=relay) as work:
            held = await store.expired_payments_for_update(work.conn, batch)
            writes = Locked(work)
            for payment in held:
                await record.transition(writes, payment, "canceled",
                                        changes={"cancellation_reason": domain.EXPIRED},
                                        detail={"cancellationReason": domain.EXPIRED})
        swept += len(held)
        if len(held) < batch:
            if swept:
                log.info("payments_expired", count=swept)
            return swept
