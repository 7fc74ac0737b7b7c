"""Three-way reconciliation through billing's routes, against real PostgreSQL: balance
movements and payouts seeded in billing's tables -> the sandbox rail's settlement file or
the sandbox bank's statement -> import -> 100 % matched; an edited file -> exactly its
edits, line by line; the same file twice; resolutions; tenants and modes."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from xml.etree import ElementTree as ET  # our own statement, edited as a bank might

import aiohttp
import pytest

from bench.reconciliation import bench_import
from services.auth.app import build_spec as auth_spec
from services.billing import reconciliation_api
from services.billing.app import build_spec as billing_spec
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import Account, make_company_admin, make_merchant

DAY = date(2026, 5, 1)
IMPORTS = "/api/v2/reconciliation/imports"
FILES = "/api/v2/reconciliation/sandbox-files"
CAMT = {"c": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"}


@asynccontextmanager
async def recon_stack(settings):
    """auth and billing (with the reconciliation routes) in-process; yields the billing
    client."""
    async with serve(create_app(settings, auth_spec(settings))) as auth:
        s = settings.model_copy(update={"auth_url": f"http://127.0.0.1:{auth.server.port}"})
        spec = billing_spec(s, run_scheduler=False)
        async with serve(create_app(s, spec)) as billing:
            yield billing


@pytest.fixture
async def stack(settings, billing_pool):
    async with recon_stack(settings) as billing:
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        yield billing, admin, merchant


# Seeding billing's tables as the payments and payouts code would fill them -------------

def _at(day: date, seconds: int = 3600) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)


async def seed_payment(pool, merchant: Account, *, day: date = DAY, amount: int = 1250,
                       fee: int = 40, refund: int = 0, rail: str = "ECOCASH",
                       currency: str = "USD", livemode: bool = False,
                       seconds: int = 3600) -> dict:
    """A completed payment's movements: the payment, its fee, a refund when given."""
    tag = secrets.token_hex(6)
    pay = {"id": f"pay_{tag}", "trace": f"{tag}-4e1c-9a2b-000000000000", "ref": f"EC{tag}"}
    rows = [("payment", amount), ("fee", -fee)] + ([("refund", -refund)] if refund else [])
    for n, (kind, value) in enumerate(rows):
        await pool.execute(
            """INSERT INTO balance_transactions (balance_transaction_id, company_id,
                   merchant_id, livemode, currency, type, source_id, amount, description,
                   available_on, released, rail, trace, rail_reference, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, $11, $12, $13, $14)""",
            f"btx_{kind}{tag}", merchant.company_id, merchant.merchant_id, livemode, currency,
            kind, pay["id"], value, f"{kind.title()} {pay['id']}",
            _at(day, seconds) + timedelta(days=2), rail,
            # A fee's and a refund's references are on their payment's row only.
            pay["trace"] if kind == "payment" else None,
            pay["ref"] if kind == "payment" else None, _at(day, seconds + n))
    return {**pay, **{kind: f"btx_{kind}{tag}" for kind, _ in rows}}


async def seed_payout(pool, merchant: Account, *, paid: date, amount: int = 10_000,
                      rail: str = "ZIMSWITCH", returned: date | None = None,
                      livemode: bool = False) -> str:
    payout_id = f"po_{secrets.token_hex(8)}"
    await pool.execute(
        """INSERT INTO payouts (payout_id, company_id, merchant_id, livemode, amount, fee,
               currency, status, automatic, settlement_account_id, rail, destination,
               rail_reference, submit_after, created_at, updated_at, in_transit_at, paid_at,
               failed_at, failure_code, failure_reason, destination_sealed)
           VALUES ($1, $2, $3, $4, $5, 100, 'USD', $6, false, 'sa_test', $7, $8, $9, $10,
                   $10, $10, $10, $11, $12, $13, $14, 'not read by reconciliation')""",
        payout_id, merchant.company_id, merchant.merchant_id, livemode, amount,
        "failed" if returned else "paid", rail,
        json.dumps({"type": "BANK", "last4": "4321"}), f"ZS{payout_id[3:]}",
        _at(paid) - timedelta(days=1), _at(paid), _at(returned) if returned else None,
        "returned" if returned else None, "Returned by the bank" if returned else None)
    return payout_id


