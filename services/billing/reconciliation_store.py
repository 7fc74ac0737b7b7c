"""SQL of reconciliation: the movements a file is matched against (balance_transactions
and payouts, 0005), and imports with their exceptions (0006). Every read takes the
caller's mode and tenant; another's import is not found."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import cast

import asyncpg

from services.billing import domain
from services.billing.reconciliation import Discrepancy, Movement, MovementType, Result
from shared.db import bounded_total, snapshot

# A movement's rail and references: a fee's or refund's may be only on its payment's
# row, a payout's rail reference only on the payout (the rail answers after the
# movement is booked). A canceled payout never reached its rail: its movements (out and
# back) are in no rail's file.
_PROCESSOR = """
SELECT * FROM (
    SELECT bt.id, bt.balance_transaction_id, bt.type, bt.source_id, bt.amount, bt.currency,
           bt.created_at, bt.description,
           coalesce(bt.rail, pay.rail, po.rail) AS rail,
           coalesce(bt.trace, pay.trace) AS trace,
           coalesce(bt.rail_reference, pay.rail_reference, po.rail_reference) AS rail_reference
      FROM balance_transactions bt
      LEFT JOIN LATERAL (
            SELECT p.rail, p.trace, p.rail_reference FROM balance_transactions p
             WHERE bt.type IN ('fee', 'refund')
               AND (bt.rail IS NULL OR bt.trace IS NULL OR bt.rail_reference IS NULL)
               AND p.source_id = bt.source_id AND p.type = 'payment'
               AND p.merchant_id = bt.merchant_id AND p.livemode = bt.livemode
             ORDER BY p.id LIMIT 1) pay ON true
      LEFT JOIN payouts po ON bt.type IN ('payout', 'payout_fee')
                          AND po.payout_id = bt.source_id
     WHERE bt.merchant_id = $1 AND bt.livemode = $2 AND bt.type <> 'adjustment'
       AND (po.status IS NULL OR po.status <> 'canceled')
       AND ($3::bigint IS NULL OR bt.company_id = $3) AND {where}) m
 WHERE m.rail = $4
 ORDER BY m.created_at, m.id"""

# Every source (payment or payout) one of `refs` names, by any of its references.
_HITS = """bt.source_id IN (
    SELECT source_id FROM balance_transactions
     WHERE merchant_id = $1 AND livemode = $2
       AND (source_id = ANY($7::text[]) OR trace = ANY($7::text[])
            OR rail_reference = ANY($7::text[]))
    UNION
    SELECT payout_id FROM payouts
     WHERE merchant_id = $1 AND livemode = $2
       AND (payout_id = ANY($7::text[]) OR rail_reference = ANY($7::text[])))"""

_BANK = """
SELECT payout_id, amount, currency, rail, rail_reference, description, status, paid_at,
       failed_at
  FROM payouts
 WHERE merchant_id = $1 AND livemode = $2 AND ($3::bigint IS NULL OR company_id = $3)
   AND rail = $4 AND paid_at IS NOT NULL AND {where}
 ORDER BY paid_at, id"""


@dataclass(frozen=True)
class Scope:
    """Whose movements a file is matched against: a merchant's (of a company, when the
    caller is limited to one), in one mode, on one rail."""
    company_id: int | None
    merchant_id: int
    livemode: bool
    rail: str

    def args(self) -> tuple[int, bool, int | None, str]:
        return self.merchant_id, self.livemode, self.company_id, self.rail


def _movement(row: asyncpg.Record) -> Movement:
    return Movement(row["balance_transaction_id"], cast(MovementType, row["type"]),
                    row["source_id"],
                    int(row["amount"]), row["currency"], row["created_at"].astimezone(UTC).date(),
                    row["trace"], row["rail_reference"], row["rail"], row["description"])


async def processor_movements(conn: asyncpg.Connection, scope: Scope, *, start: datetime,
                              end: datetime) -> list[Movement]:
    """The balance movements of the rail created in [start, end): a settlement file's."""
    return [m async for batch in processor_batches(conn, scope, start=start, end=end)
            for m in batch]


