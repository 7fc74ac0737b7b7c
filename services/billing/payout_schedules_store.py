"""SQL of payout schedules (table payout_schedules, migration 0005): one row per
merchant, shared by its two modes. A merchant without a row has the defaults
(PayoutSchedule()) and no automatic run until its first settlement account is added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.billing.payout_schedule import PayoutSchedule


@dataclass(frozen=True)
class StoredSchedule:
    merchant_id: int
    company_id: int
    schedule: PayoutSchedule
    next_run_at: datetime | None
    updated_at: datetime


def _stored(row: asyncpg.Record) -> StoredSchedule:
    return StoredSchedule(
        merchant_id=row["merchant_id"], company_id=row["company_id"],
        schedule=PayoutSchedule(
            interval=row["interval"], weekly_anchor=row["weekly_anchor"],
            monthly_anchor=row["monthly_anchor"], delay_days=row["delay_days"],
            minimum_amount=int(row["minimum_amount"])),
        next_run_at=row["next_run_at"], updated_at=row["updated_at"])


async def stored(conn: asyncpg.Connection, merchant_id: int) -> StoredSchedule | None:
    """The merchant's schedule with its next run, or None when it has no row."""
    row = await conn.fetchrow("SELECT * FROM payout_schedules WHERE merchant_id = $1",
                              merchant_id)
    return None if row is None else _stored(row)


async def get(conn: asyncpg.Connection, merchant_id: int) -> PayoutSchedule | None:
    found = await stored(conn, merchant_id)
    return None if found is None else found.schedule


async def put(conn: asyncpg.Connection, *, company_id: int, merchant_id: int,
              schedule: PayoutSchedule, next_run_at: datetime | None,
              now: datetime) -> StoredSchedule:
    row = await conn.fetchrow(
        """INSERT INTO payout_schedules (merchant_id, company_id, interval, weekly_anchor,
               monthly_anchor, delay_days, minimum_amount, next_run_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (merchant_id) DO UPDATE SET
               interval = EXCLUDED.interval, weekly_anchor = EXCLUDED.weekly_anchor,
               monthly_anchor = EXCLUDED.monthly_anchor, delay_days = EXCLUDED.delay_days,
               minimum_amount = EXCLUDED.minimum_amount, next_run_at = EXCLUDED.next_run_at,
               updated_at = EXCLUDED.updated_at
           RETURNING *""",
        merchant_id, company_id, schedule.interval, schedule.weekly_anchor,
        schedule.monthly_anchor, schedule.delay_days, schedule.minimum_amount, next_run_at,
        now)
    return _stored(row)


async def ensure_default(conn: asyncpg.Connection, *, company_id: int, merchant_id: int,
                         next_run_at: datetime | None, now: datetime) -> bool:
    """Give the merchant the default schedule unless it has one; whether it was added."""
    default = PayoutSchedule()
    status = await conn.execute(
        """INSERT INTO payout_schedules (merchant_id, company_id, interval, weekly_anchor,
               monthly_anchor, delay_days, minimum_amount, next_run_at, updated_at)
           VALUES ($1, $2, $3, NULL, NULL, $4, $5, $6, $7)
           ON CONFLICT (merchant_id) DO NOTHING""",
        merchant_id, company_id, default.interval, default.delay_days,
        default.minimum_amount, next_run_at, now)
    return status == "INSERT 0 1"