# HTTP helpers ---------------------------------------------------------------------------

async def _ok(resp, status: int = 200) -> dict:
    body = await resp.json()
    assert resp.status == status, body
    assert body["status"] == "1"
    return body["result"]


async def _error(resp, status: int) -> str:
    body = await resp.json()
    assert resp.status == status, body
    assert body["status"] == "0" and body["result"] is None
    return body["message"]


async def sandbox_file(client, headers, *, rail: str = "ECOCASH", day: date = DAY,
                       **params) -> str:
    resp = await client.get(FILES, headers=headers,
                            params={"rail": rail, "date": day.isoformat(), **params})
    assert resp.status == 200, await resp.text()
    return await resp.text()


def form(data: bytes | str | io.BytesIO, *, source: str = "processor", fmt: str = "sandbox",
         rail: str | None = "ECOCASH", filename: str = "settlement.csv",
         **fields: str) -> aiohttp.FormData:
    out = aiohttp.FormData()
    for name, value in (("source", source), ("format", fmt), ("rail", rail), *fields.items()):
        if value is not None:
            out.add_field(name, value)
    body = data.encode() if isinstance(data, str) else data
    # A stream, as aiohttp wants for a large body.
    out.add_field("file", io.BytesIO(body) if isinstance(body, bytes) else body,
                  filename=filename, content_type="text/csv")
    return out


async def upload(client, headers, data, status: int = 201, **kwargs) -> dict:
    return await _ok(await client.post(IMPORTS, headers=headers, data=form(data, **kwargs)),
                     status)


async def exceptions(client, headers, import_id: str, **params) -> list[dict]:
    detail = await _ok(await client.get(f"{IMPORTS}/{import_id}", headers=headers,
                                        params={"per_page": "100", **params}))
    return detail["exceptions"]


# The loop ------------------------------------------------------------------------------

async def test_the_sandbox_file_of_a_day_imports_100_percent_matched(settings, stack,
                                                                     billing_pool):
    client, _, merchant = stack
    headers = merchant.headers(settings)
    a = await seed_payment(billing_pool, merchant, amount=1250)
    b = await seed_payment(billing_pool, merchant, amount=99_999, fee=2_500, refund=5_000)
    await seed_payment(billing_pool, merchant, amount=10**18, currency="NOR")
    # Not in the file: another rail, another day, the live book.
    await seed_payment(billing_pool, merchant, rail="VISA_MASTER")
    await seed_payment(billing_pool, merchant, day=DAY - timedelta(days=1))
    await seed_payment(billing_pool, merchant, livemode=True)
    text = await sandbox_file(client, headers)
    rows = text.splitlines()
    assert rows[0] == "date,rail,type,reference,trace,rail_reference,amount,currency," \
        "direction,description"
    assert f"2026-05-01,ECOCASH,PAYMENT,{a['id']},{a['trace']},{a['ref']},12.50,USD,CR," \
        f"Payment {a['id']}" in rows
    assert f"2026-05-01,ECOCASH,REFUND,{b['id']},{b['trace']},{b['ref']},50.00,USD,DR," \
        f"Refund {b['id']}" in rows
    assert any(",1.000000000000000000,NOR,CR," in row for row in rows)
    assert len(rows) == 1 + 7  # 3 payments, 3 fees, 1 refund

    created = await upload(client, headers, text, filename="ecocash-2026-05-01.csv")
    assert created["importId"].startswith("rci_") and created["lineCount"] == 7
    assert created["summary"] == {"matched": 7, "missingFromLedger": 0, "missingFromFile": 0,
                                  "amountMismatch": 0, "dateMismatch": 0, "exceptions": 0,
                                  "resolved": 0, "unresolved": 0}
    assert (created["source"], created["format"], created["rail"], created["livemode"]) == (
        "processor", "sandbox", "ECOCASH", False)
    assert (created["periodStart"], created["periodEnd"]) == ("2026-05-01", "2026-05-01")
    assert created["filename"] == "ecocash-2026-05-01.csv"
    assert created["merchantId"] == merchant.merchant_id
    assert created["createdBy"] == f"user:{merchant.user_id}"
    assert abs(int(created["createdAt"]) - time.time()) < 60
    usd = next(t for t in created["totals"] if t["currency"] == "USD")
    assert (usd["credits"], usd["debits"]) == (str(1250 + 99_999), str(40 + 2_500 + 5_000))

    again = await client.post(IMPORTS, headers=headers, data=form(text, filename="again.csv"))
    assert again.status == 200
    assert (await _ok(again))["importId"] == created["importId"]
    listed = await _ok(await client.get(IMPORTS, headers=headers))
    assert [i["importId"] for i in listed["imports"]] == [created["importId"]]
    assert listed["pagination"] == {"page": 1, "per_page": 10, "total": 1}


