"""The reconciliation import, one use case: parse a settlement file or bank statement,
match it against the ledger's movements in its scope, and keep the import with its
exceptions (docs/payouts.md). The same file again is the same import.

Parsing and matching run in a child process of their own, one file at a time: a
100,000-line file costs a few hundred MB while it is matched, and that must never be
the API process's memory (nor its event loop's time)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context

import asyncpg

from services.billing import reconciliation as recon
from services.billing import reconciliation_formats as formats
from services.billing import reconciliation_store as store
from services.billing import sandbox_files
from shared.http.errors import ApiError, Errors

# The days one file may span: its scope is loaded whole to find what is missing from it,
# so two dates decades apart must not load a merchant's whole history.
MAX_PERIOD_DAYS = 93


@dataclass(frozen=True)
class Job:
    """What the matching process needs: the file, whose movements, and how to read them."""
    dsn: str
    schema: str
    company_id: int
    merchant_id: int
    livemode: bool
    source: str
    fmt: str
    rail: str
    path: str  # the uploaded file, spooled to disk by the service


@dataclass(frozen=True)
class Refused:
    """Why a file is refused (a FormatError's parts: exceptions do not cross processes
    well)."""
    detail: str
    field: str
    line: int | None = None
    problem: str | None = None


def run_job(job: Job) -> recon.Result | Refused:
    """In the matching process: parse, read the movements in scope, match."""
    return asyncio.run(_run(job))


async def _run(job: Job) -> recon.Result | Refused:
    with open(job.path, "rb") as spooled:
        data = spooled.read()
    try:
        lines = formats.parse(job.fmt, data, rail=job.rail if job.fmt == "sandbox" else None)
    except formats.FormatError as exc:
        return Refused(str(exc), exc.field, exc.line, exc.problem)
    if not lines:
        return Refused("file: it has no lines (entries) to reconcile", "file")
    first, last = recon.period(lines)
    if (last - first).days >= MAX_PERIOD_DAYS:
        return Refused(f"file: its lines span {first} to {last}; one import covers at most "
                       f"{MAX_PERIOD_DAYS} days (split the file)", "file")
    start, _ = sandbox_files.day_bounds(first)
    _, end = sandbox_files.day_bounds(last)
    scope = store.Scope(job.company_id, job.merchant_id, job.livemode, job.rail)
    conn = await asyncpg.connect(job.dsn, server_settings={
        "search_path": job.schema, "application_name": "norgate-billing-reconciliation"})
    try:
        if job.source == "processor":
            movements = await store.processor_movements(conn, scope, start=start, end=end)
        else:
            movements = await store.bank_movements(conn, scope, start=start, end=end)
        # A line whose movement lies outside the file's days: a date mismatch to report,
        # not a line missing from the ledger.
        unknown = sorted(recon.unknown_references(lines, movements))
        if job.source == "processor":
            nearby = await store.processor_movements_named(conn, scope, refs=unknown,
                                                           start=start, end=end)
        else:
            nearby = await store.bank_movements_named(conn, scope, refs=unknown)
    finally:
        await conn.close()
    return recon.reconcile(lines, movements, source=job.source, nearby=nearby)


def matcher() -> ProcessPoolExecutor:
    """The process a file is matched in, anew for each (its memory, a few hundred MB for
    100,000 lines, goes back to the system when it ends; the service stays small)."""
    return ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"),
                               max_tasks_per_child=1)


async def import_file(pool: asyncpg.Pool, executor: ProcessPoolExecutor, *, dsn: str,
                      company_id: int, merchant_id: int, livemode: bool, source: str,
                      fmt: str, rail: str, path: str, sha256: str, filename: str | None,
                      created_by: str, at: datetime) -> tuple[store.ImportRecord, bool]:
    """Parse, match and keep one file (spooled at `path`, of that SHA-256): (the import,
    True), or the earlier import of the same file (it, False). A file that does not
    parse is a 400 and leaves nothing."""
    async with pool.acquire() as conn:
        existing = await store.import_by_file(conn, merchant_id=merchant_id,
                                              livemode=livemode, sha256=sha256)
    if existing is not None:
        return existing, False
    job = Job(dsn, "billing", company_id, merchant_id, livemode, source, fmt, rail, path)
    result = await asyncio.get_running_loop().run_in_executor(executor, run_job, job)
    if isinstance(result, Refused):
        details = None if result.line is None else [
            {"line": result.line, "field": result.field, "message": result.problem}]
        raise ApiError(Errors.VALIDATION, field=result.field, detail=result.detail,
                       details=details)
    new = store.NewImport(company_id, merchant_id, livemode, source, fmt, rail, sha256,
                          filename, created_by, at)
    async with pool.acquire() as conn:
        return await store.insert_import(conn, new, result)
