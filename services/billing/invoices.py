"""Invoice use cases: create (numbered), send, void, paid; each in one unit of work."""

from __future__ import annotations

import base64
import math
from datetime import datetime, timedelta
from typing import NoReturn

from services.billing import domain, pdf, store
from shared.events import UnitOfWork
from shared.http.errors import ApiError, Errors
from shared.money import MAX_MINOR, parse_minor_string
from shared.settings import Settings


def units(value) -> str:
    return str(int(value))


def render(row, settings: Settings) -> dict:
    """The seed's fields, plus what a merchant needs to follow the invoice."""
    return {
        "invoiceId": row["invoice_id"], "invoiceNumber": row["invoice_number"],
        "status": row["status"], "subtotal": units(row["subtotal"]), "tax": units(row["tax"]),
        "total": units(row["total"]), "currency": row["currency"],
        "dueDate": domain.epoch(row["due_date"]),
        "pdfUrl": f"{settings.public_url}/api/v2/invoices/{row['invoice_id']}/pdf",
        "paymentUrl": row["payment_url"],
        "customer": row["customer"], "items": row["items"], "notes": row["notes"],
        "paymentId": row["payment_id"], "subscriptionId": None,
        "createdAt": domain.epoch(row["created_at"]), "sentAt": domain.epoch(row["sent_at"]),
        "paidAt": domain.epoch(row["paid_at"]), "voidedAt": domain.epoch(row["voided_at"]),
        "livemode": row["livemode"],
    }


def event_data(row, settings: Settings) -> dict:
    data = render(row, settings)
    return {k: data[k] for k in ("invoiceId", "invoiceNumber", "status", "subtotal", "tax",
                                 "total", "currency", "dueDate", "pdfUrl", "paymentUrl",
                                 "paymentId", "paidAt", "livemode")}


def ids(row) -> dict:
    return {"company_id": str(row["company_id"]), "merchant_id": str(row["merchant_id"])}


def price_lines(body: domain.CreateInvoice, rates: dict[str, int],
                default_rate: str | None) -> tuple[list[dict], int, int]:
    """Lines with their amounts and tax; (lines, subtotal, tax). Raises ValueError
    naming the field for an inconsistent line or an unknown tax rate."""
    lines, subtotal, tax = [], 0, 0
    for i, item in enumerate(body.items):
        unit = parse_minor_string(item.unit_price, body.currency,
                                  f"items[{i}].unitPrice").minor
        amount = unit * item.quantity
        if amount > MAX_MINOR:  # NUMERIC(78,0) holds no more; checkout would refuse it
            raise ValueError(f"items[{i}]: quantity x unitPrice is too large")
        if item.amount is not None and parse_minor_string(
                item.amount, body.currency, f"items[{i}].amount").minor != amount:
            raise ValueError(f"items[{i}].amount: must be quantity x unitPrice ({amount})")
        rate_id = item.tax_rate_id or body.tax_rate_id or default_rate
        if rate_id is not None and rate_id not in rates:
            field = f"items[{i}].taxRateId" if item.tax_rate_id else "taxRateId"
            raise ValueError(f"{field}: no such tax rate")
        line_tax = domain.tax_of(amount, rates[rate_id]) if rate_id else 0
        lines.append({"description": item.description, "quantity": item.quantity,
                      "unitPrice": str(unit), "amount": str(amount), "taxRateId": rate_id,
                      "taxRate": domain.ppm_to_percent(rates[rate_id]) if rate_id else None,
                      "tax": str(line_tax)})
        subtotal += amount
        tax += line_tax
    if subtotal + tax > MAX_MINOR:
        raise ValueError("items: the invoice's total is too large")
    return lines, subtotal, tax


async def create(uow: UnitOfWork, settings: Settings, *, now: datetime, invoice_id: str,
                 company_id: int, merchant_id: int, livemode: bool, status: str, customer: dict,
                 lines: list[dict], currency: str, subtotal: int, tax: int, due: datetime,
                 notes: str | None = None, payment: dict | None = None,
                 subscription_pk: int | None = None, period: tuple | None = None,
                 next_attempt_at: datetime | None = None):
    number = await store.next_invoice_number(uow.conn, company_id, livemode, now.year)
    row = await store.insert_invoice(
        uow.conn, invoice_id=invoice_id, invoice_number=domain.invoice_number(now.year, number),
        company_id=company_id, merchant_id=merchant_id, livemode=livemode, status=status,
        customer=customer, items=lines, currency=currency, subtotal=subtotal, tax=tax,
        total=subtotal + tax, due_date=due, notes=notes,
        payment_id=(payment or {}).get("paymentId"),
        payment_url=(payment or {}).get("checkoutUrl"), subscription_pk=subscription_pk,
        period_start=period[0] if period else None, period_end=period[1] if period else None,
        next_attempt_at=next_attempt_at, now=now)
    uow.emit("invoice.created", event_data(row, settings), **ids(row))
    return row


