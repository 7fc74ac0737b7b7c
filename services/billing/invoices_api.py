"""Invoice and tax-rate routes (/api/v2/invoices, NorPay envelope)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from services.billing import answers, collect, domain, invoices, pdf, store
from services.billing.api import invalid, merchant_caller, merchant_name, scopes
from services.billing.context import now, uow
from shared.authz import require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.openapi import PDF
from shared.http.pagination import keyset_page_of, query_choice, query_text
from shared.http.routes import Routes, get, post


def _render(request: web.Request, row) -> dict:
    return invoices.render(row, request.app[SETTINGS])


async def create_invoice(request: web.Request) -> web.Response:
    who, company_id, merchant_id = merchant_caller(request)
    body = await read_json(request, domain.CreateInvoice)
    async with request.app[POOL].acquire() as conn:
        rates = await store.tax_rates(conn, merchant_id)
    by_id = {r["tax_rate_id"]: r["rate_ppm"] for r in rates}
    default = next((r["tax_rate_id"] for r in rates if r["is_default"]), None)
    try:
        lines, subtotal, tax = invoices.price_lines(body, by_id, default)
    except ValueError as exc:
        raise invalid(exc) from None
    if subtotal + tax <= 0:
        raise ApiError(Errors.AMOUNT_NOT_POSITIVE, field="items")
    clock = now(request.app)
    invoice_id = domain.new_id("inv")
    # The hosted payment first (outside the transaction that takes the number, so a
    # slow checkout never holds the company's counter); its link lasts until due, and
    # it is made in the invoice's mode.
    payment = await collect.hosted_payment(
        request.app, merchant_id=merchant_id, livemode=who.livemode, amount=subtotal + tax,
        currency=body.currency.upper(), description=f"Invoice for {body.customer.name}",
        metadata={"invoiceId": invoice_id, "customerId": body.customer.email},
        expires_at=max(body.due(), clock + timedelta(hours=1)))
    async with uow(request.app) as work:
        row = await invoices.create(
            work, request.app[SETTINGS], now=clock, invoice_id=invoice_id,
            company_id=company_id, merchant_id=merchant_id, livemode=who.livemode,
            status="draft",
            customer=body.customer.model_dump(exclude_none=True), lines=lines,
            currency=body.currency.upper(), subtotal=subtotal, tax=tax, due=body.due(),
            notes=body.notes, payment=payment)
    return ok(Family.NORPAY, _render(request, row), status=201)


INVOICE_STATUSES = ("draft", "open", "paid", "void", "uncollectible")


async def list_invoices(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    page = keyset_page_of(request, key=int)
    status = query_choice(request, "status", INVOICE_STATUSES)
    email = query_text(request, "customerEmail", max_length=254)
    async with request.app[POOL].acquire() as conn:
        found = await store.invoices_page(
            conn, **scopes(who), status=status, customer_email=email, limit=page.per_page,
            offset=page.offset, after=page.after)
    return ok(Family.NORPAY, {"invoices": [_render(request, r) for r in found.rows],
                              "pagination": page.of(found)})


async def _invoice(request: web.Request, conn, who):
    row = await store.invoice(conn, request.match_info["invoiceId"], **scopes(who))
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="Invoice")
    return row


async def get_invoice(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await _invoice(request, conn, who)
    return ok(Family.NORPAY, _render(request, row))


async def invoice_pdf(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await _invoice(request, conn, who)
    document = pdf.render(row, merchant_name=await merchant_name(request, row["merchant_id"]))
    return web.Response(body=document, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{row["invoice_number"]}.pdf"'})


async def send_invoice(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await _invoice(request, conn, who)
    name = await merchant_name(request, row["merchant_id"])
    async with uow(request.app) as work:
        row, email = await invoices.send(work, request.app[SETTINGS], row,
                                         now=now(request.app), merchant_name=name)
    return ok(Family.NORPAY, {"invoiceId": row["invoice_id"],
                              "sentAt": domain.epoch(row["sent_at"]), "recipient": email},
              message="Invoice sent successfully")


async def void_invoice(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with uow(request.app) as work:
        row = await invoices.void(work, request.app[SETTINGS],
                                  await _invoice(request, work.conn, who), now=now(request.app))
    return ok(Family.NORPAY, _render(request, row), message="Invoice voided")


def _render_rate(row) -> dict:
    return {"taxRateId": row["tax_rate_id"], "name": row["name"],
            "percentage": domain.ppm_to_percent(row["rate_ppm"]), "default": row["is_default"]}


async def create_tax_rate(request: web.Request) -> web.Response:
    _, company_id, merchant_id = merchant_caller(request)
    body = await read_json(request, domain.CreateTaxRate)
    async with uow(request.app) as work:
        row = await store.insert_tax_rate(
            work.conn, tax_rate_id=domain.new_id("txr"), company_id=company_id,
            merchant_id=merchant_id, name=body.name,
            rate_ppm=domain.percent_to_ppm(body.percentage), is_default=body.default)
    return ok(Family.NORPAY, _render_rate(row), status=201)


async def list_tax_rates(request: web.Request) -> web.Response:
    _, _, merchant_id = merchant_caller(request)
    async with request.app[POOL].acquire() as conn:
        rows = await store.tax_rates(conn, merchant_id)
    return ok(Family.NORPAY, [_render_rate(r) for r in rows])


ROUTES = Routes(
    post("/api/v2/invoices/create", create_invoice, "Create an invoice (draft, numbered)",
         ("billing",), request=domain.CreateInvoice, status=201, response=answers.Invoice),
    post("/api/v2/invoices/tax-rates", create_tax_rate, "Add a tax rate (percentage)",
         ("billing",), request=domain.CreateTaxRate, status=201, response=answers.TaxRate),
    get("/api/v2/invoices/tax-rates", list_tax_rates, "List the merchant's tax rates",
        ("billing",), response=list[answers.TaxRate]),
    get("/api/v2/invoices", list_invoices, "Invoices in scope, newest first "
        "(?status=&customerEmail=&page=&per_page=)", ("billing",),
        response=answers.InvoiceList),
    get("/api/v2/invoices/{invoiceId}", get_invoice, "Get an invoice", ("billing",),
        response=answers.Invoice),
    get("/api/v2/invoices/{invoiceId}/pdf", invoice_pdf, "The invoice as a PDF",
        ("billing",), extra=PDF),
    post("/api/v2/invoices/{invoiceId}/send", send_invoice,
         "E-mail the invoice (PDF attached, payment link) and open it", ("billing",),
         response=answers.SentInvoice),
    post("/api/v2/invoices/{invoiceId}/void", void_invoice, "Void a draft or open invoice",
         ("billing",), response=answers.Invoice),
)
