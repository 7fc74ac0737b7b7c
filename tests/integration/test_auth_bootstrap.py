"""The first SUPER user comes from NORGATE_BOOTSTRAP_SUPER_* at start-up, exactly once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import asyncpg

from services.auth.app import build_spec
from services.auth.passwords import verify_password
from shared.http.app import create_app
from tests.conftest import serve


async def test_replicas_starting_together_create_exactly_one_bootstrap_super(settings):
    async with AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(serve(create_app(settings,
                                                                          build_spec(settings))))
                               for _ in range(3)))
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        # Other tests add SUPER users of their own; the bootstrap one has its e-mail.
        rows = await conn.fetch("SELECT email, enabled, password_hash FROM users "
                                "WHERE role = 'SUPER' AND lower(email) = lower($1)",
                                settings.bootstrap_super_email)
    finally:
        await conn.close()
    assert [(r["email"], r["enabled"]) for r in rows] == [(settings.bootstrap_super_email, True)]
    assert await verify_password(rows[0]["password_hash"],
                                 settings.bootstrap_super_password.get_secret_value())
