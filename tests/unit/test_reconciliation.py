"""Reconciliation without servers: the file formats (sandbox CSV, generic CSV, camt.053
02..08, hostile XML, bad lines) and the matcher's outcomes one by one."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.billing import reconciliation_formats as formats
from services.billing.reconciliation import Movement, reconcile, unknown_references
from services.billing.reconciliation_formats import FileLine, FormatError

DAY = date(2026, 5, 1)
HEADER = ",".join(formats.SANDBOX_COLUMNS)


def _payment(n: int, amount: int = 1250, day: date = DAY, currency: str = "USD",
             rail: str = "ECOCASH") -> list[Movement]:
    """A payment and its fee, as billing books them."""
    pay, trace = f"pay_{n}", f"0b9e{n:04d}-trace"
    return [Movement(f"btx_p{n}", "payment", pay, amount, currency, day, trace, f"EC{n}",
                     rail, f"Payment {pay}"),
            Movement(f"btx_f{n}", "fee", pay, -40, currency, day, trace, f"EC{n}", rail,
                     "Processing fee")]


def _line(n: int, kind="payment", refs=("t",), amount=1250, direction="credit",
          currency="USD", day=DAY) -> FileLine:
    return FileLine(n, kind, tuple(refs), amount, direction, currency, day)


def _error(call, *args, **kwargs) -> FormatError:
    with pytest.raises(FormatError) as caught:
        call(*args, **kwargs)
    return caught.value


# sandbox -------------------------------------------------------------------------------

def test_the_sandbox_writer_and_parser_agree_on_every_field():
    movements = [*_payment(1), Movement("btx_r1", "refund", "pay_1", -500, "USD", DAY,
                                        "0b9e0001-trace", "EC1", "ECOCASH", 'Refund "partial"'),
                 Movement("btx_n", "payment", "pay_n", 10**18 + 1, "NOR", DAY, None, "0xabc",
                          "ECOCASH", "Wallet, with a comma")]
    text = formats.write_sandbox(movements, rail="ECOCASH")
    assert text.splitlines()[0] == HEADER
    assert text.splitlines()[1] == (
        "2026-05-01,ECOCASH,PAYMENT,pay_1,0b9e0001-trace,EC1,12.50,USD,CR,Payment pay_1")
    assert "1.000000000000000001,NOR,CR" in text
    lines = formats.parse("sandbox", text.encode(), rail="ECOCASH")
    assert [(ln.line_number, ln.kind, ln.amount, ln.direction, ln.currency, ln.date)
            for ln in lines] == [
        (2, "payment", 1250, "credit", "USD", DAY), (3, "fee", 40, "debit", "USD", DAY),
        (4, "refund", 500, "debit", "USD", DAY), (5, "payment", 10**18 + 1, "credit", "NOR", DAY)]
    assert lines[0].references == ("pay_1", "0b9e0001-trace", "EC1")
    assert lines[3].references == ("pay_n", "0xabc")
    assert lines[2].description == 'Refund "partial"'
    assert reconcile(lines, movements, source="processor").counts["matched"] == 4


def test_a_payout_fee_is_a_fee_line_named_by_the_payout():
    movements = [Movement("btx_po", "payout", "po_1", -10000, "USD", DAY, None, "ZS1",
                          "ZIMSWITCH", "Payout"),
                 Movement("btx_pf", "payout_fee", "po_1", -100, "USD", DAY, None, "ZS1",
                          "ZIMSWITCH", "Payout fee")]
    text = formats.write_sandbox(movements, rail="ZIMSWITCH")
    assert [row.split(",")[2] for row in text.splitlines()[1:]] == ["PAYOUT", "FEE"]
    lines = formats.parse_sandbox(text.encode(), rail="ZIMSWITCH")
    result = reconcile(lines, movements, source="processor")
    assert result.counts["matched"] == 2 and not result.discrepancies


@pytest.mark.parametrize(("row", "field"), [
    ("2026-05-01,VISA_MASTER,PAYMENT,pay_1,t,,12.50,USD,CR,x", "rail"),
    ("2026-05-01,ECOCASH,CHARGEBACK,pay_1,t,,12.50,USD,CR,x", "type"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t,,12.50,USD,IN,x", "direction"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t,,12.505,USD,CR,x", "amount"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t,,-12.50,USD,CR,x", "amount"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t,,twelve,USD,CR,x", "amount"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t,,0.00,USD,CR,x", "amount"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t,,12.50,XXX,CR,x", "currency"),
    ("2026-13-01,ECOCASH,PAYMENT,pay_1,t,,12.50,USD,CR,x", "date"),
    ("9999-12-31,ECOCASH,PAYMENT,pay_1,t,,12.50,USD,CR,x", "date"),  # no next midnight
    ("2026-05-01,ECOCASH,PAYMENT,,,,12.50,USD,CR,x", "reference"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t,,12.50,USD,CR", "columns"),
    ("2026-05-01,ECOCASH,PAYMENT,pay_1,t\x01x,,12.50,USD,CR,x", "trace"),
])
def test_a_bad_sandbox_line_names_its_line_and_field(row, field):
    good = "2026-05-01,ECOCASH,PAYMENT,pay_0,t0,,1.00,USD,CR,ok"
    data = f"{HEADER}\n{good}\n{row}\n{good}\n".encode()
    err = _error(formats.parse_sandbox, data, rail="ECOCASH")
    assert (err.line, err.field) == (3, field), err
    assert str(err).startswith(f"line 3: {field}: ")


def test_a_sandbox_file_needs_its_header_and_utf8_without_nul():
    assert _error(formats.parse_sandbox, b"date,amount\n").field == "header"
    assert _error(formats.parse_sandbox, b"").field == "header"
    err = _error(formats.parse_sandbox, f"{HEADER}\nok\n\xff\n".encode("latin-1"))
    assert (err.line, err.field) == (3, "file")
    err = _error(formats.parse_sandbox, f"{HEADER}\n\n2026\x00\n".encode())
    assert (err.line, err.field) == (3, "file")
    good = "2026-05-01,ECOCASH,PAYMENT,pay_1,,,1.00,USD,CR,"
    err = _error(formats.parse_sandbox, f'{HEADER}\n{good}\n"a"b,c\n'.encode())
    assert (err.line, err.field) == (3, "file") and "CSV" in str(err)
    err = _error(formats.parse_sandbox, f'{HEADER}\n"open quote,\n'.encode())
    assert (err.line, err.field) == (2, "file")
    # A byte-order mark and blank lines are fine.
    bom = ("\ufeff" + HEADER + "\n\n2026-05-01,ECOCASH,PAYMENT,pay_1,,,1.00,USD,CR,\n").encode()
    assert [ln.line_number for ln in formats.parse_sandbox(bom)] == [3]


# csv -----------------------------------------------------------------------------------

def test_a_generic_csv_takes_its_direction_from_a_sign_or_its_type():
    data = (b"Reference, AMOUNT ,Currency,Date,Type,Description,Branch\n"
            b"pay_1,12.50,USD,2026-05-01,payment,Sale,HQ\n"
            b"pay_1,0.40,USD,2026-05-01,fee,Fee,HQ\n"
            b"pay_2,-3.00,USD,2026-05-01T23:30:00-02:00,,Chargeback,HQ\n"
            b"po_1,100,USD,2026-05-02,payout,,HQ\n"
            b"x_1,+7.25,ZWG,2026-05-02,payout_fee,,HQ\n")
    lines = formats.parse("csv", data)
    assert [(ln.kind, ln.references, ln.signed, ln.currency, ln.date) for ln in lines] == [
        ("payment", ("pay_1",), 1250, "USD", DAY), ("fee", ("pay_1",), -40, "USD", DAY),
        ("other", ("pay_2",), -300, "USD", date(2026, 5, 2)),  # 01:30 UTC the next day
        ("payout", ("po_1",), -10000, "USD", date(2026, 5, 2)),
        ("fee", ("x_1",), 725, "ZWG", date(2026, 5, 2))]
    assert lines[0].description == "Sale" and lines[3].line_number == 5
    plain = formats.parse_csv(b"date,amount,currency,reference\n2026-05-01,1,USD,r\n")
    assert (plain[0].kind, plain[0].direction) == ("other", "credit")


@pytest.mark.parametrize(("data", "line", "field"), [
    (b"date,amount,currency\n2026-05-01,1,USD\n", 1, "header"),
    (b"date,amount,currency,reference,date\n", 1, "header"),
    (b"date,amount,currency,reference,type\n2026-05-01,1,USD,r,bonus\n", 2, "type"),
    (b"date,amount,currency,reference\n2026-05-01,1,USD,r\n2026-05-01,1,USD, \n", 3,
     "reference"),
    (b"date,amount,currency,reference\n2026-05-01,1.2.3,USD,r\n", 2, "amount"),
    (b"date,amount,currency,reference\n2026-05-01,--1,USD,r\n", 2, "amount"),
    (b"date,amount,currency,reference\n01/05/2026,1,USD,r\n", 2, "date"),
    (b"date,amount,currency,reference\n2026-05-01,1,usd!,r\n", 2, "currency"),
    (b"date,amount,currency,reference\n2026-05-01,1,USD\n", 2, "columns"),
    (b"date,amount,currency,reference,description\n2026-05-01,1,USD,r," + b"d" * 501 + b"\n",
     2, "description"),
])
def test_a_bad_csv_line_names_its_line_and_field(data, line, field):
    err = _error(formats.parse_csv, data)
    assert (err.line, err.field) == (line, field), err


# camt.053 ------------------------------------------------------------------------------

def _camt(version: str, entries: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
          xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-1</MsgId><CreDtTm>2026-05-01T23:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>S1</Id>
{entries}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def _entry(version: str, *, amount="100.00", ccy="USD", ind="CRDT", booked="<Dt>2026-05-01</Dt>",
           status="BOOK", ustrd="NORGATE PAYOUT po_Ab12", e2e="NOTPROVIDED") -> str:
    # The status is a code of its own from version 06 on.
    sts = f"<Sts>{status}</Sts>" if int(version) < 6 else f"<Sts><Cd>{status}</Cd></Sts>"
    return f"""      <Ntry>
        <Amt Ccy="{ccy}">{amount}</Amt>
        <CdtDbtInd>{ind}</CdtDbtInd>
        {sts}
        <BookgDt>{booked}</BookgDt>
        <AcctSvcrRef>BANK-{amount}</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{e2e}</EndToEndId></Refs>
          <RmtInf><Ustrd>{ustrd}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""


