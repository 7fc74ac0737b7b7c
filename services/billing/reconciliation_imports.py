"""The reconciliation import, one use case: parse a settlement file or bank statement,
match it against the ledger's movements in its scope, and keep the import with its
exceptions (docs/payouts.md). The same file again is the same import."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime

import asyncpg

from services.billing import reconciliation as recon
from services.billing import reconciliation_formats as formats
from services.billing import reconciliation_store as store
from services.billing import sandbox_files
from shared.http.errors import ApiError, Errors


def _bad_file(exc: formats.FormatError) -> ApiError:
    return ApiError(Errors.VALIDATION, field=exc.field, detail=str(exc),
                    details=[{"line": exc.line, "field": exc.field, "message": exc.problem}])


async def import_file(pool: asyncpg.Pool, *, company_id: int, merchant_id: int,
                      livemode: bool, source: str, fmt: str, rail: str, data: bytes,
                      filename: str | None, created_by: str,
                      at: datetime) -> tuple[store.ImportRecord, bool]:
    """Parse, match and keep one file: (the import, True), or the earlier import of the
    same file (it, False). A file that does not parse is a 400 and leaves nothing."""
    sha256 = hashlib.sha256(data).hexdigest()
    async with pool.acquire() as conn:
        existing = await store.import_by_file(conn, merchant_id=merchant_id,
                                              livemode=livemode, sha256=sha256)
    if existing is not None:
        return existing, False
    try:
        # Off the event loop: a 100,000-line file is a second or two of parsing.
        lines = await asyncio.to_thread(formats.parse, fmt, data,
                                        rail=rail if fmt == "sandbox" else None)
    except formats.FormatError as exc:
        raise _bad_file(exc) from None
    if not lines:
        raise ApiError(Errors.VALIDATION, field="file",
                       detail="file: it has no lines (entries) to reconcile")
    first, last = recon.period(lines)
    start, _ = sandbox_files.day_bounds(first)
    _, end = sandbox_files.day_bounds(last)
    scope = store.Scope(company_id, merchant_id, livemode, rail)
    async with pool.acquire() as conn:
        if source == "processor":
            movements = await store.processor_movements(conn, scope, start=start, end=end)
        else:
            movements = await store.bank_movements(conn, scope, start=start, end=end)
        # A line whose movement lies outside the file's days: a date mismatch to report,
        # not a line missing from the ledger.
        unknown = sorted(recon.unknown_references(lines, movements))
        if source == "processor":
            nearby = await store.processor_movements_named(conn, scope, refs=unknown,
                                                           start=start, end=end)
        else:
            nearby = await store.bank_movements_named(conn, scope, refs=unknown)
    result = await asyncio.to_thread(recon.reconcile, lines, movements, source=source,
                                     nearby=nearby)
    new = store.NewImport(company_id, merchant_id, livemode, source, fmt, rail, sha256,
                          filename, created_by, at)
    async with pool.acquire() as conn:
        return await store.insert_import(conn, new, result)
