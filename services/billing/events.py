"""What billing consumes: checkout's payment events (queue billing.payments).

Each event, in the consumer's one transaction with its inbox row (so exactly once):
updates the dashboard's payment projection and customers, posts its ledger
transactions, and settles the invoice a completed payment was for. All of it in the
payment's mode (`data.livemode`; absent means test): a test payment never reaches a
live book, projection or invoice.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.billing import (
    invoices,
    ledger,
    ledger_store,
    payouts,
    projections,
    store,
    subscriptions,
)
from shared.events import (
    Event,
    InvalidPayload,
    PermanentError,
    UnitOfWork,
    bind_event,
    handles_batches,
)
from shared.events.payloads import PaymentPayload
from shared.settings import Settings

PAYMENT_EVENTS = ("payment.created", "payment.processing", "payment.completed",
                  "payment.failed", "payment.canceled", "payment.refunded")


@dataclass(frozen=True)
class Payment:
    """One payment event's data and whose books it belongs to."""
    event: Event
    data: dict
    company_id: int
    merchant_id: int
    livemode: bool


def _checked(event: Event) -> Payment:
    try:
        # Checked by the consumer already (shared/events/payloads.py); "yes" or 1 is no
        # mode: refused, never guessed.
        parsed = event.payload(PaymentPayload)
        return Payment(event, event.data, int(event.company_id or ""),
                       int(event.merchant_id or ""), parsed.livemode)
    except (InvalidPayload, ValueError) as exc:  # a payload, or the envelope's ids
        raise PermanentError(f"invalid {event.type} data: {exc}") from exc


def _movement_of(p: Payment) -> payouts.PaymentEvent:
    return payouts.PaymentEvent(p.data, p.company_id, p.merchant_id, p.livemode,
                                p.event.occurred_at, p.event.id)


def payment_handlers(settings: Settings, clock):
    async def on_payments(events: list[Event], uow: UnitOfWork) -> None:
        """A batch in order: the projections of all of them in one statement each,
        the completions' postings in one more, then each refund's postings and the
        invoices completions pay."""
        checked = [_checked(event) for event in events]
        rows = []
        for p in checked:
            kind, product = ledger.product_of(p.data)
            rows.append(projections.payment_row(
                data=p.data, company_id=p.company_id, merchant_id=p.merchant_id,
                livemode=p.livemode, kind=kind, product=product, at=p.event.occurred_at))
        await projections.upsert_payments(uow.conn, rows)
        await projections.see_customers(uow.conn, projections.customers_of(rows))
        # Every completion's postings in one statement (a refund's depend on what was
        # refunded before it, so refunds post one by one, after them and in order).
        await ledger_store.post_many(uow.conn, [
            ledger_store.Post(posting, p.company_id, p.merchant_id, p.event.id,
                              at=p.event.occurred_at, livemode=p.livemode)
            for p in checked if p.event.type == "payment.completed"
            for posting in ledger.payment_completed(p.data)])
        # ...and their balance movements, pending until the merchant's delay passes.
        await payouts.record_completions(uow.conn, settings, [
            _movement_of(p) for p in checked if p.event.type == "payment.completed"])
        for p in checked:
            if p.event.type not in ("payment.completed", "payment.refunded"):
                continue
            bind_event(p.event)
            if p.event.type == "payment.completed":
                await _completed(uow, p)
            else:
                await _refunded(uow, p)

    async def _completed(uow: UnitOfWork, p: Payment) -> None:
        """What else a completion does once posted: the invoice it pays."""
        data = p.data
        invoice_id = (data.get("metadata") or {}).get("invoiceId")
        if not invoice_id or data.get("origin") != "billing":
            return  # only the payments billing made for its invoices pay them
        # ...and only an invoice of the payment's own mode
        row = await store.invoice(uow.conn, str(invoice_id), company_id=p.company_id,
                                  merchant_id=p.merchant_id, livemode=p.livemode)
        if row is None or int(data["amount"]) != int(row["total"]) \
                or data["currency"] != row["currency"]:
            return
        paid = await invoices.mark_paid(uow, settings, row["id"],
                                        payment_id=data["paymentId"], now=clock.now())
        if paid is not None:
            await subscriptions.invoice_paid(uow, paid, now=clock.now())

    async def _refunded(uow: UnitOfWork, p: Payment) -> None:
        posted = await projections.refund_posted(uow.conn, p.data["paymentId"])
        for posting in ledger.payment_refunded(p.data, posted):
            tx = await ledger_store.post(uow.conn, posting, company_id=p.company_id,
                                         merchant_id=p.merchant_id, livemode=p.livemode,
                                         event_id=p.event.id, at=p.event.occurred_at)
            await payouts.record_refund(uow.conn, _movement_of(p), posting.lines[0].amount, tx)
            await projections.set_refund_posted(uow.conn, p.data["paymentId"],
                                                posted + posting.lines[0].amount)

    on_payment = handles_batches(on_payments)
    return {name: on_payment for name in PAYMENT_EVENTS}