@pytest.mark.parametrize("version", formats.CAMT_VERSIONS)
def test_every_camt053_version_parses_to_the_same_lines(version):
    data = _camt(version, "\n".join([
        _entry(version),
        _entry(version, amount="25.50", ind="DBIT", booked="<DtTm>2026-05-02T01:00:00+03:00"
               "</DtTm>", ustrd="Return", e2e="po_Zz9"),
        _entry(version, amount="9.99", status="PDNG"),
        _entry(version, amount="5", ccy="JPY", ustrd="Interest", e2e="NOTPROVIDED")]))
    lines = formats.parse("camt053", data)
    assert [(ln.kind, ln.signed, ln.currency, ln.date) for ln in lines] == [
        ("payout", 10000, "USD", DAY), ("payout", -2550, "USD", date(2026, 5, 1)),
        ("other", 5, "JPY", DAY)]
    assert lines[0].references == ("po_Ab12", "BANK-100.00")
    assert lines[1].references == ("po_Zz9", "BANK-25.50")
    # Each line is numbered by the line its <Ntry> opens on.
    text = data.decode().splitlines()
    assert [text[ln.line_number - 1].strip() for ln in lines] == ["<Ntry>"] * 3
    assert lines[0].line_number < lines[1].line_number < lines[2].line_number