async def processor_batches(conn: asyncpg.Connection, scope: Scope, *, start: datetime,
                            end: datetime, size: int = 5000) -> AsyncIterator[list[Movement]]:
    """The same, `size` at a time through a cursor: a big day's rows are never all held
    at once as records (nor, for a streamed file, at all)."""
    sql = _PROCESSOR.format(where="bt.created_at >= $5 AND bt.created_at < $6")
    async with conn.transaction(readonly=True):
        cursor = await conn.cursor(sql, *scope.args(), start, end)
        while rows := await cursor.fetch(size):
            yield [_movement(r) for r in rows]


async def processor_movements_named(conn: asyncpg.Connection, scope: Scope, *,
                                    refs: list[str], start: datetime,
                                    end: datetime) -> list[Movement]:
    """The movements of the rail outside [start, end) whose payment or payout one of `refs`
    names (with their fees and refunds)."""
    if not refs:
        return []
    rows = await conn.fetch(
        _PROCESSOR.format(where="NOT (bt.created_at >= $5 AND bt.created_at < $6) AND "
                          + _HITS),
        *scope.args(), start, end, refs)
    return [_movement(r) for r in rows]


def _bank(rows: list[asyncpg.Record], start: datetime | None,
          end: datetime | None) -> list[Movement]:
    """A payout's credit to the account on its paid day and, when it came back, the
    debit on its failed day; only those in [start, end) when given."""
    out: list[Movement] = []
    for r in rows:
        amount = int(r["amount"])
        text = r["description"] or f"Payout {r['payout_id']}"
        halves: list[tuple[MovementType, int, datetime]] = [("payout", amount, r["paid_at"])]
        if r["status"] == "failed" and r["failed_at"] is not None:
            halves.append(("payout_return", -amount, r["failed_at"]))
        for kind, signed, at in halves:
            if start is not None and end is not None and not start <= at < end:
                continue
            out.append(Movement(r["payout_id"], kind, r["payout_id"], signed, r["currency"],
                                at.astimezone(UTC).date(), None, r["rail_reference"],
                                r["rail"], text))
    return out


async def bank_movements(conn: asyncpg.Connection, scope: Scope, *, start: datetime,
                         end: datetime) -> list[Movement]:
    """Payouts over the rail paid (or returned) in [start, end): a bank statement's."""
    rows = await conn.fetch(_BANK.format(
        where="((paid_at >= $5 AND paid_at < $6) OR "
              "(status = 'failed' AND failed_at >= $5 AND failed_at < $6))"),
        *scope.args(), start, end)
    return _bank(rows, start, end)


async def bank_movements_named(conn: asyncpg.Connection, scope: Scope, *,
                               refs: list[str]) -> list[Movement]:
    """Paid payouts over the rail that one of `refs` names, whenever they were paid."""
    if not refs:
        return []
    rows = await conn.fetch(_BANK.format(
        where="(payout_id = ANY($5::text[]) OR rail_reference = ANY($5::text[]))"),
        *scope.args(), refs)
    return _bank(rows, None, None)


# Imports -------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewImport:
    company_id: int
    merchant_id: int
    livemode: bool
    source: str
    format: str
    rail: str | None
    sha256: str
    filename: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class ImportRecord:
    pk: int
    import_id: str
    company_id: int
    merchant_id: int
    livemode: bool
    source: str
    format: str
    rail: str | None
    sha256: str
    filename: str | None
    line_count: int
    period_start: date
    period_end: date
    counts: dict[str, int]
    resolved: int
    totals: dict[str, dict[str, str]]
    created_by: str
    created_at: datetime

    @property
    def exceptions(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != "matched")


