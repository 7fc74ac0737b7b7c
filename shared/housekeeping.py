"""Housekeeping: the scheduled prunes that keep tables small (docs/housekeeping.md).

A service lists its prunes, each one table's (or one column's) rule: a store function
`batch(conn, limit)` that deletes, or clears, at most `limit` rows past their retention
in one statement and returns how many, written as

    DELETE FROM t WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM t WHERE <past its retention> LIMIT $n FOR UPDATE SKIP LOCKED))

so that a row a live request holds is skipped (taken next round) and the statement never
waits. `housekeeping_ctx` runs a service's prunes every NORGATE_HOUSEKEEPING_INTERVAL_SECONDS
in its process, each:

- under a session advisory lock of its own (per schema and prune): with several
  replicas one runs it and the others skip it that round;
- in batches of NORGATE_HOUSEKEEPING_BATCH_SIZE rows, each statement its own short
  transaction, so no statement holds many row locks or runs long;
- until a batch comes back short (nothing is left) or after `max_batches` batches, so a
  round ends even when rows arrive as fast as they go (the next round goes on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from shared.aio import being_cancelled, cancel_and_wait, every
from shared.http.app import POOL
from shared.http.middleware import SETTINGS
from shared.logging import get_logger

log = get_logger(__name__)

MAX_BATCHES = 10_000  # per prune and round: with 1,000-row batches, 10 M rows

# The schema is part of the key: two services (or two test stacks) on one database
# never hold each other's prunes back.
_LOCK = ("SELECT pg_try_advisory_lock(hashtextextended("
         "'norgate-housekeeping:' || current_schema() || ':' || $1, 0))")
_UNLOCK = ("SELECT pg_advisory_unlock(hashtextextended("
           "'norgate-housekeeping:' || current_schema() || ':' || $1, 0))")

Batch = Callable[[asyncpg.Connection, int], Awaitable[int]]


@dataclass(frozen=True)
class Prune:
    """`name`: the table (or table.column) it keeps small; unique within a service."""

    name: str
    batch: Batch


@dataclass(frozen=True)
class PruneRun:
    """What one round of a prune did. `ran` False: another replica held its lock."""

    name: str
    ran: bool
    rows: int = 0
    batches: int = 0
    done: bool = False  # its last batch came back short: nothing left past retention


def affected(status: str) -> int:
    """The row count of a DELETE or UPDATE status ("DELETE 12")."""
    return int(status.split()[-1])


async def run_prune(pool: asyncpg.Pool, prune: Prune, *, batch_size: int,
                    max_batches: int = MAX_BATCHES) -> PruneRun:
    """One round of `prune`: its batches under its lock, on one pooled connection."""
    if batch_size < 1 or max_batches < 1:
        raise ValueError("batch_size and max_batches must be at least 1")
    rows = batches = 0
    done = False
    async with pool.acquire() as conn:
        if not await conn.fetchval(_LOCK, prune.name):
            return PruneRun(prune.name, ran=False)
        try:
            while batches < max_batches:
                count = await prune.batch(conn, batch_size)
                batches += 1
                rows += count
                if count < batch_size:
                    done = True
                    break
            await conn.execute(_UNLOCK, prune.name)
        except BaseException:
            # The pool resets no session state (shared/db.py): a connection given back
            # still holding the lock would block this prune on every replica. Closed,
            # its session ends and the lock with it.
            conn.terminate()
            raise
    if rows:
        log.info("housekeeping_pruned", prune=prune.name, rows=rows, batches=batches)
    if not done:
        log.warning("housekeeping_behind", prune=prune.name, rows=rows, batches=batches)
    return PruneRun(prune.name, ran=True, rows=rows, batches=batches, done=done)


async def run_all(pool: asyncpg.Pool, prunes: Sequence[Prune], *, batch_size: int,
                  max_batches: int = MAX_BATCHES) -> list[PruneRun]:
    """One round of every prune, one after another; a failing prune is logged and the
    others still run (it runs again next round)."""
    runs: list[PruneRun] = []
    for prune in prunes:
        try:
            runs.append(await run_prune(pool, prune, batch_size=batch_size,
                                        max_batches=max_batches))
        except Exception:
            if being_cancelled():
                raise
            log.exception("housekeeping_failed", prune=prune.name)
    return runs


def housekeeping_ctx(prunes_of: Callable[[web.Application], Sequence[Prune]]
                     ) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running `prunes_of(app)` every
    NORGATE_HOUSEKEEPING_INTERVAL_SECONDS (the first round one interval after start)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        pool, prunes = app[POOL], list(prunes_of(app))

        async def round_() -> None:
            await run_all(pool, prunes, batch_size=settings.housekeeping_batch_size)

        task = every(settings.housekeeping_interval_seconds, round_, name="housekeeping")
        yield
        await cancel_and_wait(task)

    return ctx
