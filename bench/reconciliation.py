"""Reconciliation import of a large settlement file (issue 20: 100,000 lines in < 30 s).

`bench_import` seeds N/2 test-mode payments with their fees (N balance movements, one
statement) for a merchant of its own, fetches that day's sandbox settlement file from
the billing service (N lines), uploads it to POST /api/v2/reconciliation/imports and
times each step. It talks to billing directly, with a principal signed for billing:
the gateway's body limit (NORGATE_MAX_BODY_BYTES, 1 MiB) is far below such a file.

    result = await bench_import(session, billing_url, settings, billing_pool, lines=100_000)
    # {"lines": 100000, "seed_s": ..., "file_s": ..., "import_s": ..., "matched": 100000, ...}
"""

from __future__ import annotations

import io
import secrets
import time
from datetime import UTC, date, datetime, timedelta

import aiohttp
import asyncpg

from shared.principal import HEADER, Principal, sign
from shared.settings import Settings

TARGET_SECONDS = 30.0
RAIL = "ECOCASH"


async def seed_payments(pool: asyncpg.Pool, *, company_id: int, merchant_id: int, day: date,
                        payments: int, rail: str = RAIL, livemode: bool = False) -> None:
    """`payments` completed payments of `day` on `rail` and their fees, as balance
    movements (one INSERT of 2 x payments rows)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    tag = secrets.token_hex(4)
    ids, types, sources, amounts, traces, refs, texts, ats = [], [], [], [], [], [], [], []
    for n in range(payments):
        pay = f"pay_{tag}{n:012d}"
        at = start + timedelta(microseconds=n * (86_400_000_000 // max(payments, 1)))
        trace = f"{tag}{n:024x}"[:32]
        trace = f"{trace[:8]}-{trace[8:12]}-{trace[12:16]}-{trace[16:20]}-{trace[20:]}"
        for kind, amount, text in (("payment", 1000 + n % 9000, f"Payment {pay}"),
                                   ("fee", -(30 + n % 50), "Processing fee")):
            ids.append(f"btx_{kind[0]}{tag}{n:012d}")
            types.append(kind)
            sources.append(pay)
            amounts.append(amount)
            traces.append(trace)
            refs.append(f"EC{tag}{n:010d}")
            texts.append(text)
            ats.append(at)
    await pool.execute(
        """INSERT INTO balance_transactions (balance_transaction_id, company_id, merchant_id,
               livemode, currency, type, source_id, amount, description, available_on,
               released, rail, trace, rail_reference, created_at)
           SELECT id, $9, $10, $11, 'USD', type, source, amount, text,
                  at + interval '2 days', false, $12, trace, ref, at
             FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[], $5::text[],
                         $6::text[], $7::text[], $8::timestamptz[])
                  AS t(id, type, source, amount, trace, ref, text, at)""",
        ids, types, sources, amounts, traces, refs, texts, ats, company_id, merchant_id,
        livemode, rail)


async def bench_import(session: aiohttp.ClientSession, billing_url: str, settings: Settings,
                       pool: asyncpg.Pool, *, lines: int = 100_000,
                       day: date = date(2026, 1, 15)) -> dict:
    """Seed `lines` movements, fetch their sandbox settlement file and import it; the
    seconds of each step and the import's summary."""
    company_id = 9_000_000_000 + secrets.randbelow(10**9)
    merchant_id = 9_000_000_000 + secrets.randbelow(10**9)
    who = Principal(kind="user", subject="bench", role="MERCHANT", company_id=str(company_id),
                    merchant_id=str(merchant_id))
    headers = {HEADER: sign(who, settings, audience="billing")}
    started = time.perf_counter()
    await seed_payments(pool, company_id=company_id, merchant_id=merchant_id, day=day,
                        payments=lines // 2)
    seeded = time.perf_counter()
    async with session.get(f"{billing_url}/api/v2/reconciliation/sandbox-files",
                           params={"rail": RAIL, "date": day.isoformat()},
                           headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"sandbox file: {resp.status} {await resp.text()}")
        data = await resp.read()
    fetched = time.perf_counter()
    form = aiohttp.FormData()
    form.add_field("source", "processor")
    form.add_field("format", "sandbox")
    form.add_field("rail", RAIL)
    form.add_field("file", io.BytesIO(data), filename=f"settlement-{RAIL}-{day}.csv",
                   content_type="text/csv")
    async with session.post(f"{billing_url}/api/v2/reconciliation/imports", data=form,
                            headers=headers) as resp:
        body = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"import: {resp.status} {body}")
    imported = time.perf_counter()
    result = body["result"]
    import_s = imported - fetched
    return {"lines": result["lineCount"], "bytes": len(data),
            "seed_s": round(seeded - started, 3), "file_s": round(fetched - seeded, 3),
            "import_s": round(import_s, 3), "matched": result["summary"]["matched"],
            "exceptions": result["summary"]["exceptions"], "importId": result["importId"],
            "target_s": TARGET_SECONDS, "met": import_s < TARGET_SECONDS}
