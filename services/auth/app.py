"""Auth: companies, users, sign-up and e-mail confirmation (schema auth)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.auth import api, store
from services.auth.passwords import hash_password
from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY, ServiceSpec
from shared.http.middleware import SETTINGS
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)


async def ensure_bootstrap_super(app: web.Application) -> None:
    """Create the first SUPER from NORGATE_BOOTSTRAP_SUPER_* when there is none.

    Under an advisory lock, so replicas starting together create exactly one.
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
        password_hash = await hash_password(settings.bootstrap_super_password.get_secret_value())
        user_id = await store.create_super(uow.conn, email=email, password_hash=password_hash)
        uow.emit("user.created", {"userId": user_id, "role": "SUPER", "enabled": True})
    log.info("bootstrap_super_created", user_id=user_id, email=email)


def build_spec(settings: Settings) -> ServiceSpec:
    return ServiceSpec(name="auth", setup_routes=api.setup_routes,
                       migrations=Path(__file__).parent / "migrations", docs=api.DOCS,
                       on_ready=[ensure_bootstrap_super])