async def send(uow: UnitOfWork, settings: Settings, row, *, now: datetime, merchant_name: str):
    row = await store.invoice_by_pk(uow.conn, row["id"], for_update=True)
    if row["status"] not in ("draft", "open"):
        raise ApiError(Errors.CONFLICT, detail=f"A {row['status']} invoice cannot be sent")
    email = (row["customer"] or {}).get("email")
    if not email:
        raise ApiError(Errors.CONFLICT, detail="This invoice has no customer e-mail address")
    await take_send(uow, settings, row, email, now=now)
    changes: dict = {"sent_at": now}
    if row["status"] == "draft":
        domain.check_invoice("draft", "open")
        changes["status"] = "open"
    row = await store.update_invoice(uow.conn, row["id"], changes, now)
    document = pdf.render(row, merchant_name=merchant_name)
    text = (f"Invoice {row['invoice_number']} from {merchant_name}\n\n"
            f"Total: {pdf.money(row['total'], row['currency'])}\n"
            f"Due: {pdf.day(row['due_date'])}\n")
    if row["payment_url"]:
        text += f"Pay online: {row['payment_url']}\n"
    text += "\nThe invoice is attached as a PDF.\n"
    uow.emit("email.requested", {
        "to": [email], "subject": f"Invoice {row['invoice_number']} from {merchant_name}",
        "text": text,
        "attachments": [{"filename": f"{row['invoice_number']}.pdf",
                         "content_type": "application/pdf",
                         "content_base64": base64.b64encode(document).decode()}]},
        **ids(row))
    return row, email


SEND_WINDOW = timedelta(hours=1)


async def take_send(uow: UnitOfWork, settings: Settings, row, email: str, *,
                    now: datetime) -> None:
    """Count one e-mail of the invoice (locked by the caller) to `email`, or 429 when the
    invoice, or the merchant's mail to that recipient, used up its hour: the address is
    the customer's, set at create, but a merchant could still mail it without end."""
    recipient = email.strip().lower()
    await store.lock_invoice_recipient(uow.conn, row["merchant_id"], recipient)
    since = now - SEND_WINDOW
    per_invoice = settings.invoice_sends_per_hour
    per_recipient = settings.invoice_recipient_sends_per_hour
    seen = await store.invoice_sends_since(
        uow.conn, invoice_pk=row["id"], merchant_id=row["merchant_id"], recipient=recipient,
        since=since, invoice_limit=per_invoice, recipient_limit=per_recipient)
    if seen["invoice_sends"] >= per_invoice:
        _too_many(f"This invoice was sent {seen['invoice_sends']} times in the last hour "
                  f"(at most {per_invoice})", seen["invoice_frees_at"], now)
    if seen["recipient_sends"] >= per_recipient:
        _too_many(f"This merchant sent {seen['recipient_sends']} invoices to {email} in "
                  f"the last hour (at most {per_recipient})", seen["recipient_frees_at"],
                  now)
    await store.record_invoice_send(uow.conn, invoice_pk=row["id"],
                                    merchant_id=row["merchant_id"], recipient=recipient,
                                    now=now, since=since)


def _too_many(detail: str, frees_at: datetime | None, now: datetime) -> NoReturn:
    wait = (frees_at + SEND_WINDOW - now).total_seconds() if frees_at else 1
    seconds = max(1, math.ceil(wait))
    raise ApiError(Errors.INVOICE_SENDS_RATE_LIMITED, detail=detail, seconds=seconds,
                   headers={"Retry-After": str(seconds)})


async def void(uow: UnitOfWork, settings: Settings, row, *, now: datetime):
    row = await store.invoice_by_pk(uow.conn, row["id"], for_update=True)
    if row["status"] not in ("draft", "open"):
        raise ApiError(Errors.CONFLICT, detail=f"A {row['status']} invoice cannot be voided")
    row = await store.update_invoice(uow.conn, row["id"], {
        "status": "void", "voided_at": now, "next_attempt_at": None}, now)
    uow.emit("invoice.voided", event_data(row, settings), **ids(row))
    return row


async def mark_paid(uow: UnitOfWork, settings: Settings, pk: int, *, payment_id: str,
                    now: datetime):
    """The invoice's payment completed. Returns the row when this call paid it, None
    when it was already paid (the scheduler and the payment event may both report it)."""
    row = await store.invoice_by_pk(uow.conn, pk, for_update=True)
    if row is None or row["status"] == "paid" or "paid" not in \
            domain.INVOICE_TRANSITIONS[row["status"]]:
        return None
    row = await store.update_invoice(uow.conn, pk, {
        "status": "paid", "paid_at": now, "payment_id": payment_id, "next_attempt_at": None,
        "last_failure": None}, now)
    uow.emit("invoice.paid", event_data(row, settings), **ids(row))
    return row
