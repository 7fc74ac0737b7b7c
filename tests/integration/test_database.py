"""Migrations and schema isolation against the real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.db import Migration, MigrationError, apply_migrations, discover


@pytest.fixture
def migrations_dir(tmp_path):
    (tmp_path / "0001_create.sql").write_text("CREATE TABLE widgets (id int PRIMARY KEY);")
    (tmp_path / "0002_seed.sql").write_text("INSERT INTO widgets VALUES (1), (2);")
    return tmp_path


async def test_migrations_apply_once_and_are_idempotent(settings, migrations_dir):
    conn = await asyncpg.connect(settings.dsn_of("fees"))
    try:
        first = await apply_migrations(conn, "fees", discover(migrations_dir))
        second = await apply_migrations(conn, "fees", discover(migrations_dir))
        # The shared migrations may already be there if a service started earlier.
        assert [v for v in first if not v.startswith("shared/")] == ["0001_create", "0002_seed"]
        assert second == []
        assert await conn.fetchval("SELECT count(*) FROM fees.widgets") == 2
    finally:
        await conn.close()


async def test_replicas_starting_at_once_apply_each_migration_exactly_once(settings, tmp_path):
    (tmp_path / "0001_counter.sql").write_text(
        "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);")
    migrations = discover(tmp_path)

    async def replica():
        conn = await asyncpg.connect(settings.dsn_of("checkout"))
        try:
            return await apply_migrations(conn, "checkout", migrations)
        finally:
            await conn.close()

    results = await asyncio.gather(*(replica() for _ in range(6)))
    applied = [v for r in results for v in r]
    assert applied.count("0001_counter") == 1
    assert applied.count("shared/0001_outbox_inbox") <= 1  # unless a service applied it already
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        assert await conn.fetchval("SELECT count(*) FROM checkout.counter") == 1
        assert await conn.fetchval(
            "SELECT count(*) FROM checkout.schema_migrations WHERE version = '0001_counter'") == 1
    finally:
        await conn.close()


async def test_editing_an_applied_migration_stops_start_up(settings, tmp_path):
    path = tmp_path / "0001_things.sql"
    path.write_text("CREATE TABLE things (id int);")
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        await apply_migrations(conn, "auth", [Migration("0001_things", path)])
        path.write_text("CREATE TABLE things (id bigint);")
        with pytest.raises(MigrationError, match="0001_things .* changed after it was applied"):
            await apply_migrations(conn, "auth", [Migration("0001_things", path)])
    finally:
        await conn.close()


def test_migration_files_must_be_numbered(tmp_path):
    (tmp_path / "create.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        discover(tmp_path)


async def test_a_service_role_cannot_read_another_services_schema(settings, billing_pool):
    conn = await asyncpg.connect(settings.dsn_of("notifier"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM billing.outbox")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.sneaky (id int)")
    finally:
        await conn.close()


async def test_service_role_search_path_is_its_own_schema(settings, billing_pool):
    async with billing_pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_schema()") == "billing"
        assert await conn.fetchval("SELECT current_user") == settings.role_of("billing")


async def test_a_service_role_connects_over_the_unix_socket(settings):
    """A one-machine deployment (and the benchmark) may name the server's socket
    directory instead of a host: the services' own roles connect through it."""
    from bench.stack import socket_url

    url = socket_url(settings.database_url)
    if url is None:
        pytest.skip("no local PostgreSQL socket next to NORGATE_DATABASE_URL's server")
    over_socket = settings.model_copy(update={"database_url": url})
    conn = await asyncpg.connect(over_socket.dsn_of("billing"))
    try:
        assert await conn.fetchval("SELECT current_user") == settings.role_of("billing")
        # A Unix socket has no client address.
        assert await conn.fetchval("SELECT inet_client_addr()") is None
    finally:
        await conn.close()
