"""What the auth handlers share: app keys and the unit-of-work shortcut."""

from __future__ import annotations

from aiohttp import web

from services.auth.tokens import KeyRing
from shared.crypto import SecretBox
from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY

KEYRING = web.AppKey("keyring", KeyRing)
# Seals the transaction-signing secrets of users and merchants (returned on request).
SECRETS = web.AppKey("secrets", SecretBox)


def uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="auth", relay=request.app.get(RELAY))
