"""Auth: companies, users, sessions, merchants, API keys and apps (schema auth)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.auth import (
    api,
    apps_api,
    housekeeping,
    internal_api,
    keys_api,
    merchants_api,
    sessions_api,
    store,
    users_api,
)
from services.auth.context import KEYRING, SECRETS
from services.auth.passwords import hash_password
from services.auth.tokens import KeyRing
from shared.aio import cancel_and_wait, every
from shared.crypto import SecretBox, random_secret
from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY, ServiceSpec
from shared.http.middleware import SETTINGS
from shared.http.routes import Routes
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)
ROTATION_CHECK_SECONDS = 3600

API_MODULES = [api, sessions_api, users_api, merchants_api, keys_api, apps_api, internal_api]
ROUTES = Routes(*(module.ROUTES for module in API_MODULES))


async def keys_ctx(app: web.Application) -> AsyncIterator[None]:
    """The signing-key ring (a current key guaranteed) and its hourly rotation check."""
    settings: Settings = app[SETTINGS]
    app[SECRETS] = SecretBox(settings, "account-secrets")
    ring = KeyRing(app[POOL], settings)
    await ring.ensure_current()
    app[KEYRING] = ring

    task = every(ROTATION_CHECK_SECONDS, ring.ensure_current, name="signing-key-rotation")
    yield
    await cancel_and_wait(task)


async def ensure_bootstrap_super(app: web.Application) -> None:
    """Create the first SUPER from NORGATE_BOOTSTRAP_SUPER_* when there is none.

    Under an advisory lock, so replicas starting together create exactly one. Once a
    SUPER exists the password is not needed (an operator may drop it from the Secret);
    before, auth without one stops with exit code 2 naming the variable, as for a bad
    setting: running on would leave a platform nobody can ever administer (only a
    SUPER makes SUPER users), found out long after the deployment.
    """
    settings: Settings = app[SETTINGS]
    email = settings.bootstrap_super_email
    async with UnitOfWork(app[POOL], producer="auth", relay=app.get(RELAY)) as uow:
        await uow.conn.execute("SELECT pg_advisory_xact_lock(hashtext('auth-bootstrap-super'))")
        if await store.super_exists(uow.conn):
            return
        if await store.email_exists(uow.conn, email):
            log.error("bootstrap_super_email_taken", email=email)
            return
        if settings.bootstrap_super_password is None:
            log.error("bootstrap_super_password_missing")
            sys.stderr.write(
                "norgate: invalid configuration\n  NORGATE_BOOTSTRAP_SUPER_PASSWORD: must be "
                "set (at least 10 characters) while no SUPER user exists: auth creates the "
                f"first one, {email}, with it (make run generates one in var/secrets.env)\n")
            raise SystemExit(2)
        password_hash = await hash_password(settings.bootstrap_super_password.get_secret_value())
        user_id = await store.create_user(
            uow.conn, role="SUPER", email=email, password_hash=password_hash,
            first_name="Super", last_name="Admin", enabled=True,
            sealed_secret=app[SECRETS].seal(random_secret()))
        uow.emit("user.created", {"userId": user_id, "role": "SUPER", "enabled": True})
    log.info("bootstrap_super_created", user_id=user_id, email=email)


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="auth", setup_routes=ROUTES.install,
                       migrations=Path(__file__).parent / "migrations",
                       docs=ROUTES.docs,
                       # Forgotten sign-in counts, past windows, used tokens.
                       cleanup_ctx=[keys_ctx, housekeeping.ctx],
                       on_ready=[ensure_bootstrap_super])
