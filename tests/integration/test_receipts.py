"""NORAH receipts against the real auth, fees and checkout services: generation,
idempotency, tenancy, the PDF's content and signed download links."""

from __future__ import annotations

import re
import time
import zlib

import asyncpg
from yarl import URL

from services.checkout import receipts
from tests.integration.test_norah_transactions import (
    CARD,
    _charge_for,
    _confirm,
    _key_headers,
    _seed,
    _uid,
    norah,  # noqa: F401  (fixture)
)
from tests.support.auth import make_company_admin, make_merchant

RECEIPT_FIELDS = {"receiptId", "receiptUrl", "downloadUrl", "transactionId", "amount",
                  "currency", "charges", "timestamp"}


def pdf_text(pdf: bytes) -> str:
    """The text drawn in a PDF from fpdf2 (its content streams, inflated)."""
    parts = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(match.group(1)))
        except zlib.error:
            parts.append(match.group(1))
    raw = b"\n".join(parts).decode("latin-1")
    return re.sub(r"\\([()\\])", r"\1", raw)


async def _receipt(client, headers, transaction_id):
    return await client.post("/api/v1/transactions/receipt", headers=headers,
                             json={"transactionId": transaction_id})


async def _card_payment(settings, client, merchant) -> dict:
    headers, uid = merchant.headers(settings), await _uid(settings, merchant.merchant_id)
    charge = await _charge_for(client, headers, uid)
    resp = await _confirm(client, headers, uid, charge=charge, method="VISA_MASTER",
                          card=CARD)
    data = (await resp.json())["data"]
    assert data["status"] == "COMPLETED", data
    return {**data, "charge": charge}  # as the quote wrote it ("2.50"), not a float


def _path(url: str) -> str:
    return URL(url).path_qs


async def test_a_completed_payment_gets_a_pdf_receipt(settings, norah):  # noqa: F811
    client, _, merchant = norah
    headers = merchant.headers(settings)
    paid = await _card_payment(settings, client, merchant)

    resp = await _receipt(client, headers, paid["transactionId"])
    raw = await resp.text()
    assert resp.status == 200, raw
    body = await resp.json()
    assert body["message"] == "Receipt generated successfully"
    data = body["data"]
    assert set(data) == RECEIPT_FIELDS
    rid = data["receiptId"]
    assert rid.startswith("rcpt_") and receipts.is_receipt_id(rid)
    assert data["transactionId"] == paid["transactionId"] and data["currency"] == "USD"
    assert '"amount":100.00' in raw and f'"charges":{paid["charge"]},' in raw
    assert data["receiptUrl"] == f"{settings.public_url}/api/v1/receipts/{rid}.pdf"
    link = URL(data["downloadUrl"])
    assert str(link.with_query(None)) == \
        f"{settings.public_url}/api/v1/receipts/download/{rid}"
    expires = int(link.query["expires"])
    assert abs(expires - (time.time() + 24 * 3600)) < 60
    assert link.query["sig"] == receipts.signature(settings, rid, expires)

    got = await client.get(f"/api/v1/receipts/{rid}.pdf", headers=headers)
    assert got.status == 200
    assert got.content_type == "application/pdf"
    assert got.headers["Content-Disposition"] == f'attachment; filename="{rid}.pdf"'
    pdf = await got.read()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in ("Payment receipt", "Corner Shop", rid, paid["transactionId"],
                     paid["trace"], "100.00 USD", f"{paid['charge']} USD", "COMPLETED",
                     "VISA_MASTER", "ending 4242"):
        assert expected in text, expected
    # Only the last four digits: never the card number, in any form.
    for secret in (CARD["number"], "4242 4242 4242 4242", "424242424242"):
        assert secret not in text and secret.encode() not in pdf

    # Idempotent: the same receipt, by payment id or by trace, for any in-scope caller.
    for who, ident in ((headers, paid["transactionId"]), (headers, paid["trace"]),
                       (_key_headers(settings, merchant), paid["transactionId"])):
        again = await _receipt(client, who, ident)
        assert again.status == 200
        assert (await again.json())["data"]["receiptId"] == rid
    assert await (await client.get(f"/api/v1/receipts/{rid}.pdf",
                                   headers=headers)).read() == pdf


async def test_charge_lines_and_refunds_are_in_major_units(settings, norah):  # noqa: F811
    client, admin, merchant = norah
    row = await _seed(settings, merchant, status="refunded", amount=123_456, charges=3_086)
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        await conn.execute("UPDATE payments SET refunded_amount = amount WHERE id = $1",
                           row["id"])
    finally:
        await conn.close()
    resp = await _receipt(client, admin.headers(settings), row["payment_id"])
    raw = await resp.text()
    assert resp.status == 200, raw
    assert '"amount":1234.56' in raw and '"charges":30.86' in raw
    rid = (await resp.json())["data"]["receiptId"]
    pdf = await (await client.get(f"/api/v1/receipts/{rid}.pdf",
                                  headers=admin.headers(settings))).read()
    text = pdf_text(pdf)
    for expected in ("1,234.56 USD", "Charge: percentage 2.5%", "30.86 USD",
                     "Total charges", "1,203.70 USD", "REFUNDED", "Refunded",
                     "ZIMSWITCH",
                     str(row["trace"])):
        assert expected in text, expected


