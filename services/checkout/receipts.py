"""NORAH receipts: the PDF of a settled payment and its signed download links.

The PDF is drawn with fpdf2's core fonts (no font files, no network). Amounts come
from the payment row and its stored fee quote, in major units with the currency's
decimals. Only the card brand and last four digits exist in the row, so a card
number can never reach a receipt.

A download link is `.../receipts/download/{receiptId}?expires=<unix>&sig=<hex>`:
sig = HMAC-SHA256(derive(settings, "receipt-links"), f"{receiptId}:{expires}"),
valid for 24 hours. Anyone holding it may fetch the PDF, without credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import string
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fpdf import FPDF

from services.checkout import domain
from services.checkout.domain import Payment
from shared.ids import record_id
from shared.money import Money, format_display, get_currency
from shared.secrets import derive
from shared.settings import Settings

LINK_TTL = timedelta(hours=24)
LINK_PURPOSE = "receipt-links"
RECEIPTABLE = frozenset({"completed", "refunded"})
_ALPHABET = string.ascii_letters + string.digits


def new_receipt_id() -> str:
    return "rcpt_" + record_id(24)


def is_receipt_id(value: str) -> bool:
    rest = value.removeprefix("rcpt_")
    return rest != value and 0 < len(rest) <= 64 and all(c in _ALPHABET for c in rest)


# Links ------------------------------------------------------------------------------

def signature(settings: Settings, receipt_id: str, expires: int) -> str:
    key = derive(settings, LINK_PURPOSE).encode()
    return hmac.new(key, f"{receipt_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def receipt_url(settings: Settings, receipt_id: str) -> str:
    return f"{settings.public_url}/api/v1/receipts/{receipt_id}.pdf"


def download_url(settings: Settings, receipt_id: str, *, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + int(LINK_TTL.total_seconds())
    return (f"{settings.public_url}/api/v1/receipts/download/{receipt_id}"
            f"?expires={expires}&sig={signature(settings, receipt_id, expires)}")


def check_link(settings: Settings, receipt_id: str, expires: str, sig: str,
               *, now: float | None = None) -> str | None:
    """None when the link is good; otherwise "invalid" or "expired". The signature is
    checked first, so an expiry is only reported for a link norgate really issued."""
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12 or not sig \
            or len(sig) > 128:
        return "invalid"
    expected = signature(settings, receipt_id, int(expires))
    if not hmac.compare_digest(expected.encode(), sig.lower().encode()):
        return "invalid"
    if int(expires) <= int(now if now is not None else time.time()):
        return "expired"
    return None


# The PDF ----------------------------------------------------------------------------

def _text(value: object) -> str:
    """Core fonts speak Latin-1 only: anything else becomes '?'."""
    return str(value).encode("latin-1", "replace").decode("latin-1")


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _money(row: Payment, value: int | Decimal) -> str:
    return format_display(Money(int(value), get_currency(row["currency"])))


def _method(row: Payment) -> str:
    method = row["payment_method"] or "-"
    if row["card_brand"] or row["card_last4"]:
        brand = row["card_brand"] or "Card"
        method += f" ({brand} ending {row['card_last4']})" if row["card_last4"] \
            else f" ({brand})"
    return method


def _charge_label(line: dict[str, Any]) -> str:
    kind = str(line.get("type") or "CHARGE")
    label = f"Charge: {kind.lower()}"
    if kind == "PERCENTAGE" and line.get("value") is not None:
        label += f" {line['value']}%"
    return label


def render(row: Payment, receipt_id: str, issued_at: datetime) -> bytes:
    """The receipt of a payment row (checkout.payments)."""
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"Payment receipt {receipt_id}"))
    pdf.set_author("norgate")
    pdf.set_creation_date(issued_at)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(0, 12, "Payment receipt", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 8, _text(row["merchant_name"] or f"Merchant {row['merchant_id']}"),
             new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def line(label: str, value: str, *, bold: bool = False) -> None:
        pdf.set_font("Helvetica", style="B" if bold else "", size=10)
        pdf.cell(60, 7, _text(label))
        pdf.cell(0, 7, _text(value), new_x="LMARGIN", new_y="NEXT")

    if not row["livemode"]:  # a sandbox payment's receipt must not pass for a real one
        line("Mode", "TEST MODE: a sandbox payment, no money was moved", bold=True)
    line("Receipt ID", receipt_id)
    line("Transaction ID", row["payment_id"])
    line("Trace", str(row["trace"]))
    line("Date", _when(row["completed_at"] or row["created_at"]))
    line("Issued", _when(issued_at))
    line("Status", domain.NORAH_STATUS[row["status"]])
    line("Payment method", _method(row))
    if row["transaction_hash"]:
        line("Transaction hash", row["transaction_hash"])
    pdf.ln(3)
    line("Amount", _money(row, row["amount"]), bold=True)
    for charge in (row["quote"] or {}).get("breakdown", []):
        line(_charge_label(charge), _money(row, charge["amount"]))
    line("Total charges", _money(row, row["charges"] or 0))
    line("Net amount", _money(row, row["net_amount"] if row["net_amount"] is not None
                              else row["amount"]), bold=True)
    if int(row["refunded_amount"] or 0) > 0:
        line("Refunded", _money(row, row["refunded_amount"]))
    pdf.ln(6)
    pdf.set_font("Helvetica", style="I", size=8)
    pdf.multi_cell(0, 5, "All times are UTC. Keep this receipt for your records.")
    return bytes(pdf.output())
