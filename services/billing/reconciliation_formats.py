"""Reconciliation file formats: parsers of settlement files and bank statements into one
line model (`FileLine`), and the writers of the sandbox rails' own files. No I/O.

Formats (`format` of POST /api/v2/reconciliation/imports):

`sandbox`: the daily settlement file a sandbox rail writes for a merchant (test mode;
    GET /api/v2/reconciliation/sandbox-files?rail=&date=). UTF-8 CSV, a header row, then
    one row per payment, refund, fee and payout the rail moved that day:

        date,rail,type,reference,trace,rail_reference,amount,currency,direction,description
        2026-05-01,ECOCASH,PAYMENT,pay_8Hk...,0b9e...,EC8Hk2...,12.50,USD,CR,Payment pay_8Hk...
        2026-05-01,ECOCASH,FEE,pay_8Hk...,0b9e...,EC8Hk2...,0.40,USD,DR,Processing fee
        2026-05-01,ZIMSWITCH,PAYOUT,po_3Zq...,,ZS91...,100.00,USD,DR,Payout po_3Zq...

    `date` is the UTC day the rail moved the money (YYYY-MM-DD); `rail` the rail of the
    file; `type` PAYMENT | REFUND | FEE | PAYOUT (a payout's fee is a FEE whose reference
    is the payout id); `reference` norgate's id (pay_... or po_...), `trace` the
    payment's NORAH trace, `rail_reference` the rail's own reference (transaction hash,
    payout reference): any may be empty, not all three; `amount` in major units with
    the currency's decimals (12.50 USD, 1.000000000000000000 NOR), never signed;
    `direction` CR (to the merchant) or DR (from it).

`csv`: any CSV with a header row naming at least `date`, `amount`, `currency` and
    `reference` (any order, any case; `type` and `description` optional, other columns
    ignored). `date` is YYYY-MM-DD or an ISO 8601 date-time (its UTC day); `amount` major
    units. Direction: a sign (`-12.50` is a debit, `+12.50` a credit); unsigned, `type`
    decides (payment: credit; refund, fee, payout_fee, payout: debit); with neither, a
    credit. `type` is payment | refund | fee | payout_fee | payout | other (or empty).

`camt053`: the ISO 20022 bank-to-customer statement, camt.053.001.02 to .08, parsed with
    a real XML parser (defusedxml: a DTD, an entity or an external reference is refused).
    One line per booked entry (`Ntry`; pending and information-only entries are skipped):
    `Amt` and its `Ccy`, `CdtDbtInd` (CRDT, DBIT), `BookgDt/Dt` or `BookgDt/DtTm` (else
    `ValDt`), and as references every payout id (po_...) in the remittance information
    (`RmtInf/Ustrd`, `RmtInf/Strd/CdtrRefInf/Ref`), the transactions' `Refs` (EndToEndId,
    AcctSvcrRef, InstrId, TxId) and the entry's `AcctSvcrRef`. An entry naming a payout
    id is a payout; any other is `other`.
    Its line number is the line of the file its `<Ntry>` starts on.

A malformed line is a `FormatError` naming its line number and field; the whole file is
then refused (nothing of it is stored).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, get_args
from xml.etree import ElementTree as ET  # writing only; parsing goes through defusedxml

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from shared.money import MoneyError, get_currency, parse_major

if TYPE_CHECKING:  # the writers take the matcher's movements; no import cycle at run time
    from services.billing.reconciliation import Movement

Kind = Literal["payment", "refund", "fee", "payout", "other"]
Direction = Literal["credit", "debit"]
Format = Literal["sandbox", "csv", "camt053"]
FORMATS: tuple[str, ...] = get_args(Format)

# The pay-in rails (checkout's payment methods); payouts go over ZIMSWITCH (to a bank
# account) and the three wallets.
Rail = Literal["VISA_MASTER", "ECOCASH", "ZIMSWITCH", "OMARI", "INNBUCKS", "NOR_WALLET"]
RAILS: tuple[str, ...] = get_args(Rail)
PAYOUT_RAILS: tuple[str, ...] = ("ZIMSWITCH", "ECOCASH", "OMARI", "INNBUCKS")

MAX_LINES = 500_000
# The days a line may carry: room for a day's bounds in datetime on both sides.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
MAX_REFERENCE = 200
MAX_DESCRIPTION = 500
# Payout ids in free text (a bank's remittance line): norgate's po_ + base62.
PAYOUT_ID = re.compile(r"(?<![A-Za-z0-9_])po_[A-Za-z0-9]{1,64}(?![A-Za-z0-9])")


@dataclass(frozen=True, slots=True)
class FileLine:
    """One line of an imported file: what moved, as the file says it."""
    line_number: int
    kind: Kind
    references: tuple[str, ...]
    amount: int  # minor units, > 0; the sign is `direction`
    direction: Direction  # credit: to the merchant (processor) or its bank account
    currency: str
    date: date
    description: str = ""

    @property
    def signed(self) -> int:
        return self.amount if self.direction == "credit" else -self.amount


class FormatError(ValueError):
    """A file that does not parse: where (line, None for the file as a whole) and which
    field."""

    def __init__(self, line: int | None, field: str, message: str):
        self.line = line
        self.field = field
        self.problem = message
        super().__init__(f"line {line}: {field}: {message}" if line is not None
                         else f"{field}: {message}")


def parse(fmt: str, data: bytes, *, rail: str | None = None) -> list[FileLine]:
    """The lines of a file of format `fmt`; `rail`: the rail a sandbox file must be of."""
    if fmt == "sandbox":
        return parse_sandbox(data, rail=rail)
    if fmt == "csv":
        return parse_csv(data)
    if fmt == "camt053":
        return parse_camt053(data)
    raise FormatError(None, "format", f"one of {', '.join(FORMATS)}")


# Shared pieces -----------------------------------------------------------------------

def _text(data: bytes) -> str:
    """UTF-8 (a byte-order mark allowed), without NUL (the database cannot keep it)."""
    _check_bytes(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(data.count(b"\n", 0, exc.start) + 1, "file",
                          "not UTF-8 text") from None


def _check_bytes(data: bytes) -> None:
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FormatError(data.count(b"\n", 0, nul) + 1, "file", "NUL bytes are not allowed")


def _rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank CSV record; the line is where it ends.
    Decoded as it is read: a 30 MB file is never held a second time as text."""
    _check_bytes(data)
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(stream, strict=True)
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                yield reader.line_num, row
    except csv.Error as exc:
        raise FormatError(reader.line_num, "file", f"not valid CSV: {exc}") from None
    except UnicodeDecodeError:
        _text(data)  # names the line of the bad bytes
        raise


