"""The payment use cases as the handlers call them inside a unit of work (each one
`Locked`, services/checkout/payment_writes.py); the use cases themselves are in
services/checkout/use_cases/, one module per operation. A status change and its event
commit together. No HTTP here: a refused step raises a domain error
(domain.PaymentRefused), which each API family and the pages map at their edge
(services/checkout/errors.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.checkout import connectors, domain
from services.checkout.domain import ATTEMPT_FAILED, EVENT_OF, Payment, event_data, units
from services.checkout.payment_writes import Locked, Shared
from services.checkout.ports import MerchantAccount, Quote
from services.checkout.use_cases import act as act_uc
from services.checkout.use_cases import cancel as cancel_uc
from services.checkout.use_cases import confirm as confirm_uc
from services.checkout.use_cases import create as create_uc
from services.checkout.use_cases import refund as refund_uc
from services.checkout.use_cases.expire import SWEEP_BATCH, sweep_expired
from services.checkout.use_cases.rail import RAIL_TIMEOUT, rail_answered, settle_if_timed_out
from shared.events import UnitOfWork
from shared.money import Money

__all__ = ["ATTEMPT_FAILED", "CALLBACK_PATH", "EVENT_OF", "RAIL_TIMEOUT", "SWEEP_BATCH",
           "SWEEP_EVERY_SECONDS", "PaymentCreates", "act", "cancel", "confirm", "create",
           "event_data", "rail_answered", "refund", "settle_if_timed_out", "sweep_expired",
           "units"]

SWEEP_EVERY_SECONDS = 15.0  # the expiry sweep's period (context.expiry_sweep_ctx)
CALLBACK_PATH = "/internal/rails/ecocash/callback"  # where the sandbox ECOCASH rail calls


async def create(work: UnitOfWork, *, merchant: MerchantAccount | dict[str, Any],
                 origin: str, money: Money, body: domain.CreatePayment,
                 quote: Quote | dict[str, Any], expires_at: datetime | None = None,
                 livemode: bool = False) -> Payment:
    """A pending payment inside a unit of work that may do more (use_cases.create)."""
    return await create_uc.create(Locked(work), merchant=merchant, origin=origin,
                                  money=money, body=body, quote=quote,
                                  expires_at=expires_at, livemode=livemode)


class PaymentCreates(Shared):
    """Public creates (the API's and the widget's), each a whole unit of work: those
    that arrive together are written by one statement (payment_writes.Shared)."""

    async def create(self, *, merchant: MerchantAccount | dict[str, Any], origin: str,
                     money: Money, body: domain.CreatePayment,
                     quote: Quote | dict[str, Any], expires_at: datetime | None = None,
                     livemode: bool = False) -> Payment:
        return await create_uc.create(self, merchant=merchant, origin=origin, money=money,
                                      body=body, quote=quote, expires_at=expires_at,
                                      livemode=livemode)


async def confirm(work: UnitOfWork, payment: Payment, body: domain.ConfirmPayment, *,
                  locked: bool = False,
                  retry: bool = False) -> tuple[Payment, connectors.Outcome]:
    """Lock (unless the caller read `payment` FOR UPDATE), check, charge, record."""
    return await confirm_uc.confirm(Locked(work, already_held=locked), payment, body,
                                    retry=retry)


async def act(work: UnitOfWork, payment: Payment, body: domain.PaymentAction, *,
              locked: bool = False, retry: bool = False) -> tuple[Payment, connectors.Outcome]:
    return await act_uc.act(Locked(work, already_held=locked), payment, body, retry=retry)


async def cancel(work: UnitOfWork, payment: Payment) -> Payment:
    return await cancel_uc.cancel(Locked(work), payment)


async def refund(work: UnitOfWork, payment: Payment,
                 body: domain.RefundPayment) -> tuple[Payment, asyncpg.Record]:
    return await refund_uc.refund(Locked(work), payment, body)