async def seed_payout_movements(pool, merchant: Account, payout_id: str, *,
                                amount: int, fee: int, canceled: bool = False) -> None:
    """What creating a payout books (out of the balance, with its fee), and when it is
    canceled, what gives them back; the rail's reference is on the payout only."""
    rows = [("payout", -amount), ("payout_fee", -fee)]
    if canceled:
        rows += [("payout", amount), ("payout_fee", fee)]
        await pool.execute("UPDATE payouts SET status = 'canceled', paid_at = NULL, "
                           "in_transit_at = NULL WHERE payout_id = $1", payout_id)
    for n, (kind, value) in enumerate(rows):
        await pool.execute(
            """INSERT INTO balance_transactions (balance_transaction_id, company_id,
                   merchant_id, livemode, currency, type, source_id, amount, description,
                   available_on, released, rail, created_at)
               VALUES ($1, $2, $3, false, 'USD', $4, $5, $6, $7, $8, true, 'ZIMSWITCH', $8)""",
            f"btx_{secrets.token_hex(8)}", merchant.company_id, merchant.merchant_id, kind,
            payout_id, value, f"{kind} {payout_id}", _at(DAY, 7200 + n))


async def test_a_rails_file_has_its_payins_and_payouts_but_no_canceled_payout(
        settings, stack, billing_pool):
    client, _, merchant = stack
    headers = merchant.headers(settings)
    payment = await seed_payment(billing_pool, merchant, rail="ZIMSWITCH")
    paid = await seed_payout(billing_pool, merchant, paid=DAY + timedelta(days=1))
    await seed_payout_movements(billing_pool, merchant, paid, amount=10_000, fee=100)
    canceled = await seed_payout(billing_pool, merchant, paid=DAY + timedelta(days=1))
    await seed_payout_movements(billing_pool, merchant, canceled, amount=10_000, fee=100,
                                canceled=True)
    rows = [r.split(",") for r in (await sandbox_file(client, headers, rail="ZIMSWITCH"))
            .splitlines()[1:]]
    assert [(r[2], r[3], r[5], r[6], r[8]) for r in rows] == [
        ("PAYMENT", payment["id"], payment["ref"], "12.50", "CR"),
        ("FEE", payment["id"], payment["ref"], "0.40", "DR"),
        ("PAYOUT", paid, f"ZS{paid[3:]}", "100.00", "DR"),
        ("FEE", paid, f"ZS{paid[3:]}", "1.00", "DR")]
    text = "\n".join(",".join(r) for r in [["date", "rail", "type", "reference", "trace",
                                            "rail_reference", "amount", "currency",
                                            "direction", "description"], *rows])
    # The rail knows the payout by its own reference only.
    result = await upload(client, headers, text.replace(f",{paid},", ",,"), rail="ZIMSWITCH")
    assert result["summary"]["matched"] == 4 and result["summary"]["exceptions"] == 0