def _day(value: str, line: int, field: str) -> date:
    try:
        day = _parse_day(value.strip())
    except (ValueError, OverflowError):
        raise FormatError(line, field, "must be a date, YYYY-MM-DD") from None
    return in_range(day, line, field)


@lru_cache(maxsize=1024)
def _parse_day(value: str) -> date:
    """A file's lines share a few days: one date object each, not one per line."""
    if len(value) <= 10:
        return date.fromisoformat(value)
    at = datetime.fromisoformat(value)
    return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()


def in_range(day: date, line: int | None, field: str) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise FormatError(line, field, f"must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def _amount(value: str, currency: str, line: int, field: str = "amount") -> int:
    try:
        return parse_major(value.strip(), currency, field).minor
    except MoneyError as exc:
        raise FormatError(line, field, exc.message.removeprefix(f"{field} ")) from None


def _currency(value: str, line: int, field: str = "currency") -> str:
    try:
        return get_currency(value.strip(), field).code
    except MoneyError as exc:
        raise FormatError(line, field, exc.message) from None


def _reference(value: str, line: int, field: str) -> str:
    value = value.strip()
    if len(value) > MAX_REFERENCE:
        raise FormatError(line, field, f"at most {MAX_REFERENCE} characters")
    if not value.isprintable():
        raise FormatError(line, field, "control characters are not allowed")
    return value


def _description(value: str, line: int, field: str = "description") -> str:
    value = value.strip()
    if len(value) > MAX_DESCRIPTION:
        raise FormatError(line, field, f"at most {MAX_DESCRIPTION} characters")
    return value


def _check_count(lines: list[FileLine], line: int) -> None:
    if len(lines) >= MAX_LINES:
        raise FormatError(line, "file", f"at most {MAX_LINES} lines")


def _major(minor: int, exponent: int) -> str:
    """Minor units as major with every decimal of the currency: 1250 -> "12.50"."""
    if not exponent:
        return str(minor)
    whole, frac = divmod(minor, 10**exponent)
    return f"{whole}.{frac:0{exponent}d}"


# sandbox -------------------------------------------------------------------------------

SANDBOX_COLUMNS: tuple[str, ...] = ("date", "rail", "type", "reference", "trace",
                                    "rail_reference", "amount", "currency", "direction",
                                    "description")
_SANDBOX_KINDS: dict[str, Kind] = {"PAYMENT": "payment", "REFUND": "refund", "FEE": "fee",
                                   "PAYOUT": "payout"}
# Balance-movement types as a rail's file names them.
_SANDBOX_TYPE_OF: dict[str, str] = {"payment": "PAYMENT", "refund": "REFUND", "fee": "FEE",
                                    "payout_fee": "FEE", "payout": "PAYOUT"}
_DIRECTIONS: dict[str, Direction] = {"CR": "credit", "DR": "debit"}


def parse_sandbox(data: bytes, *, rail: str | None = None) -> list[FileLine]:
    rows = _rows(data)
    first = next(rows, None)
    if first is None:
        raise FormatError(1, "header", "the file is empty")
    number, header = first
    if tuple(cell.strip().lower() for cell in header) != SANDBOX_COLUMNS:
        raise FormatError(number, "header", f"must be {','.join(SANDBOX_COLUMNS)}")
    width = len(SANDBOX_COLUMNS)
    lines: list[FileLine] = []
    for number, row in rows:
        _check_count(lines, number)
        if len(row) != width:
            raise FormatError(number, "columns", f"{width} expected, {len(row)} found")
        day, line_rail, kind, ref, trace, rail_ref, amount, cur, direction, text = row
        line_rail = line_rail.strip()
        if line_rail not in RAILS or (rail is not None and line_rail != rail):
            raise FormatError(number, "rail", f"must be {rail}" if rail
                              else f"one of {', '.join(RAILS)}")
        found_kind = _SANDBOX_KINDS.get(kind.strip().upper())
        if found_kind is None:
            raise FormatError(number, "type", "one of PAYMENT, REFUND, FEE, PAYOUT")
        found_direction = _DIRECTIONS.get(direction.strip().upper())
        if found_direction is None:
            raise FormatError(number, "direction", "CR or DR")
        refs = tuple(r for r in (_reference(ref, number, "reference"),
                                 _reference(trace, number, "trace"),
                                 _reference(rail_ref, number, "rail_reference")) if r)
        if not refs:
            raise FormatError(number, "reference",
                              "one of reference, trace and rail_reference is required")
        currency = _currency(cur, number)
        lines.append(FileLine(number, found_kind, refs, _amount(amount, currency, number),
                              found_direction, currency, _day(day, number, "date"),
                              _description(text, number)))
    return lines


def write_sandbox(movements: Iterable[Movement], *, rail: str) -> str:
    """A sandbox rail's settlement file of `movements` (the day's, in order)."""
    return "".join(sandbox_chunks(movements, rail=rail, header=True))


def sandbox_chunks(movements: Iterable[Movement], *, rail: str, header: bool,
                   size: int = 1000) -> Iterator[str]:
    """The same file in pieces of `size` rows (the header first, when asked): what a
    streamed answer writes as the movements arrive."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(SANDBOX_COLUMNS)
    exponents: dict[str, int] = {}
    for n, m in enumerate(movements, start=1):
        exponent = exponents.get(m.currency)
        if exponent is None:
            exponent = exponents[m.currency] = get_currency(m.currency).exponent
        writer.writerow((m.day.isoformat(), rail, _SANDBOX_TYPE_OF[m.type], m.source_id,
                         m.trace or "", m.rail_reference or "",
                         _major(abs(m.amount), exponent), m.currency,
                         "CR" if m.amount > 0 else "DR", m.description))
        if n % size == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue()


# csv -----------------------------------------------------------------------------------

CSV_REQUIRED: tuple[str, ...] = ("date", "amount", "currency", "reference")
_CSV_KINDS: dict[str, Kind] = {"payment": "payment", "refund": "refund", "fee": "fee",
                               "payout_fee": "fee", "payout": "payout", "other": "other",
                               "": "other"}
_NATURAL: dict[Kind, Direction] = {"payment": "credit", "refund": "debit", "fee": "debit",
                                   "payout": "debit", "other": "credit"}


def parse_csv(data: bytes) -> list[FileLine]:
    rows = _rows(data)
    first = next(rows, None)
    if first is None:
        raise FormatError(1, "header", "the file is empty")
    number, header = first
    names = [cell.strip().lower() for cell in header]
    for name in names:
        if name and names.count(name) > 1:
            raise FormatError(number, "header", f"column {name} appears twice")
    for name in CSV_REQUIRED:
        if name not in names:
            raise FormatError(number, "header",
                              f"a {name} column is required ({', '.join(CSV_REQUIRED)})")
    at = {name: i for i, name in enumerate(names)}
    i_date, i_amount, i_cur, i_ref = (at[n] for n in CSV_REQUIRED)
    i_type, i_text = at.get("type"), at.get("description")
    width = len(names)
    lines: list[FileLine] = []
    for number, row in rows:
        _check_count(lines, number)
        if len(row) != width:
            raise FormatError(number, "columns", f"{width} expected, {len(row)} found")
        kind = _CSV_KINDS.get(row[i_type].strip().lower()) if i_type is not None else "other"
        if kind is None:
            raise FormatError(number, "type",
                              "one of payment, refund, fee, payout_fee, payout, other")
        raw = row[i_amount].strip()
        sign = raw[:1]
        direction: Direction = ("debit" if sign == "-" else "credit" if sign == "+"
                                else _NATURAL[kind])
        currency = _currency(row[i_cur], number)
        minor = _amount(raw[1:] if sign in ("+", "-") else raw, currency, number)
        ref = _reference(row[i_ref], number, "reference")
        if not ref:
            raise FormatError(number, "reference", "is required")
        lines.append(FileLine(number, kind, (ref,), minor, direction, currency,
                              _day(row[i_date], number, "date"),
                              _description(row[i_text], number) if i_text is not None else ""))
    return lines


# camt.053 ------------------------------------------------------------------------------

CAMT_VERSIONS: tuple[str, ...] = tuple(f"0{v}" for v in range(2, 9))
CAMT_NAMESPACES: frozenset[str] = frozenset(
    f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{v}" for v in CAMT_VERSIONS)
CAMT_WRITE_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
_BOOKED = frozenset({"BOOK", ""})  # no status: treated as booked


class _Builder(ET.TreeBuilder):
    """A tree builder that notes the line each <Ntry> starts on (for error messages)."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.entry_lines: list[int] = []

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        if tag.rpartition("}")[2] == "Ntry" and self.parser is not None:
            self.entry_lines.append(self.parser.parser.CurrentLineNumber)
        return super().start(tag, attrs)


def _xml(data: bytes) -> tuple[ET.Element, list[int]]:
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                              forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException:
        raise FormatError(None, "file", "XML with a DTD, entity declarations or external "
                          "references is refused") from None
    except ParseError as exc:
        raise FormatError(exc.position[0], "file", f"not well-formed XML: {exc}") from None
    return root, builder.entry_lines


def _local(elem: ET.Element) -> str:
    tag: object = elem.tag  # a function, not a str, for comments and processing instructions
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(elem: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        if elem is None:
            return None
        elem = next((c for c in elem if _local(c) == name), None)
    return elem


def _children(elem: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if elem is None else [c for c in elem if _local(c) == name]


def _value(elem: ET.Element | None, *path: str) -> str:
    found = _child(elem, *path)
    return (found.text or "").strip() if found is not None else ""


def parse_camt053(data: bytes) -> list[FileLine]:
    root, entry_lines = _xml(data)
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    if _local(root) != "Document" or namespace not in CAMT_NAMESPACES:
        raise FormatError(1, "file", "not a camt.053 statement (Document in the namespace "
                          "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02 to .08)")
    body = _child(root, "BkToCstmrStmt")
    if body is None:
        raise FormatError(1, "BkToCstmrStmt", "is missing")
    statements = _children(body, "Stmt")
    lines: list[FileLine] = []
    ordinal = 0
    for stmt in statements:
        for entry in _children(stmt, "Ntry"):
            number = entry_lines[ordinal] if ordinal < len(entry_lines) else ordinal + 1
            ordinal += 1
            line = _entry(entry, number)
            if line is not None:
                _check_count(lines, number)
                lines.append(line)
    return lines


def _entry(entry: ET.Element, number: int) -> FileLine | None:
    status = _value(entry, "Sts", "Cd") or _value(entry, "Sts")
    if status.upper() not in _BOOKED:
        return None  # pending or information only: not (yet) money on the account
    amt = _child(entry, "Amt")
    if amt is None or not (amt.text or "").strip():
        raise FormatError(number, "Amt", "is required")
    currency = _currency(amt.get("Ccy", ""), number, "Amt@Ccy")
    minor = _amount(amt.text or "", currency, number, "Amt")
    indicator = _value(entry, "CdtDbtInd").upper()
    if indicator not in ("CRDT", "DBIT"):
        raise FormatError(number, "CdtDbtInd", "CRDT or DBIT")
    day = _booking_day(entry, number)
    payout_ids: list[str] = []
    others: list[str] = []
    texts: list[str] = []
    for tx in [t for d in _children(entry, "NtryDtls") for t in _children(d, "TxDtls")]:
        rmt = _child(tx, "RmtInf")
        for ustrd in _children(rmt, "Ustrd"):
            text = (ustrd.text or "").strip()
            texts.append(text)
            payout_ids.extend(PAYOUT_ID.findall(text))
        for strd in _children(rmt, "Strd"):
            ref = _value(strd, "CdtrRefInf", "Ref")
            found = PAYOUT_ID.findall(ref)
            payout_ids.extend(found)
            if ref and not found:
                others.append(ref)
        refs = _child(tx, "Refs")
        for name in ("EndToEndId", "AcctSvcrRef", "InstrId", "TxId"):
            ref = _value(refs, name)
            if ref and ref.upper() != "NOTPROVIDED":
                (payout_ids if PAYOUT_ID.fullmatch(ref) else others).append(ref)
    bank_ref = _value(entry, "AcctSvcrRef")
    if bank_ref:
        others.append(bank_ref)
    references = tuple(dict.fromkeys(
        _reference(r, number, "Refs") for r in payout_ids + others if r))
    info = _value(entry, "AddtlNtryInf")
    return FileLine(number, "payout" if payout_ids else "other", references, minor,
                    "credit" if indicator == "CRDT" else "debit", currency, day,
                    (info or " ".join(texts))[:MAX_DESCRIPTION])


def _booking_day(entry: ET.Element, number: int) -> date:
    for path in (("BookgDt", "Dt"), ("BookgDt", "DtTm"), ("ValDt", "Dt"), ("ValDt", "DtTm")):
        value = _value(entry, *path)
        if value:
            return _day(value, number, "/".join(path))
    raise FormatError(number, "BookgDt", "a booking date (Dt or DtTm) is required")


def _sub(parent: ET.Element, tag: str, text: str | None = None,
         **attrs: str) -> ET.Element:
    elem = ET.SubElement(parent, tag, attrs)
    if text is not None:
        elem.text = text
    return elem


def write_camt053(movements: Sequence[Movement], *, day: date, account: str,
                  message_id: str, created_at: datetime) -> bytes:
    """The sandbox bank's camt.053.001.08 statement of `day` for a merchant's settlement
    account: payouts paid to it as credits (a payout returned that day as a debit), one
    statement per currency. The sandbox account opens each day at zero."""
    created = created_at.astimezone(UTC).replace(microsecond=0).isoformat()
    doc = ET.Element("Document", {"xmlns": CAMT_WRITE_NS})
    stmts = _sub(doc, "BkToCstmrStmt")
    header = _sub(stmts, "GrpHdr")
    _sub(header, "MsgId", message_id)
    _sub(header, "CreDtTm", created)
    for currency in sorted({m.currency for m in movements}):
        entries = [m for m in movements if m.currency == currency]
        exponent = get_currency(currency).exponent
        stmt = _sub(stmts, "Stmt")
        _sub(stmt, "Id", f"{message_id}-{currency}")
        _sub(stmt, "CreDtTm", created)
        period = _sub(stmt, "FrToDt")
        _sub(period, "FrDtTm", datetime.combine(day, time(0), UTC).isoformat())
        _sub(period, "ToDtTm", datetime.combine(day, time(23, 59, 59), UTC).isoformat())
        acct = _sub(stmt, "Acct")
        _sub(_sub(_sub(acct, "Id"), "Othr"), "Id", f"{account}-{currency}")
        _sub(acct, "Ccy", currency)
        net = sum(m.amount for m in entries)
        for code, amount in (("OPBD", 0), ("CLBD", net)):
            bal = _sub(stmt, "Bal")
            _sub(_sub(_sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
            _sub(bal, "Amt", _major(abs(amount), exponent), Ccy=currency)
            _sub(bal, "CdtDbtInd", "DBIT" if amount < 0 else "CRDT")
            _sub(_sub(bal, "Dt"), "Dt", day.isoformat())
        for n, m in enumerate(entries, start=1):
            credit = m.amount > 0
            ntry = _sub(stmt, "Ntry")
            _sub(ntry, "NtryRef", str(n))
            _sub(ntry, "Amt", _major(abs(m.amount), exponent), Ccy=currency)
            _sub(ntry, "CdtDbtInd", "CRDT" if credit else "DBIT")
            _sub(_sub(ntry, "Sts"), "Cd", "BOOK")
            _sub(_sub(ntry, "BookgDt"), "Dt", m.day.isoformat())
            _sub(_sub(ntry, "ValDt"), "Dt", m.day.isoformat())
            bank_ref = m.rail_reference or f"SBX{m.source_id[3:]}"
            _sub(ntry, "AcctSvcrRef", bank_ref)
            domain = _sub(_sub(ntry, "BkTxCd"), "Domn")
            _sub(domain, "Cd", "PMNT")
            family = _sub(domain, "Fmly")
            _sub(family, "Cd", "RCDT" if credit else "ICDT")
            _sub(family, "SubFmlyCd", "ESCT" if credit else "RRTN")
            tx = _sub(_sub(ntry, "NtryDtls"), "TxDtls")
            refs = _sub(tx, "Refs")
            _sub(refs, "AcctSvcrRef", bank_ref)
            _sub(refs, "EndToEndId", m.source_id)
            _sub(_sub(tx, "RmtInf"), "Ustrd",
                 f"NORGATE PAYOUT {m.source_id}" if credit
                 else f"RETURN OF NORGATE PAYOUT {m.source_id}")
    ET.indent(doc)  # one element a line: an entry's line number means something
    return ET.tostring(doc, encoding="utf-8", xml_declaration=True)
