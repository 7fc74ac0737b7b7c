"""NORAH receipt routes: generate a payment's PDF receipt and serve it.

    POST /api/v1/transactions/receipt            {transactionId}: pay_... or the trace
    GET  /api/v1/receipts/{receiptId}.pdf        the caller's tenancy (404 otherwise)
    GET  /api/v1/receipts/download/{receiptId}   a signed link (no credentials), or
                                                 the caller's tenancy without one

Tenancy as for transactions: SUPER all, ADMIN its company, a MERCHANT user or API key
its merchant, each in its own mode; a foreign or other-mode receipt or transaction
answers 404. The gateway must let
`/api/v1/receipts/download/` through unauthenticated for the signed links to work.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.checkout import answers, domain, receipts, store
from services.checkout.transactions_api import major, timestamp, uuid_or_none
from shared.authz import company_scope, merchant_scope, require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.openapi import PDF
from shared.http.routes import Routes, get, post
from shared.principal import Principal

RECEIPT = "Receipt"
TRANSACTION = "Transaction"


class ReceiptRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    transaction_id: str = Field(alias="transactionId", min_length=1, max_length=64)


async def _payment(conn: asyncpg.Connection, who: Principal, ident: str) -> domain.Payment:
    company, merchant = company_scope(who), merchant_scope(who)
    trace = uuid_or_none(ident)
    row = await (store.payment_by_trace(conn, trace, company_id=company, merchant_id=merchant,
                                        livemode=who.livemode) if trace is not None
                 else store.payment(conn, ident, company_id=company, merchant_id=merchant,
                                    livemode=who.livemode))
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=TRANSACTION)
    return row


async def generate_receipt(request: web.Request) -> web.Response:
    """Render once, then answer the stored receipt (with a fresh download link)."""
    who = require(request, allow_keys=True)
    body = await read_json(request, ReceiptRequest)
    settings = request.app[SETTINGS]
    async with request.app[POOL].acquire() as conn:
        row = await _payment(conn, who, body.transaction_id.strip())
        if row["status"] not in receipts.RECEIPTABLE:
            raise ApiError(Errors.RECEIPT_NOT_AVAILABLE, status=domain.NORAH_STATUS[row["status"]])
        receipt = await store.receipt_of_payment(conn, row["id"])
        if receipt is None:
            receipt_id = receipts.new_receipt_id()
            pdf = await asyncio.to_thread(receipts.render, row, receipt_id, datetime.now(UTC))
            receipt = await store.insert_receipt(conn, receipt_id=receipt_id, pk=row["id"],
                                                 pdf=pdf)
    receipt_id = receipt["receipt_id"]
    return ok(Family.NORAH, {
        "receiptId": receipt_id,
        "receiptUrl": receipts.receipt_url(settings, receipt_id),
        "downloadUrl": receipts.download_url(settings, receipt_id),
        "transactionId": row["payment_id"],
        "amount": major(row, "amount"), "currency": row["currency"],
        "charges": major(row, "charges"),
        "timestamp": timestamp(row["created_at"]),
    }, message="Receipt generated successfully")


def _pdf(receipt_id: str, pdf: bytes) -> web.Response:
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{receipt_id}.pdf"',
        "Cache-Control": "private, no-store"})


async def _scoped_pdf(request: web.Request, receipt_id: str) -> web.Response:
    who = require(request, allow_keys=True)
    row = None
    if receipts.is_receipt_id(receipt_id):
        async with request.app[POOL].acquire() as conn:
            row = await store.receipt_pdf(conn, receipt_id, company_id=company_scope(who),
                                          merchant_id=merchant_scope(who),
                                          livemode=who.livemode)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=RECEIPT)
    return _pdf(row["receipt_id"], bytes(row["pdf"]))


async def receipt_file(request: web.Request) -> web.Response:
    return await _scoped_pdf(request, request.match_info["receiptId"])


async def download_receipt(request: web.Request) -> web.Response:
    receipt_id = request.match_info["receiptId"]
    expires, sig = request.query.get("expires"), request.query.get("sig")
    if expires is None and sig is None and principal_of(request).kind != "anonymous":
        return await _scoped_pdf(request, receipt_id)
    if expires is None and sig is None:
        require(request, allow_keys=True)  # 401: neither a link nor credentials
    problem = receipts.check_link(request.app[SETTINGS], receipt_id, expires or "", sig or "")
    if problem == "expired":
        raise ApiError(Errors.RECEIPT_LINK_EXPIRED)
    if problem is not None:
        raise ApiError(Errors.RECEIPT_LINK_INVALID)
    async with request.app[POOL].acquire() as conn:
        row = await store.receipt_pdf(conn, receipt_id, company_id=None, merchant_id=None,
                                      livemode=None, scoped=False)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=RECEIPT)
    return _pdf(row["receipt_id"], bytes(row["pdf"]))


_T = ("receipts",)
ROUTES = Routes(
    post("/api/v1/transactions/receipt", generate_receipt,
         "A PDF receipt for a COMPLETED or REFUNDED transaction (pay_... id or trace); "
         "the same receipt on every call, with a download link valid 24 h", _T,
         request=ReceiptRequest, response=answers.Receipt),
    get("/api/v1/receipts/{receiptId}.pdf", receipt_file,
        "A receipt's PDF (your tenancy only)", _T, extra=PDF),
    get("/api/v1/receipts/download/{receiptId}", download_receipt,
        "A receipt's PDF through a signed link (`expires`, `sig`), no credentials "
        "needed; or without them for a signed-in caller of the same tenancy", _T,
        auth=False, extra=PDF),
)