async def test_an_edited_file_shows_exactly_its_edits_line_by_line(settings, stack,
                                                                   billing_pool):
    client, _, merchant = stack
    headers = merchant.headers(settings)
    seeded = [await seed_payment(billing_pool, merchant, amount=1000 + n, seconds=3600 * n)
              for n in range(1, 6)]
    # Booked the next day: a line dated on it is a date mismatch, not a missing line.
    late = await seed_payment(billing_pool, merchant, day=DAY + timedelta(days=3))
    rows = (await sandbox_file(client, headers)).splitlines()
    # Lines 2..11: payment, fee of each of the five, in order.
    assert [r.split(",")[3] for r in rows[1:]] == [p["id"] for p in seeded for _ in (0, 1)]
    cells = [r.split(",") for r in rows]  # cells[i] is line i + 1
    cells[3][6] = "10.20"        # line 4: payment 2, its amount 10.02 -> 10.20
    cells[7][0] = "2026-05-02"   # line 8, 7 once line 7 is gone: payment 4, a day later
    removed = cells.pop(6)       # line 7: payment 3's fee
    cells.append(["2026-05-01", "ECOCASH", "PAYMENT", "pay_nobody", "", "EC404", "5.00",
                  "USD", "CR", "Unknown payment"])  # line 11: added
    cells.append(["2026-05-01", "ECOCASH", "FEE", late["id"], "", "", "0.40", "USD", "DR",
                  "A fee booked later"])  # line 12: its movement is of three days later
    edited = "\n".join(",".join(c) for c in cells) + "\n"
    created = await upload(client, headers, edited)
    assert created["summary"] == {"matched": 7, "missingFromLedger": 1, "missingFromFile": 1,
                                  "amountMismatch": 1, "dateMismatch": 2, "exceptions": 5,
                                  "resolved": 0, "unresolved": 5}
    assert created["periodEnd"] == "2026-05-02"
    found = await exceptions(client, headers, created["importId"])
    got = [(e["kind"], e["line"], e["movementId"], e["fileAmount"], e["ledgerAmount"],
            e["fileDate"], e["ledgerDate"]) for e in found]
    assert got == [
        ("amount_mismatch", 4, seeded[1]["payment"], "1020", "1002", "2026-05-01",
         "2026-05-01"),
        ("date_mismatch", 7, seeded[3]["payment"], "1004", "1004", "2026-05-02", "2026-05-01"),
        ("missing_from_ledger", 11, None, "500", None, "2026-05-01", None),
        ("date_mismatch", 12, late["fee"], "-40", "-40", "2026-05-01", "2026-05-04"),
        ("missing_from_file", None, seeded[2]["fee"], None, "-40", None, "2026-05-01")]
    assert removed[3] == seeded[2]["id"] and removed[2] == "FEE"
    assert found[2]["references"] == ["pay_nobody", "EC404"]
    assert found[4]["references"][0] == seeded[2]["id"] and found[4]["movementType"] == "fee"
    only = await exceptions(client, headers, created["importId"], kind="date_mismatch")
    assert [e["line"] for e in only] == [7, 12]
    page = await _ok(await client.get(f"{IMPORTS}/{created['importId']}", headers=headers,
                                      params={"per_page": "2", "page": "3"}))
    assert [e["line"] for e in page["exceptions"]] == [None]
    assert page["pagination"] == {"page": 3, "per_page": 2, "total": 5}