async def test_only_completed_or_refunded_transactions_get_one(settings, norah):  # noqa: F811
    client, _, merchant = norah
    headers = merchant.headers(settings)
    for status, shown in (("pending", "PENDING"), ("processing", "PROCESSING"),
                          ("failed", "FAILED"), ("canceled", "CANCELLED")):
        row = await _seed(settings, merchant, status=status)
        resp = await _receipt(client, headers, row["payment_id"])
        body = await resp.json()
        assert resp.status == 409, body
        assert body["error"]["code"] == "receipt_not_available"
        assert body["message"].endswith(f"this one is {shown}")
    for missing in ("pay_doesnotexist", "00000000-0000-0000-0000-000000000000"):
        assert (await _receipt(client, headers, missing)).status == 404
    assert (await _receipt(client, {}, "pay_x")).status == 401


async def test_another_tenant_cannot_create_or_read_it(settings, norah):  # noqa: F811
    client, admin, merchant = norah
    row = await _seed(settings, merchant)
    stranger_admin = await make_company_admin(settings)
    stranger = await make_merchant(settings, stranger_admin, status="ACTIVE")
    sibling = await make_merchant(settings, admin, status="ACTIVE")  # same company
    for who in (stranger, stranger_admin, sibling):
        for ident in (row["payment_id"], str(row["trace"])):
            assert (await _receipt(client, who.headers(settings), ident)).status == 404

    rid = (await (await _receipt(client, admin.headers(settings),
                                 row["payment_id"])).json())["data"]["receiptId"]
    for who in (stranger, stranger_admin, sibling):
        for path in (f"/api/v1/receipts/{rid}.pdf", f"/api/v1/receipts/download/{rid}"):
            got = await client.get(path, headers=who.headers(settings))
            assert got.status == 404, path
            assert (await got.json())["message"] == "Receipt not found"
        again = await client.get(f"/api/v1/receipts/{rid}.pdf",
                                 headers=_key_headers(settings, stranger))
        assert again.status == 404
    for who in (admin, merchant):
        got = await client.get(f"/api/v1/receipts/{rid}.pdf", headers=who.headers(settings))
        assert got.status == 200
    assert (await client.get(f"/api/v1/receipts/{rid}.pdf")).status == 401


async def test_signed_links_work_without_credentials(settings, norah):  # noqa: F811
    client, _, merchant = norah
    headers = merchant.headers(settings)
    row = await _seed(settings, merchant)
    data = (await (await _receipt(client, headers, row["payment_id"])).json())["data"]
    rid, link = data["receiptId"], URL(data["downloadUrl"])

    got = await client.get(_path(data["downloadUrl"]))  # no credentials at all
    assert got.status == 200
    assert got.content_type == "application/pdf"
    assert got.headers["Content-Disposition"] == f'attachment; filename="{rid}.pdf"'
    pdf = await got.read()
    assert pdf.startswith(b"%PDF") and str(row["trace"]) in pdf_text(pdf)

    # An authorised caller needs no signature; an anonymous one does.
    assert (await client.get(f"/api/v1/receipts/download/{rid}", headers=headers)).status \
        == 200
    assert (await client.get(f"/api/v1/receipts/download/{rid}")).status == 401

    expires, sig = link.query["expires"], link.query["sig"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    other = (await (await _receipt(client, headers, (await _seed(
        settings, merchant))["payment_id"])).json())["data"]["receiptId"]
    for query in ({"expires": expires, "sig": flipped},
                  {"expires": str(int(expires) + 1), "sig": sig},
                  {"expires": expires},
                  {"sig": sig},
                  {"expires": "soon", "sig": sig}):
        bad = await client.get(f"/api/v1/receipts/download/{rid}", params=query)
        body = await bad.json()
        assert bad.status == 403, query
        assert body["error"]["code"] == "receipt_link_invalid"
        assert body["message"].startswith("This receipt download link is invalid")
    # A good signature for one receipt opens no other.
    moved = await client.get(f"/api/v1/receipts/download/{other}",
                             params={"expires": expires, "sig": sig})
    assert moved.status == 403
    # Even an authorised caller cannot use a bad signature.
    bad = await client.get(f"/api/v1/receipts/download/{rid}", headers=headers,
                           params={"expires": expires, "sig": flipped})
    assert bad.status == 403

    past = int(time.time()) - 10
    expired = await client.get(f"/api/v1/receipts/download/{rid}", params={
        "expires": str(past), "sig": receipts.signature(settings, rid, past)})
    body = await expired.json()
    assert expired.status == 403
    assert body["error"]["code"] == "receipt_link_expired"
    assert body["message"].startswith("This receipt download link has expired")

    # A correctly signed link to a receipt that does not exist.
    ghost = "rcpt_" + "x" * 24
    future = int(time.time()) + 60
    missing = await client.get(f"/api/v1/receipts/download/{ghost}", params={
        "expires": str(future), "sig": receipts.signature(settings, ghost, future)})
    assert missing.status == 404


async def test_a_download_link_with_a_non_ascii_digit_expiry_is_refused_not_a_500(
        settings, norah):  # noqa: F811
    client, _, _ = norah
    for expires in ("²", "１２３", "٣"):  # str.isdigit() says yes to each; int() does not
        resp = await client.get("/api/v1/receipts/download/rcpt_x",
                                params={"expires": expires, "sig": "ab"})
        assert resp.status in (400, 403, 404), (expires, resp.status, await resp.text())
