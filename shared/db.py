"""PostgreSQL access: the pool factory and the migration runner.

Each service connects as its own role with `search_path` set to its own
schema, so service SQL never names a schema and cannot reach another's tables.
Migrations are plain SQL files applied in order under an advisory lock, so
several replicas starting at once apply each file exactly once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg

from shared import jsontext
from shared.logging import get_logger

log = get_logger(__name__)

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
R = TypeVar("R")


class MigrationError(RuntimeError):
    pass


def quote_ident(name: str) -> str:
    """Quote an identifier for DDL, which cannot take bind parameters.

    Only names matching a strict pattern are accepted, so nothing a user typed
    can reach DDL through here.
    """
    if not _IDENT.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


_GONE = (asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError,
         asyncpg.AdminShutdownError, asyncpg.ConnectionFailureError,
         asyncpg.TooManyConnectionsError, ConnectionRefusedError, ConnectionResetError)


def database_gone(exc: BaseException) -> bool:
    """PostgreSQL restarting or unreachable (what a request answers with a 503): the
    statement may not have run, or its connection died before its answer came."""
    return isinstance(exc, _GONE) or (
        isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)) or (
        # A pooled connection that PostgreSQL's shutdown cut mid-operation, handed out
        # again before asyncpg noticed (seen once in 3,103 creates of make chaos).
        isinstance(exc, asyncpg.InternalClientError) and "in progress" in str(exc))


def json_text(value: object) -> str:
    """JSON text for a json/jsonb parameter, numbers exactly as sent (shared.jsontext)."""
    return jsontext.dumps(value).decode()


@asynccontextmanager
async def snapshot(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """One snapshot for several reads (a page and its total count): a read-only
    REPEATABLE READ transaction. Two statements in autocommit each see what was committed
    when they started, so a commit between them gives a page that disagrees with its
    total. Inside a transaction already, the reads simply join it."""
    if conn.is_in_transaction():
        yield
        return
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        yield


@asynccontextmanager
async def walks_in_index_order(conn: asyncpg.Connection,
                               needed: bool = True) -> AsyncIterator[None]:
    """For statements that walk one index slice per owner in a LATERAL (each named
    merchant, each endpoint): the planner costs every owner as an average one (it plans
    once for them all), so for a LIMIT above that average it would read a big owner's
    every row and sort them. Without sorts, it walks each owner's slice in the index's
    order and stops at the LIMIT. JIT off
    too: it compiles for the cost a disabled sort is given (a third of a second), not for
    the rows read. Local to the transaction, and put back for a caller whose
    transaction goes on."""
    if not needed:
        yield
        return
    # The fenced subquery reads the settings before the outer select changes them.
    before = await conn.fetchrow(
        "SELECT b.sort, b.jit, set_config('enable_sort', 'off', true),"
        " set_config('jit', 'off', true) FROM (SELECT current_setting('enable_sort') AS"
        " sort, current_setting('jit') AS jit OFFSET 0) AS b")
    yield
    # Not after an error: the transaction is aborted, and its settings go with it.
    await conn.fetchrow("SELECT set_config('enable_sort', $1, true),"
                        " set_config('jit', $2, true)", before["sort"], before["jit"])


# A list's total is counted exactly up to this many rows (a count that stops there reads
# a bounded slice of an index); past it, it is the planner's estimate and says so
# (`totalIsEstimate`), so no page costs a scan of the merchant's history. A thousand,
# not ten thousand: a busy merchant's newest rows are its most recently written, whose
# heap pages are not yet all-visible, so each counted row is a heap visit, and counting
# 10,001 of them was most of a first page's time at a million payments (7.7 of 8.2 ms).
EXACT_TOTAL_UP_TO = 1_000


async def bounded_total(conn: asyncpg.Connection, rows: str, *args: object,
                        order_by: str = "", estimate: str | None = None) -> tuple[int, bool]:
    """(total, is an estimate) of `rows` ("FROM … WHERE …"): counted while at most
    EXACT_TOTAL_UP_TO, else the planner's estimate (at least EXACT_TOTAL_UP_TO + 1).
    `order_by` is the list's own order, so the count walks the list's index and stops
    one past the bound; `estimate` ("FROM …", planned, never run) is what to estimate
    when `rows` bounds itself."""
    cap = EXACT_TOTAL_UP_TO + 1
    counted = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 {rows} {order_by} LIMIT {cap}) AS counted", *args)
    if counted <= EXACT_TOTAL_UP_TO:
        return int(counted), False
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 {estimate or rows}", *args)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(int(plan[0]["Plan"]["Plan Rows"]), cap), True


@dataclass(frozen=True)
class Position:
    """A row's place in a keyset-paged list: its first ordering key (created_at, or a
    number such as a sequence or a transaction's row id), then its id
    (shared.http.pagination makes and reads the cursors that carry it)."""

    key: datetime | int
    id: int


@dataclass(frozen=True)
class KeyPage(Generic[R]):
    """One page a store read for a keyset-paged list: its rows, the whole filter's total
    (bounded_total: whether that is the planner's estimate), and the last row's position
    when more rows follow (the next page's cursor)."""

    rows: list[R]
    total: int
    total_is_estimate: bool
    last: Position | None


def keyset_after(args: list[Any], columns: str, after: Position | None, *,
                 descending: bool = True) -> str:
    """The condition that starts a page after `after` in the order of `columns` (two,
    such as "created_at, id", compared as a row; or one, such as "seq", compared with
    the position's key), its values appended to `args`; "true" without one. The list's
    index on those columns starts the scan there."""
    if after is None:
        return "true"
    op = "<" if descending else ">"
    if "," not in columns:
        args.append(after.key)
        return f"{columns} {op} ${len(args)}"
    args += [after.key, after.id]
    return f"({columns}) {op} (${len(args) - 1}, ${len(args)})"


def last_of(rows: list[R], limit: int, position: Callable[[R], Position]
            ) -> tuple[list[R], Position | None]:
    """A page read with `limit + 1` rows: (its rows, the last one's position when more
    follow, for the next page's cursor)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, position(rows[-1]) if rows else None


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ, schema="pg_catalog", encoder=json_text,
            decoder=jsontext.loads, format="text",
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook. asyncpg still rolls back a transaction left open; this skips
    its default reset query (UNLISTEN, RESET ALL, CLOSE ALL, advisory unlock), one
    more round trip per acquire. Pooled connections hold no session state: nothing
    pooled LISTENs, SETs without LOCAL or keeps cursors, and the one session advisory
    lock (billing's scheduler) is released in its own `finally` (the migration
    runner's is on a connection of its own)."""


async def create_pool(dsn: str, *, schema: str, application_name: str,
                      min_size: int = 1, max_size: int = 10,
                      custom_plans: bool = False) -> asyncpg.Pool:
    """`custom_plans`: every execution of a prepared statement is planned for its own
    arguments and the tables as they are now (`plan_cache_mode = force_custom_plan`).
    PostgreSQL otherwise settles on a generic plan after five executions, made with the
    statistics of that moment; a batch statement joining an array of keys to a table
    that was small then keeps scanning the whole table as it grows, until the table is
    analyzed again (never, where autovacuum is off). Planning each time costs a little
    per statement; a service whose hot statements cannot be written plan-proof (the
    notifier's updates of many deliveries) takes it."""
    quote_ident(schema)
    settings = {"search_path": schema, "application_name": application_name}
    if custom_plans:
        settings["plan_cache_mode"] = "force_custom_plan"
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        reset=_keep_session, server_settings=settings, command_timeout=30,
    )


@dataclass(frozen=True)
class Migration:
    version: str  # "shared/0001_outbox" or "0001_init"
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(service_dir: Path) -> list[Migration]:
    """Shared migrations (outbox, inbox) first, then the service's own, each in order."""
    found: list[Migration] = []
    for prefix, folder in (("shared/", SHARED_MIGRATIONS), ("", service_dir)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.sql")):
            if not _MIGRATION_NAME.match(path.name):
                raise MigrationError(f"migration file name must be NNNN_name.sql: {path}")
            found.append(Migration(prefix + path.stem, path))
    return found


async def apply_migrations(conn: asyncpg.Connection, schema: str,
                           migrations: list[Migration]) -> list[str]:
    """Apply pending migrations to `schema`; returns the versions applied now.

    A file whose content changed after it was applied stops start-up: editing
    history silently would leave replicas with different schemas.
    """
    lock_key = int.from_bytes(hashlib.sha256(f"norgate-migrate:{schema}".encode())
                              .digest()[:8], "big", signed=True)
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        await conn.execute(f"SET search_path TO {quote_ident(schema)}")
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"]: r["checksum"]
                for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")}
        applied = []
        for m in migrations:
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise MigrationError(
                        f"migration {m.version} of schema {schema} changed after it was "
                        "applied; add a new migration instead of editing an old one")
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    m.version, m.checksum)
            applied.append(m.version)
            log.info("migration_applied", schema=schema, version=m.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