async def test_the_sandbox_bank_statement_matches_the_days_payouts(settings, stack,
                                                                   billing_pool):
    client, _, merchant = stack
    headers = merchant.headers(settings)
    first = await seed_payout(billing_pool, merchant, paid=DAY, amount=10_000)
    second = await seed_payout(billing_pool, merchant, paid=DAY, amount=2_550)
    back = await seed_payout(billing_pool, merchant, paid=DAY - timedelta(days=1), amount=700,
                             returned=DAY)
    await seed_payout(billing_pool, merchant, paid=DAY, rail="ECOCASH")  # not the bank's
    next_day = await seed_payout(billing_pool, merchant, paid=DAY + timedelta(days=1))
    resp = await client.get(FILES, headers=headers,
                            params={"kind": "bank_statement", "date": DAY.isoformat()})
    assert resp.status == 200 and resp.content_type == "application/xml"
    assert "attachment" in resp.headers["Content-Disposition"]
    xml = await resp.read()
    for payout in (first, second, back):
        assert f"<EndToEndId>{payout}</EndToEndId>".encode() in xml
    assert xml.count(b"<Ntry>") == 3
    created = await upload(client, headers, xml, source="bank", fmt="camt053", rail=None,
                           filename="statement.xml")
    assert created["rail"] == "ZIMSWITCH" and created["lineCount"] == 3
    assert created["summary"]["matched"] == 3 and created["summary"]["exceptions"] == 0

    # The bank books the first payout two days late (within its 3 days), the second at
    # another amount; the statement now covers May 1 to 3, whose May 2 payout it lacks.
    root = ET.fromstring(xml)
    entries = {e.find("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", CAMT).text: e
               for e in root.iter(f"{{{CAMT['c']}}}Ntry")}
    entries[first].find("c:BookgDt/c:Dt", CAMT).text = "2026-05-03"
    entries[second].find("c:Amt", CAMT).text = "25.05"
    result = await upload(client, headers, ET.tostring(root), source="bank", fmt="camt053",
                          rail=None)
    assert (result["periodStart"], result["periodEnd"]) == ("2026-05-01", "2026-05-03")
    assert result["summary"]["matched"] == 2 and result["summary"]["exceptions"] == 2
    assert [(e["kind"], e["movementId"], e["fileAmount"], e["ledgerAmount"], e["ledgerDate"])
            for e in await exceptions(client, headers, result["importId"])] == [
        ("amount_mismatch", second, "2505", "2550", "2026-05-01"),
        ("missing_from_file", next_day, None, "10000", "2026-05-02")]


# Resolutions, tenants and modes ----------------------------------------------------------

async def test_an_exception_is_resolved_once_with_a_note_who_and_when(settings, stack,
                                                                     billing_pool):
    client, _, merchant = stack
    headers = merchant.headers(settings)
    await seed_payment(billing_pool, merchant)
    text = await sandbox_file(client, headers)
    created = await upload(client, headers, text.replace("12.50", "12.00"))
    [exc] = await exceptions(client, headers, created["importId"])
    assert exc["kind"] == "amount_mismatch" and exc["resolution"] is None
    path = f"{IMPORTS}/{created['importId']}/exceptions/{exc['exceptionId']}/resolve"
    message = await _error(await client.post(path, headers=headers, json={"note": ""}), 400)
    assert "note" in message
    resolved = await _ok(await client.post(path, headers=headers, json={
        "note": "Processor applied a 0.50 USD chargeback fee; booked as adjustment"}))
    assert resolved["resolution"]["note"].startswith("Processor applied")
    assert resolved["resolution"]["resolvedBy"] == f"user:{merchant.user_id}"
    assert abs(int(resolved["resolution"]["resolvedAt"]) - time.time()) < 60
    [shown] = await exceptions(client, headers, created["importId"], resolved="true")
    assert shown["resolution"] == resolved["resolution"]
    assert await exceptions(client, headers, created["importId"], resolved="false") == []
    detail = await _ok(await client.get(f"{IMPORTS}/{created['importId']}", headers=headers))
    assert (detail["summary"]["resolved"], detail["summary"]["unresolved"]) == (1, 0)
    message = await _error(await client.post(path, headers=headers, json={"note": "x"}), 409)
    assert message == "Error! This exception is already resolved"
    await _error(await client.post(
        f"{IMPORTS}/{created['importId']}/exceptions/rcx_nope/resolve", headers=headers,
        json={"note": "x"}), 404)


