"""The signed principal the gateway forwards to services.

The gateway authenticates every public request and passes who the caller is
in `X-Norgate-Principal`: a short-lived HS256 JWT keyed from NORGATE_SECRET_KEY.
Services accept identity only from a valid one; the gateway strips any such
header a client sends.
"""

from __future__ import annotations

import time
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.secrets import derive
from shared.settings import Settings

HEADER = "X-Norgate-Principal"
TTL_SECONDS = 60
_ISSUER = "norgate-internal"


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["anonymous", "user", "api_key", "service"] = "anonymous"
    subject: str | None = None  # user id, key id or service name
    role: Literal["SUPER", "ADMIN", "MERCHANT"] | None = None
    company_id: str | None = None
    merchant_id: str | None = None
    app_id: str | None = None  # an API key scoped to one app
    plan: str | None = None  # the merchant's rate-limit plan
    merchant_active: bool | None = None
    ip: str | None = None  # the client address the gateway saw

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Principal()


class InvalidPrincipal(Exception):
    pass


def _key(settings: Settings) -> str:
    return derive(settings, "internal-principal")


def sign(principal: Principal, settings: Settings, *, ttl: int = TTL_SECONDS) -> str:
    now = int(time.time())
    claims = {**principal.model_dump(exclude_none=True), "iss": _ISSUER, "iat": now,
              "exp": now + ttl}
    return jwt.encode(claims, _key(settings), algorithm="HS256")


def verify(token: str, settings: Settings) -> Principal:
    try:
        claims = jwt.decode(token, _key(settings), algorithms=["HS256"], issuer=_ISSUER,
                            options={"require": ["exp", "iat", "iss"]})
    except jwt.PyJWTError as exc:
        raise InvalidPrincipal(str(exc)) from exc
    for claim in ("iss", "iat", "exp"):
        claims.pop(claim, None)
    try:
        return Principal.model_validate(claims)
    except ValidationError as exc:  # signed by us, but not a principal we understand
        raise InvalidPrincipal(str(exc)) from exc
