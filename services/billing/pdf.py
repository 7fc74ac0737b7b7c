"""The invoice PDF (fpdf2 core fonts: no font files, no network)."""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF

from shared.money import Money, format_display, get_currency


def _text(value) -> str:
    """Core fonts speak Latin-1 only: anything else becomes '?'."""
    return str(value).encode("latin-1", "replace").decode("latin-1")


def money(value, currency: str) -> str:
    return format_display(Money(int(value), get_currency(currency)))


def day(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d")


def render(row, *, merchant_name: str) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"Invoice {row['invoice_number']}"))
    pdf.set_author("norgate")
    pdf.set_creation_date(row["created_at"])
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(0, 12, _text(f"Invoice {row['invoice_number']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=12)
    pdf.cell(0, 8, _text(merchant_name), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    def pair(label: str, value: str, *, bold: bool = False) -> None:
        pdf.set_font("Helvetica", style="B" if bold else "", size=10)
        pdf.cell(45, 7, _text(label))
        pdf.cell(0, 7, _text(value), new_x="LMARGIN", new_y="NEXT")

    customer = row["customer"] or {}
    pair("Bill to", customer.get("name") or customer.get("id") or "-")
    if customer.get("email"):
        pair("E-mail", customer["email"])
    if customer.get("address"):
        pair("Address", customer["address"])
    pair("Issued", day(row["created_at"]))
    pair("Due", day(row["due_date"]))
    pair("Status", row["status"])
    pdf.ln(4)
    pdf.set_font("Helvetica", style="B", size=10)
    for width, title in ((85, "Description"), (20, "Qty"), (40, "Unit price"), (0, "Amount")):
        pdf.cell(width, 7, title, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=10)
    currency = row["currency"]
    for line in row["items"]:
        pdf.cell(85, 7, _text(line["description"])[:60])
        pdf.cell(20, 7, str(line["quantity"]))
        pdf.cell(40, 7, _text(money(line["unitPrice"], currency)))
        pdf.cell(0, 7, _text(money(line["amount"], currency)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pair("Subtotal", money(row["subtotal"], currency))
    pair("Tax", money(row["tax"], currency))
    pair("Total", money(row["total"], currency), bold=True)
    if row["payment_url"]:
        pdf.ln(3)
        pair("Pay online", row["payment_url"])
    if row["notes"]:
        pdf.ln(3)
        pdf.set_font("Helvetica", style="I", size=9)
        pdf.multi_cell(0, 5, _text(row["notes"]))
    return bytes(pdf.output())