def test_a_structured_creditor_reference_names_a_payout_too():
    entry = _entry("08", ustrd="x").replace(
        "<Ustrd>x</Ustrd>", "<Strd><CdtrRefInf><Ref>po_Str1</Ref></CdtrRefInf></Strd>")
    [line] = formats.parse_camt053(_camt("08", entry))
    assert (line.kind, line.references[0]) == ("payout", "po_Str1")


def test_the_sandbox_bank_statement_parses_back_to_its_payouts():
    paid = Movement("po_A1", "payout", "po_A1", 10000, "USD", DAY, None, "ZS1", "ZIMSWITCH")
    back = Movement("po_B2", "payout_return", "po_B2", -2500, "USD", DAY, None, None,
                    "ZIMSWITCH")
    nor = Movement("po_C3", "payout", "po_C3", 3 * 10**17, "NOR", DAY, None, None, "ZIMSWITCH")
    xml = formats.write_camt053([paid, back, nor], day=DAY, account="SANDBOX-7",
                                message_id="M1", created_at=datetime(2026, 5, 1, tzinfo=UTC))
    assert b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08" in xml
    lines = formats.parse_camt053(xml)
    assert [(ln.references[0], ln.signed, ln.currency) for ln in lines] == [
        ("po_C3", 3 * 10**17, "NOR"), ("po_A1", 10000, "USD"), ("po_B2", -2500, "USD")]
    result = reconcile(lines, [paid, back, nor], source="bank")
    assert result.counts["matched"] == 3 and not result.discrepancies


