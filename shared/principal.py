"""The signed principal the gateway forwards to services.

The gateway authenticates every public request and passes who the caller is
in `X-Norgate-Principal`: a short-lived HS256 JWT keyed from NORGATE_SECRET_KEY.
Services accept identity only from a valid one; the gateway strips any such
header a client sends.
"""

from __future__ import annotations

import time
from collections import OrderedDict
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


# Both ends cache: the gateway reuses a signed token for the same principal while
# more than half its life is left, and a service remembers tokens it verified
# until they expire. On the hot path that saves an HMAC and a JSON parse a call.
_CACHE_MAX = 10_000
_signed: OrderedDict[tuple[str, Principal], tuple[str, int]] = OrderedDict()
_verified: OrderedDict[tuple[str, str], tuple[Principal, int]] = OrderedDict()


def _remember(cache: OrderedDict, key, value) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_MAX:
        cache.popitem(last=False)


def sign(principal: Principal, settings: Settings, *, ttl: int = TTL_SECONDS) -> str:
    key = _key(settings)
    now = int(time.time())
    hit = _signed.get((key, principal)) if ttl == TTL_SECONDS else None
    if hit is not None and hit[1] - now > ttl // 2:
        return hit[0]
    claims = {**principal.model_dump(exclude_none=True), "iss": _ISSUER, "iat": now,
              "exp": now + ttl}
    token = jwt.encode(claims, key, algorithm="HS256")
    if ttl == TTL_SECONDS:
        _remember(_signed, (key, principal), (token, now + ttl))
    return token


def verify(token: str, settings: Settings) -> Principal:
    key = _key(settings)
    hit = _verified.get((key, token))
    if hit is not None and hit[1] > time.time():
        return hit[0]
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], issuer=_ISSUER,
                            options={"require": ["exp", "iat", "iss"]})
    except jwt.PyJWTError as exc:
        raise InvalidPrincipal(str(exc)) from exc
    expires = claims["exp"]
    for claim in ("iss", "iat", "exp"):
        claims.pop(claim, None)
    try:
        principal = Principal.model_validate(claims)
    except ValidationError as exc:  # signed by us, but not a principal we understand
        raise InvalidPrincipal(str(exc)) from exc
    _remember(_verified, (key, token), (principal, expires))
    return principal