async def test_another_tenants_or_modes_import_is_not_found(settings, stack, billing_pool):
    client, admin, merchant = stack
    headers = merchant.headers(settings)
    await seed_payment(billing_pool, merchant)
    created = await upload(client, headers, await sandbox_file(client, headers))
    path = f"{IMPORTS}/{created['importId']}"
    other = await make_merchant(settings, admin, status="ACTIVE")
    stranger = await make_company_admin(settings)
    for who in (other.headers(settings), stranger.headers(settings),
                merchant.headers(settings, mode="live")):
        await _error(await client.get(path, headers=who), 404)
        await _error(await client.post(f"{path}/exceptions/rcx_x/resolve", headers=who,
                                       json={"note": "x"}), 404)
        assert (await _ok(await client.get(IMPORTS, headers=who)))["imports"] == []
    # Its company's ADMIN sees it, and imports for a merchant it names.
    seen = await _ok(await client.get(path, headers=admin.headers(settings)))
    assert seen["importId"] == created["importId"]
    await seed_payment(billing_pool, other)
    text = await sandbox_file(client, admin.headers(settings), merchantId=str(other.merchant_id))
    made = await upload(client, admin.headers(settings), text,
                        merchantId=str(other.merchant_id))
    assert made["merchantId"] == other.merchant_id and made["summary"]["matched"] == 2
    assert made["createdBy"] == f"user:{admin.user_id}"
    await _error(await client.post(IMPORTS, headers=stranger.headers(settings), data=form(
        text, merchantId=str(other.merchant_id))), 404)
    message = await _error(await client.post(IMPORTS, headers=admin.headers(settings),
                                             data=form(text)), 400)
    assert "merchantId" in message


async def test_sandbox_files_are_test_mode_data_and_name_bad_parameters(settings, stack):
    client, _, merchant = stack
    live = merchant.headers(settings, mode="live")
    message = await _error(await client.get(FILES, headers=live, params={
        "rail": "ECOCASH", "date": "2026-05-01"}), 400)
    assert "test-mode" in message
    headers = merchant.headers(settings)
    for params, field in (({"rail": "ECOCASH", "date": "01/05/2026"}, "date"),
                          ({"rail": "ECOCASH", "date": "9999-12-31"}, "date"),
                          ({"rail": "PAYPAL", "date": "2026-05-01"}, "rail"),
                          ({"date": "2026-05-01"}, "rail"),
                          ({"kind": "statement", "date": "2026-05-01"}, "kind"),
                          ({"kind": "bank_statement", "rail": "VISA_MASTER",
                            "date": "2026-05-01"}, "rail")):
        message = await _error(await client.get(FILES, headers=headers, params=params), 400)
        assert field in message, (params, message)
    empty = await sandbox_file(client, headers, day=date(2020, 1, 1))
    assert empty.splitlines() == ["date,rail,type,reference,trace,rail_reference,amount,"
                                  "currency,direction,description"]


# Bad uploads: a 4xx naming what is wrong, and nothing stored ------------------------------

async def test_a_malformed_file_is_a_400_naming_its_line_and_field(settings, stack,
                                                                    billing_pool):
    client, _, merchant = stack
    headers = merchant.headers(settings)
    await seed_payment(billing_pool, merchant)
    text = await sandbox_file(client, headers)
    bad = text.replace("12.50", "12.5x")
    message = await _error(await client.post(IMPORTS, headers=headers, data=form(bad)), 400)
    assert message == "Error! line 2: amount: must be a number"
    hostile = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&x;</Document>')
    message = await _error(await client.post(IMPORTS, headers=headers, data=form(
        hostile, source="bank", fmt="camt053", rail=None)), 400)
    assert "refused" in message
    for kwargs, field in (({"rail": None}, "rail"), ({"source": "acquirer"}, "source"),
                          ({"fmt": "camt053"}, "format"), ({"fmt": "ofx"}, "format"),
                          ({"source": "bank", "fmt": "camt053", "rail": "VISA_MASTER"}, "rail"),
                          ({"colour": "blue"}, "colour")):
        message = await _error(await client.post(IMPORTS, headers=headers, data=form(
            text, **kwargs)), 400)
        assert field in message, (kwargs, message)
    header_only = text.splitlines()[0] + "\n"
    assert "no lines" in await _error(await client.post(IMPORTS, headers=headers, data=form(
        header_only)), 400)
    no_file = aiohttp.FormData({"source": "processor", "format": "sandbox",
                                "rail": "ECOCASH"}, default_to_multipart=True)
    assert await _error(await client.post(IMPORTS, headers=headers, data=no_file), 400) == \
        "Error! file: is required (a part named file)"
    as_json = await client.post(IMPORTS, headers=headers, json={"file": text})
    assert "multipart/form-data" in await _error(as_json, 400)
    listed = await _ok(await client.get(IMPORTS, headers=headers))
    assert listed["imports"] == []  # nothing of any of them was kept


