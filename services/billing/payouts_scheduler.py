"""The payouts tick: every NORGATE_PAYOUT_TICK_SECONDS, `tick(app)`

  1. releases the movements whose settlement day has come (pending -> available);
  2. makes the automatic payouts of the schedules that are due;
  3. sends pending payouts past their hold to their rail;
  4. asks the rail about payouts in transit with no answer for too long.

Safe with several replicas, as the renewal scheduler is: a round runs only while it
holds a session advisory lock (another replica skips that round), rows are taken with
FOR UPDATE SKIP LOCKED, and an automatic payout's run key is unique, so a run pays
once whatever happens around it.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.billing import payouts
from services.billing.context import CLOCK
from shared.http.app import POOL

LOCK_KEY = 0x6E67_706F_7574  # "ngpout": one payouts round at a time across replicas


async def tick(app: web.Application, now: datetime | None = None) -> dict[str, int] | None:
    """One round and what it did; None when another replica holds the lock."""
    now = now or app[CLOCK].now()
    async with app[POOL].acquire() as lock_conn:
        if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            return None
        try:
            return {"released": await payouts.release_due(app, now),
                    "scheduled": await payouts.run_schedules(app, now),
                    "submitted": await payouts.submit_due(app, now),
                    "asked": await payouts.ask_unanswered(app, now)}
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
