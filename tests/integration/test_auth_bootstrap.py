"""The first SUPER user comes from NORGATE_BOOTSTRAP_SUPER_* at start-up, exactly once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import asyncpg
import pytest
from aiohttp import web

from services.auth.app import build_spec
from services.auth.passwords import verify_password
from shared.http.app import create_app
from tests.conftest import serve
from tests.support.auth import make_super


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


async def test_once_a_super_exists_auth_needs_no_bootstrap_password(settings):
    async with serve(create_app(settings, build_spec(settings))):
        pass  # its migrations applied, and the bootstrap SUPER made if none was
    await make_super(settings)  # a SUPER in any case
    s = settings.model_copy(update={"bootstrap_super_password": None})
    async with serve(create_app(s, build_spec(s))) as auth:
        assert (await auth.get("/healthz")).status == 200


async def test_without_a_password_and_no_super_auth_stops_naming_the_variable(settings,
                                                                              capsys):
    """No SUPER can ever be made then (only a SUPER makes SUPER users): stop as for a bad
    setting, exit code 2 and the variable named, rather than an AttributeError."""
    from deploy.provision import drop, provision

    s = settings.model_copy(update={"database_url": settings.database_url + "_nosuper",
                                    "bootstrap_super_password": None})
    await provision(s)
    try:
        # As the service runs it (shared/http/app.py _serve): what started is cleaned up.
        runner = web.AppRunner(create_app(s, build_spec(s)), handle_signals=False)
        try:
            with pytest.raises(SystemExit) as exc:
                await runner.setup()
        finally:
            await runner.cleanup()
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "NORGATE_BOOTSTRAP_SUPER_PASSWORD" in err and "Traceback" not in err
        conn = await asyncpg.connect(s.dsn_of("auth"))
        try:
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
        finally:
            await conn.close()
    finally:
        await drop(s)
