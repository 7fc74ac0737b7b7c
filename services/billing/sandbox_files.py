"""The files the sandbox rails and the sandbox bank write for a merchant (test mode): a
rail's daily settlement file and the bank's daily camt.053 statement, made from the
ledger's own movements, so that payments -> file -> import is 100 % matched and an
edited file shows exactly its edits (GET /api/v2/reconciliation/sandbox-files)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from services.billing import reconciliation_formats as formats
from services.billing import reconciliation_store as store


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of a UTC day."""
    start = datetime.combine(day, time(0), UTC)
    return start, start + timedelta(days=1)


async def settlement_file(conn: asyncpg.Connection, *, company_id: int | None,
                          merchant_id: int, rail: str, day: date) -> AsyncIterator[bytes]:
    """The rail's settlement file of `day`, every test-mode movement it carried, in
    pieces as the movements are read (a busy day's file is never held whole)."""
    start, end = day_bounds(day)
    header = True
    async for batch in store.processor_batches(
            conn, store.Scope(company_id, merchant_id, False, rail), start=start, end=end):
        for chunk in formats.sandbox_chunks(batch, rail=rail, header=header):
            yield chunk.encode()
        header = False
    if header:  # a day without movements: the header alone
        yield "".join(formats.sandbox_chunks((), rail=rail, header=True)).encode()


async def bank_statement(conn: asyncpg.Connection, *, company_id: int | None,
                         merchant_id: int, rail: str, day: date) -> bytes:
    """The sandbox bank's camt.053 of `day` for the merchant's account: test-mode payouts
    over `rail` paid (or returned) that day. Made as at the day's end, so one day's
    statement is the same file each time it is fetched (and one import)."""
    start, end = day_bounds(day)
    movements = await store.bank_movements(
        conn, store.Scope(company_id, merchant_id, False, rail), start=start, end=end)
    return formats.write_camt053(
        movements, day=day, account=f"SANDBOX-{merchant_id}",
        message_id=f"NRGSBX{merchant_id}{day:%Y%m%d}",
        created_at=end - timedelta(seconds=1))
