"""What billing consumes: checkout's payment events (queue billing.payments).

Each event, in the consumer's one transaction with its inbox row (so exactly once):
updates the dashboard's payment projection and customers, posts its ledger
transactions, and settles the invoice a completed payment was for.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from services.billing import invoices, ledger, ledger_store, projections, store, subscriptions
from shared.events import Event, PermanentError, UnitOfWork, bind_event, handles_batches
from shared.settings import Settings

PAYMENT_EVENTS = ("payment.created", "payment.processing", "payment.completed",
                  "payment.failed", "payment.canceled", "payment.refunded")


class PaymentData(BaseModel):
    paymentId: str  # noqa: N815 - the event's own field names
    amount: str
    currency: str
    status: str


def _checked(event: Event) -> tuple[dict, int, int]:
    try:
        PaymentData.model_validate(event.data)
        return event.data, int(event.company_id or ""), int(event.merchant_id or "")
    except (ValidationError, ValueError) as exc:
        raise PermanentError(f"invalid {event.type} data: {exc}") from exc


def payment_handlers(settings: Settings, clock):
    async def on_payments(events: list[Event], uow: UnitOfWork) -> None:
        """A batch in order: the projections of all of them in one statement each,
        the completions' postings in one more, then each refund's postings and the
        invoices completions pay."""
        checked = [(event, *_checked(event)) for event in events]
        rows = []
        for event, data, company_id, merchant_id in checked:
            kind, product = ledger.product_of(data)
            rows.append(projections.payment_row(
                data=data, company_id=company_id, merchant_id=merchant_id, kind=kind,
                product=product, at=event.occurred_at))
        await projections.upsert_payments(uow.conn, rows)
        await projections.see_customers(uow.conn, projections.customers_of(rows))
        # Every completion's postings in one statement (a refund's depend on what was
        # refunded before it, so refunds post one by one, after them and in order).
        await ledger_store.post_many(uow.conn, [
            ledger_store.Post(posting, company_id, merchant_id, event.id,
                              at=event.occurred_at)
            for event, data, company_id, merchant_id in checked
            if event.type == "payment.completed"
            for posting in ledger.payment_completed(data)])
        for event, data, company_id, merchant_id in checked:
            if event.type not in ("payment.completed", "payment.refunded"):
                continue
            bind_event(event)
            if event.type == "payment.completed":
                await _completed(event, uow, data, company_id, merchant_id)
            else:
                await _refunded(event, uow, data, company_id, merchant_id)

    async def _completed(event, uow, data, company_id, merchant_id) -> None:
        """What else a completion does once posted: the invoice it pays."""
        invoice_id = (data.get("metadata") or {}).get("invoiceId")
        if not invoice_id or data.get("origin") != "billing":
            return  # only the payments billing made for its invoices pay them
        row = await store.invoice(uow.conn, str(invoice_id), company_id=company_id,
                                  merchant_id=merchant_id)
        if row is None or int(data["amount"]) != int(row["total"]) \
                or data["currency"] != row["currency"]:
            return
        paid = await invoices.mark_paid(uow, settings, row["id"],
                                        payment_id=data["paymentId"], now=clock.now())
        if paid is not None:
            await subscriptions.invoice_paid(uow, paid, now=clock.now())

    async def _refunded(event, uow, data, company_id, merchant_id) -> None:
        posted = await projections.refund_posted(uow.conn, data["paymentId"])
        for posting in ledger.payment_refunded(data, posted):
            await ledger_store.post(uow.conn, posting, company_id=company_id,
                                    merchant_id=merchant_id, event_id=event.id,
                                    at=event.occurred_at)
            await projections.set_refund_posted(uow.conn, data["paymentId"],
                                                posted + posting.lines[0].amount)

    on_payment = handles_batches(on_payments)
    return {name: on_payment for name in PAYMENT_EVENTS}