async def test_a_file_past_the_limit_is_a_413_without_being_read(settings, stack):
    client, _, merchant = stack
    headers = merchant.headers(settings)
    big = io.BytesIO(b"x" * (reconciliation_api.MAX_FILE_BYTES + 1))
    message = await _error(await client.post(IMPORTS, headers=headers, data=form(big)), 413)
    assert str(reconciliation_api.MAX_FILE_BYTES) in message

    async def chunks():  # no Content-Length: the limit is found while reading
        yield b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n"
        for _ in range(reconciliation_api.MAX_FILE_BYTES // (1 << 20) + 1):
            yield b"y" * (1 << 20)
        yield b"\r\n--B--\r\n"
    resp = await client.post(IMPORTS, data=chunks(), headers={
        **headers, "Content-Type": "multipart/form-data; boundary=B"})
    assert resp.status == 413, await resp.text()


async def test_a_hundred_thousand_line_file_imports_in_under_a_minute(settings, stack,
                                                                      billing_pool):
    client, *_ = stack
    async with aiohttp.ClientSession() as session:
        result = await bench_import(session, f"http://127.0.0.1:{client.server.port}",
                                    settings, billing_pool, lines=100_000)
    assert (result["lines"], result["matched"], result["exceptions"]) == (100_000, 100_000, 0)
    assert result["import_s"] < 60, result


async def test_a_file_spanning_more_than_93_days_is_refused(settings, stack):
    client, _, merchant = stack
    text = ("date,amount,currency,reference\n1970-01-01,1.00,USD,a\n"
            "2026-05-01,1.00,USD,b\n")
    resp = await client.post(IMPORTS, headers=merchant.headers(settings),
                             data=form(text, fmt="csv", rail="ECOCASH"))
    body = await resp.json()
    assert resp.status == 400, body
    assert body["message"].startswith("Error! file: its lines span 1970-01-01 to 2026-05-01")
    assert "at most 93 days" in body["message"]


async def test_an_upload_trickling_in_is_cut_off_and_holds_nothing(settings, stack,
                                                                  monkeypatch):
    client, _, merchant = stack
    monkeypatch.setattr(reconciliation_api, "UPLOAD_SECONDS", 1)
    boundary = "trickle"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()

    async def body():
        yield head
        for _ in range(30):  # a byte every 0.2 s: it would take 6 s
            await asyncio.sleep(0.2)
            yield b"x"
    headers = {**merchant.headers(settings),
               "Content-Type": f"multipart/form-data; boundary={boundary}"}
    started = time.monotonic()
    slow = await client.post(IMPORTS, headers=headers, data=body())
    assert slow.status == 408, await slow.text()
    assert time.monotonic() - started < 4
    # the gate is free again: a real file goes through at once
    ok_text = "date,amount,currency,reference\n2026-05-01,1.00,USD,c\n"
    done = await client.post(IMPORTS, headers=merchant.headers(settings),
                             data=form(ok_text, fmt="csv", rail="ECOCASH"))
    assert done.status == 201, await done.text()
