"""Payment-method connectors: checkout's side of the rails (shared/rails).

Each payment method is a rail (shared/rails/base.py: `Rail`, both directions); these
functions pick the payment's rail for its mode and method and ask it. The sandbox rails
and their test data are in shared/rails/sandbox.py (docs/payments.md lists them for
merchants).

The sandbox serves test mode only (docs/modes.md): `for_mode` names the methods a
payment of each mode may be confirmed with, and a live payment's confirm with any other
is refused before a rail is reached (Payment.check_confirmable). A real connector
implements the same `start`/`act` pair (its `decided` answers None: it charges under
the lock), is configured by the operator in shared/rails/registry.LIVE; none ships, so
no live payment completes.
"""

from __future__ import annotations

import asyncpg

from services.checkout.domain import ConfirmPayment, PaymentAction
from shared.rails import registry
from shared.rails.base import INSUFFICIENT, BadPaymentDetails, Outcome, PaymentRow, Rail

__all__ = ["INSUFFICIENT", "SANDBOX", "BadPaymentDetails", "Outcome", "act", "decided",
           "ecocash_callback", "for_mode", "start"]

# The methods the sandbox serves: every one, in test mode only.
SANDBOX: frozenset[str] = registry.SANDBOX_METHODS
for_mode = registry.for_mode


def _rail(payment: PaymentRow, method: str | None) -> Rail:
    rail = registry.pay_in_rail(method, livemode=bool(payment["livemode"]))
    if rail is None:  # the confirm paths refuse it first (a 400): reaching here is a bug
        raise RuntimeError(f"no rail takes {method} payments in this payment's mode")
    return rail


async def start(conn: asyncpg.Connection, payment: PaymentRow,
                body: ConfirmPayment) -> Outcome:
    """Begin paying `payment` with the method and details in `body`."""
    return await _rail(payment, body.payment_method).start(conn, payment, body)


def decided(payment: PaymentRow, body: ConfirmPayment) -> Outcome | None:
    """start's outcome when the rail decides from the details alone, with no effect
    anywhere; None otherwise. It runs before the payment is locked, once per concurrent
    confirm (payment_writes.Shared)."""
    return _rail(payment, body.payment_method).decided(payment, body)


def act(payment: PaymentRow, body: PaymentAction) -> Outcome:
    """The payer's answer to a pending action (OTP, 3-D Secure), to the rail that asked."""
    return _rail(payment, payment["payment_method"]).act(payment, body)


def ecocash_callback(payment: PaymentRow) -> Outcome:
    """What the ECOCASH rail reports when it calls back."""
    return _rail(payment, "ECOCASH").called_back(payment)
