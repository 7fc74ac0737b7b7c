"""Create: a pending payment for a merchant, and its payment.created event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.checkout import domain
from services.checkout.domain import Payment
from services.checkout.payment_writes import PaymentWrites
from services.checkout.ports import MerchantAccount, Quote, as_account, as_quote
from shared.events import Event
from shared.ids import uuid7
from shared.money import Money


async def create(writes: PaymentWrites, *, merchant: MerchantAccount | dict[str, Any],
                 origin: str, money: Money, body: domain.CreatePayment,
                 quote: Quote | dict[str, Any], expires_at: datetime | None = None,
                 livemode: bool = False) -> Payment:
    """A pending payment for `merchant` (its ids, its name for the hosted page, the
    methods it takes), charged `quote`'s fees; its session ends at `expires_at` (else
    SESSION_TTL after it is made). `livemode`: the mode of the caller, or of the object
    the payment is for (docs/modes.md)."""
    payment = new_payment(as_account(merchant), origin, money, body, as_quote(quote),
                          expires_at, livemode)
    created = Event(type="payment.created", producer="checkout",
                    data=domain.event_data(payment), **domain.event_ids(payment))
    # The history row names the event.
    payment["history"] = {"origin": origin, "eventId": str(created.id)}
    return await writes.add(payment, created)


def new_payment(merchant: MerchantAccount, origin: str, money: Money,
                body: domain.CreatePayment, quote: Quote, expires_at: datetime | None,
                livemode: bool) -> dict[str, Any]:
    """A new payment's columns as far as the create knows them (domain.CREATE_COLUMNS
    and the defaults of the rest). Without `expires_at`, SESSION_TTL after creation by
    the same reading of the clock: a batched insert runs a little later, and its own
    now() would make the session a second short when a second turned in between."""
    now = datetime.now(UTC)
    return {
        **domain.NEW_PAYMENT_DEFAULTS,
        "payment_id": domain.new_payment_id(), "trace": uuid7(), "origin": origin,
        "amount": money.minor, "currency": money.currency.code,
        "metadata": body.metadata, "charges": quote.charges, "net_amount": quote.net_amount,
        "company_id": merchant.company_id, "merchant_id": merchant.merchant_id,
        "description": body.description, "success_url": body.success_url,
        "cancel_url": body.cancel_url, "quote": quote.document,
        "expires_at": expires_at or now + domain.SESSION_TTL, "created_at": now,
        "merchant_name": merchant.merchant_name,
        "methods": merchant.payment_methods, "livemode": livemode}