@dataclass(frozen=True)
class ExceptionRecord:
    exception_id: str
    kind: str
    line_number: int | None
    references: tuple[str, ...]
    currency: str
    file_amount: int | None
    ledger_amount: int | None
    file_date: date | None
    ledger_date: date | None
    movement_id: str | None
    movement_type: str | None
    description: str
    resolution_note: str | None
    resolved_by: str | None
    resolved_at: datetime | None


_COUNTS = ("matched", "missing_from_ledger", "missing_from_file", "amount_mismatch",
           "date_mismatch")


def _import(row: asyncpg.Record) -> ImportRecord:
    return ImportRecord(
        row["id"], row["import_id"], row["company_id"], row["merchant_id"], row["livemode"],
        row["source"], row["format"], row["rail"], row["file_sha256"], row["filename"],
        row["line_count"], row["period_start"], row["period_end"],
        {k: row[k] for k in _COUNTS}, row["resolved"], row["totals"], row["created_by"],
        row["created_at"])


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _exception(row: asyncpg.Record) -> ExceptionRecord:
    return ExceptionRecord(
        row["exception_id"], row["kind"], row["line_number"], tuple(row["refs"]),
        row["currency"], _int(row["file_amount"]), _int(row["ledger_amount"]),
        row["file_date"], row["ledger_date"], row["movement_id"], row["movement_type"],
        row["description"], row["resolution_note"], row["resolved_by"], row["resolved_at"])


async def import_by_file(conn: asyncpg.Connection, *, merchant_id: int, livemode: bool,
                         sha256: str) -> ImportRecord | None:
    row = await conn.fetchrow(
        """SELECT * FROM reconciliation_imports
            WHERE merchant_id = $1 AND livemode = $2 AND file_sha256 = $3""",
        merchant_id, livemode, sha256)
    return _import(row) if row else None


_EXCEPTION_COLUMNS = ("exception_id", "import_pk", "kind", "line_number", "refs", "currency",
                      "file_amount", "ledger_amount", "file_date", "ledger_date",
                      "movement_id", "movement_type", "description")


async def insert_import(conn: asyncpg.Connection, new: NewImport,
                        result: Result) -> tuple[ImportRecord, bool]:
    """The import and its exceptions (one COPY), in one transaction; (it, True), or the
    import of the same file made before (it, False): the same file is one import."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO reconciliation_imports (
                   import_id, company_id, merchant_id, livemode, source, format, rail,
                   file_sha256, filename, line_count, period_start, period_end, matched,
                   missing_from_ledger, missing_from_file, amount_mismatch, date_mismatch,
                   totals, created_by, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                       $16, $17, $18, $19, $20)
               ON CONFLICT ON CONSTRAINT reconciliation_imports_once DO NOTHING
               RETURNING *""",
            domain.new_id("rci"), new.company_id, new.merchant_id, new.livemode, new.source,
            new.format, new.rail, new.sha256, new.filename, result.line_count,
            result.period_start, result.period_end,
            *(result.counts.get(k, 0) for k in _COUNTS),
            {c: {"credits": str(t.credits), "debits": str(t.debits)}
             for c, t in result.totals.items()},
            new.created_by, new.created_at)
        if row is None:
            existing = await import_by_file(conn, merchant_id=new.merchant_id,
                                            livemode=new.livemode, sha256=new.sha256)
            if existing is None:  # cannot be: the conflict was on that very key
                raise RuntimeError("reconciliation import conflict without a row")
            return existing, False
        if result.discrepancies:
            await conn.copy_records_to_table(
                "reconciliation_exceptions", columns=_EXCEPTION_COLUMNS,
                records=(_record(row["id"], d) for d in result.discrepancies))
    return _import(row), True


def _record(import_pk: int, d: Discrepancy) -> tuple:
    return (domain.new_id("rcx"), import_pk, d.kind, d.line_number, list(d.references),
            d.currency, d.file_amount, d.ledger_amount, d.file_date, d.ledger_date,
            d.movement_id, d.movement_type, d.description)


