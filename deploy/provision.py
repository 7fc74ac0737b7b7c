"""Create the database and one role + schema per service (`python -m deploy.provision`).

Runs with NORGATE_DATABASE_URL, an administrator's DSN. Idempotent: safe to
run before every start and from several places at once. Each service gets a
LOGIN role `<database>_<service>` (password derived from NORGATE_SECRET_KEY)
that owns its schema and nothing else; PUBLIC loses CONNECT on the database
and CREATE on `public`, so a service's role cannot reach another's tables.
Migrations are not applied here: each service applies its own at start-up.

This is the one process of a split deployment that holds the master key and the
administrator DSN; the services get their role DSNs and derived keys instead
(deploy/service_secrets.py). `--local-secrets` (make) first takes whatever of the
secret key and SUPER password the environment lacks from var/secrets.env.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.db import quote_ident
from shared.secrets import MissingSecret
from shared.settings import SERVICES, Settings, load_settings

_HEX = re.compile(r"^[0-9a-f]{64}$")


def admin_dsn(settings: Settings, database: str | None = None) -> str:
    parts = urlsplit(settings.database_url)
    path = "/" + (database or settings.database_name)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _check_database_name(name: str) -> None:
    if not re.match(r"^[a-z_][a-z0-9_]{0,40}$", name):
        raise SystemExit(
            "norgate: invalid configuration\n  NORGATE_DATABASE_URL: the database name must "
            f"be lower-case letters, digits and _ (at most 41), got {name!r}")


async def create_database(settings: Settings) -> bool:
    name = settings.database_name
    _check_database_name(name)
    conn = await asyncpg.connect(admin_dsn(settings, "postgres"))
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
        except asyncpg.DuplicateDatabaseError:
            return False  # created concurrently
        return True
    finally:
        await conn.close()


async def provision(settings: Settings) -> dict[str, str]:
    """Returns {service: role}."""
    created = await create_database(settings)
    database = quote_ident(settings.database_name)
    conn = await asyncpg.connect(admin_dsn(settings))
    roles = {}
    try:
        # Role and grant DDL cannot take bind parameters; identifiers pass
        # quote_ident's strict pattern and passwords are derived hex strings.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('norgate-provision'))")
            await conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
            await conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            for service in SERVICES:
                role = settings.role_of(service)
                password = settings.role_password(service)
                assert _HEX.match(password)
                exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
                verb = "ALTER" if exists else "CREATE"
                await conn.execute(
                    f"{verb} ROLE {quote_ident(role)} LOGIN NOSUPERUSER NOCREATEDB "
                    f"NOCREATEROLE PASSWORD '{password}'")
                await conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {database} "
                                   f"TO {quote_ident(role)}")
                await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(service)} "
                                   f"AUTHORIZATION {quote_ident(role)}")
                await conn.execute(f"ALTER SCHEMA {quote_ident(service)} "
                                   f"OWNER TO {quote_ident(role)}")
                await conn.execute(f"ALTER ROLE {quote_ident(role)} "
                                   f"SET search_path = {quote_ident(service)}")
                roles[service] = role
    finally:
        await conn.close()
    print(f"norgate: database {settings.database_name} "
          f"{'created' if created else 'present'}; roles {', '.join(roles.values())}",
          file=sys.stderr)
    return roles


async def drop(settings: Settings) -> None:
    """Drop the database and its roles (used by the test suite's teardown)."""
    name = settings.database_name
    _check_database_name(name)
    conn = await asyncpg.connect(admin_dsn(settings, "postgres"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        for service in SERVICES:
            await conn.execute(f"DROP ROLE IF EXISTS {quote_ident(settings.role_of(service))}")
    finally:
        await conn.close()


async def _database_exists(settings: Settings) -> bool:
    conn = await asyncpg.connect(admin_dsn(settings, "postgres"))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                        settings.database_name))
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    fresh = False
    if args == ["--local-secrets"]:
        from deploy import local_secrets

        fresh = local_secrets.apply(os.environ).created
    elif args:
        raise SystemExit("usage: python -m deploy.provision [--local-secrets]")
    settings = load_settings()
    if settings.secret_key is None:
        raise SystemExit("norgate: NORGATE_SECRET_KEY is not set: provisioning derives the "
                         "service roles' passwords from it")
    try:
        if fresh and asyncio.run(_database_exists(settings)):
            # Made before this checkout had its own key, under another one: what its
            # services sealed (signing keys, secrets) will not open with the new key.
            print(f"norgate: warning: database {settings.database_name} predates "
                  "the generated secret key. Made with a NORGATE_SECRET_KEY of yours: set "
                  "it again. Made with the old built-in key: drop the database (dropdb) "
                  "and start afresh.", file=sys.stderr)
        asyncio.run(provision(settings))
    except MissingSecret as exc:
        raise SystemExit(str(exc)) from None
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(f"norgate: cannot provision the database at NORGATE_DATABASE_URL: "
                         f"{exc}") from None


if __name__ == "__main__":
    main()
