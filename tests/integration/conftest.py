from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from shared.db import apply_migrations, create_pool, discover

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


async def migrate(settings, service: str) -> None:
    """Apply `service`'s migrations (as its role), as the service does when it starts."""
    conn = await asyncpg.connect(settings.dsn_of(service))
    try:
        await apply_migrations(conn, service, discover(SERVICES_DIR / service / "migrations"))
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def billing_pool(settings):
    """A pool as the billing role, migrations applied, plus a table for test effects."""
    await migrate(settings, "billing")
    conn = await asyncpg.connect(settings.dsn_of("billing"))
    try:
        await conn.execute("""CREATE TABLE IF NOT EXISTS billing.test_effects (
                                  id bigserial PRIMARY KEY, key text NOT NULL,
                                  event_id uuid NOT NULL)""")
    finally:
        await conn.close()
    pool = await create_pool(settings.dsn_of("billing"), schema="billing",
                             application_name="norgate-tests")
    yield pool
    await pool.close()


@pytest.fixture
async def notifier_pool(settings):
    """A pool as the notifier role, its migrations applied."""
    await migrate(settings, "notifier")
    pool = await create_pool(settings.dsn_of("notifier"), schema="notifier",
                             application_name="tests")
    yield pool
    await pool.close()