def _scope(where: list[str], args: list[object], *, company_id: int | None,
           merchant_id: int | None, livemode: bool) -> None:
    args.append(livemode)
    where.append(f"livemode = ${len(args)}")
    for column, value in (("company_id", company_id), ("merchant_id", merchant_id)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")


async def get_import(conn: asyncpg.Connection, import_id: str, *, company_id: int | None,
                     merchant_id: int | None, livemode: bool) -> ImportRecord | None:
    where: list[str] = ["import_id = $1"]
    args: list[object] = [import_id]
    _scope(where, args, company_id=company_id, merchant_id=merchant_id, livemode=livemode)
    row = await conn.fetchrow(
        f"SELECT * FROM reconciliation_imports WHERE {' AND '.join(where)}", *args)
    return _import(row) if row else None


async def list_imports(conn: asyncpg.Connection, *, company_id: int | None,
                       merchant_id: int | None, livemode: bool, source: str | None,
                       limit: int, offset: int) -> tuple[list[ImportRecord], int, bool]:
    """(a page newest first, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where: list[str] = []
    args: list[object] = []
    _scope(where, args, company_id=company_id, merchant_id=merchant_id, livemode=livemode)
    if source is not None:
        args.append(source)
        where.append(f"source = ${len(args)}")
    sql = f"FROM reconciliation_imports WHERE {' AND '.join(where)}"
    newest_first = "ORDER BY created_at DESC, id DESC"
    async with snapshot(conn):
        total, estimated = await bounded_total(conn, sql, *args, order_by=newest_first)
        rows = await conn.fetch(f"SELECT * {sql} {newest_first} "
                                f"LIMIT {int(limit)} OFFSET {int(offset)}", *args)
    return [_import(r) for r in rows], total, estimated


async def list_exceptions(conn: asyncpg.Connection, import_pk: int, *, kind: str | None,
                          resolved: bool | None, limit: int,
                          offset: int) -> tuple[list[ExceptionRecord], int, bool]:
    """(a page in file order, the filter's total, whether that total is an estimate:
    shared.db.bounded_total)."""
    where: list[str] = ["import_pk = $1"]
    args: list[object] = [import_pk]
    if kind is not None:
        args.append(kind)
        where.append(f"kind = ${len(args)}")
    if resolved is not None:
        where.append("resolved_at IS NOT NULL" if resolved else "resolved_at IS NULL")
    sql = f"FROM reconciliation_exceptions WHERE {' AND '.join(where)}"
    in_file_order = "ORDER BY line_number NULLS LAST, id"
    async with snapshot(conn):
        total, estimated = await bounded_total(conn, sql, *args, order_by=in_file_order)
        rows = await conn.fetch(f"SELECT * {sql} {in_file_order} "
                                f"LIMIT {int(limit)} OFFSET {int(offset)}", *args)
    return [_exception(r) for r in rows], total, estimated


async def resolve_exception(conn: asyncpg.Connection, import_pk: int, exception_id: str, *,
                            note: str, by: str,
                            at: datetime) -> tuple[ExceptionRecord | None, bool]:
    """(the exception, True) once resolved now; (it, False) when it already was;
    (None, False) when the import has no such exception."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE reconciliation_exceptions
                  SET resolution_note = $3, resolved_by = $4, resolved_at = $5
                WHERE import_pk = $1 AND exception_id = $2 AND resolved_at IS NULL
            RETURNING *""", import_pk, exception_id, note, by, at)
        if row is not None:
            await conn.execute("UPDATE reconciliation_imports SET resolved = resolved + 1 "
                               "WHERE id = $1", import_pk)
            return _exception(row), True
    row = await conn.fetchrow("""SELECT * FROM reconciliation_exceptions
                                  WHERE import_pk = $1 AND exception_id = $2""",
                              import_pk, exception_id)
    return (_exception(row) if row else None), False