HOSTILE = {
    "billion laughs": b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&lol2;</Document>""",
    "external entity": b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&xxe;</Document>""",
    "external DTD": b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:1/evil.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>""",
    "parameter entity": b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>""",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused(name):
    err = _error(formats.parse_camt053, HOSTILE[name])
    assert err.field == "file" and "refused" in str(err)


@pytest.mark.parametrize(("data", "field"), [
    (b"<Document><BkToCstmrStmt/></Document>", "file"),  # no namespace
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08"/>', "file"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>', "BkToCstmrStmt"),
    (b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.08'>\n<a></b>", "file"),
    (b"not xml at all", "file"),
])
def test_what_is_not_a_camt053_statement_is_refused(data, field):
    assert _error(formats.parse_camt053, data).field == field


@pytest.mark.parametrize(("change", "field"), [
    ({"amount": ""}, "Amt"), ({"amount": "1.005"}, "Amt"), ({"amount": "-1"}, "Amt"),
    ({"ccy": "XYZ"}, "Amt@Ccy"), ({"ind": "BOTH"}, "CdtDbtInd"),
    ({"booked": "<Dt>yesterday</Dt>"}, "BookgDt/Dt"), ({"booked": ""}, "BookgDt"),
])
def test_a_bad_camt053_entry_names_its_line_and_field(change, field):
    data = _camt("05", _entry("05") + "\n" + _entry("05", **change))
    err = _error(formats.parse_camt053, data)
    second = [i for i, row in enumerate(data.decode().splitlines(), 1) if "<Ntry>" in row][1]
    assert (err.line, err.field) == (second, field), err


# matching ------------------------------------------------------------------------------

def test_every_line_and_movement_of_a_clean_file_matches():
    movements = [*_payment(1), *_payment(2)]
    lines = [_line(2, refs=("0b9e0001-trace",)), _line(3, "fee", ("EC1",), 40, "debit"),
             _line(4, refs=("EC2",)), _line(5, "fee", ("0b9e0002-trace",), 40, "debit")]
    result = reconcile(lines, movements, source="processor")
    assert result.counts == {"matched": 4, "missing_from_ledger": 0, "missing_from_file": 0,
                             "amount_mismatch": 0, "date_mismatch": 0}
    assert result.discrepancies == [] and (result.period_start, result.period_end) == (DAY, DAY)
    assert result.totals["USD"].credits == 2500 and result.totals["USD"].debits == 80


def test_a_line_no_movement_knows_is_missing_from_the_ledger():
    result = reconcile([_line(2, refs=("nobody",))], _payment(1), source="processor")
    line, *movements = result.discrepancies
    assert (line.kind, line.line_number, line.file_amount, line.movement_id) == (
        "missing_from_ledger", 2, 1250, None)
    assert [(d.kind, d.line_number, d.movement_id, d.ledger_amount, d.ledger_date)
            for d in movements] == [("missing_from_file", None, "btx_p1", 1250, DAY),
                                    ("missing_from_file", None, "btx_f1", -40, DAY)]
    assert result.counts["missing_from_ledger"] == 1 and result.counts["missing_from_file"] == 2


def test_a_different_amount_direction_or_currency_is_an_amount_mismatch():
    movements = _payment(1)[:1]
    for line in (_line(2, refs=("EC1",), amount=1200), _line(2, refs=("EC1",), direction="debit"),
                 _line(2, refs=("EC1",), currency="ZWG"),
                 _line(2, refs=("EC1",), amount=1200, day=date(2026, 5, 3))):
        [d] = reconcile([line], movements, source="processor").discrepancies
        assert (d.kind, d.movement_id, d.ledger_amount, d.ledger_date) == (
            "amount_mismatch", "btx_p1", 1250, DAY), line
        assert d.file_amount == line.signed and d.file_date == line.date


def test_another_day_is_a_date_mismatch_past_the_sources_tolerance():
    payout = Movement("po_1", "payout", "po_1", 10000, "USD", DAY, None, "ZS1", "ZIMSWITCH")
    late = _line(7, "payout", ("po_1",), 10000, day=date(2026, 5, 4))
    assert reconcile([late], [payout], source="bank").counts["matched"] == 1  # 3 days
    later = _line(7, "payout", ("po_1",), 10000, day=date(2026, 5, 5))
    [d] = reconcile([later], [payout], source="bank").discrepancies
    assert (d.kind, d.file_date, d.ledger_date) == ("date_mismatch", date(2026, 5, 5), DAY)
    [d] = reconcile([_line(2, refs=("EC1",), day=date(2026, 5, 2))], _payment(1)[:1],
                    source="processor").discrepancies
    assert d.kind == "date_mismatch"  # the processor's tolerance is 0


def test_a_movement_is_taken_once_and_a_fee_is_never_its_payment():
    movements = _payment(1)
    twice = [_line(2, refs=("EC1",)), _line(3, refs=("EC1",))]
    result = reconcile(twice, movements, source="processor")
    assert result.counts["matched"] == 1 and result.counts["missing_from_ledger"] == 1
    assert [(d.kind, d.line_number) for d in result.discrepancies] == [
        ("missing_from_ledger", 3), ("missing_from_file", None)]
    # A fee line takes the fee (by its payment's reference), never the payment.
    result = reconcile([_line(2, "fee", ("EC1",), 1250, "debit")], movements[:1],
                       source="processor")
    assert result.counts["missing_from_ledger"] == 1


def test_a_line_of_no_type_takes_the_movement_its_amount_agrees_with():
    line = _line(2, "other", ("EC1",), 40, "debit")
    result = reconcile([line], _payment(1), source="processor")
    assert result.counts["matched"] == 1
    assert [d.movement_id for d in result.discrepancies] == ["btx_p1"]  # the payment left


def test_a_movement_out_of_scope_is_a_date_mismatch_never_missing_from_the_file():
    in_scope, outside = _payment(1), _payment(2, day=date(2026, 4, 20))
    lines = [_line(2, refs=("EC1",)), _line(3, "fee", ("EC1",), 40, "debit"),
             _line(4, refs=("EC2",))]
    assert unknown_references(lines, in_scope) == {"EC2"}
    result = reconcile(lines, in_scope, source="processor", nearby=outside + in_scope)
    assert [(d.kind, d.line_number, d.movement_id) for d in result.discrepancies] == [
        ("date_mismatch", 4, "btx_p2")]  # btx_f2 is not in scope: not missing


def test_a_hundred_thousand_lines_all_match():
    movements = [m for n in range(50_000) for m in _payment(n)]
    lines = [_line(i + 2, m.type if m.type != "payout_fee" else "fee", (m.rail_reference,),
                   abs(m.amount), "credit" if m.amount > 0 else "debit")
             for i, m in enumerate(movements)]
    result = reconcile(lines, movements, source="processor")
    assert result.counts["matched"] == 100_000 and not result.discrepancies
    # (how fast: `make bench`'s import phase; a timed unit test proves nothing)
