"""The signed principal the gateway forwards to services.

The gateway authenticates every public request and passes who the caller is
in `X-Norgate-Principal`: a short-lived HS256 JWT keyed from NORGATE_SECRET_KEY.
Services accept identity only from a valid one; the gateway strips any such
header a client sends.

Each token names its audience, the service it is sent to (`aud`), and is keyed
with that audience's own derived key (`internal-principal:<service>`): a token
one service received cannot be replayed to another, and a service holding only
its own keys (NORGATE_SERVICE_KEYS) can verify principals sent to it and sign
them for the services it calls, never for the rest.
A token without an audience is keyed with `internal-principal`, which only a
holder of the master key has (tests and tools under `make run`); no service in
a split deployment is given it, so there they are refused.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Literal, TypeVar

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.secrets import MissingSecret, derive
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
    # Test or live (docs/modes.md): what the caller's key or session acts in.
    mode: Literal["test", "live"] = "test"

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def livemode(self) -> bool:
        return self.mode == "live"


ANONYMOUS = Principal()


class InvalidPrincipal(Exception):
    pass


def key_purpose(audience: str | None) -> str:
    """The derivation label of the key principals for `audience` are signed with."""
    return f"internal-principal:{audience}" if audience else "internal-principal"


def _key(settings: Settings, audience: str | None) -> str:
    return derive(settings, key_purpose(audience))


# Both ends cache: the gateway reuses a signed token for the same principal and audience
# while more than half its life is left, and a service remembers tokens it verified
# until they expire. On the hot path that saves an HMAC and a JSON parse a call.
_CACHE_MAX = 10_000
K = TypeVar("K")
V = TypeVar("V")
_signed: OrderedDict[tuple[str | None, str, Principal], tuple[str, int]] = OrderedDict()
_verified: OrderedDict[tuple[str, str], tuple[Principal, int]] = OrderedDict()


def _remember(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_MAX:
        cache.popitem(last=False)


def sign(principal: Principal, settings: Settings, *, audience: str | None = None,
         ttl: int = TTL_SECONDS) -> str:
    """A token for `principal` that only the service `audience` accepts. Raises
    MissingSecret when this process holds no key for that audience."""
    key = _key(settings, audience)
    now = int(time.time())
    cache_key = (audience, key, principal)
    hit = _signed.get(cache_key) if ttl == TTL_SECONDS else None
    if hit is not None and hit[1] - now > ttl // 2:
        return hit[0]
    claims = {**principal.model_dump(exclude_none=True), "iss": _ISSUER, "iat": now,
              "exp": now + ttl}
    if audience:
        claims["aud"] = audience
    token = jwt.encode(claims, key, algorithm="HS256")
    if ttl == TTL_SECONDS:
        _remember(_signed, cache_key, (token, now + ttl))
    return token


def _key_or_none(settings: Settings, audience: str | None) -> str | None:
    try:
        return _key(settings, audience)
    except MissingSecret:
        return None


def verify(token: str, settings: Settings, *, audience: str | None = None) -> Principal:
    """The principal of `token`, sent to the service `audience`: refused (InvalidPrincipal)
    when it names another audience, or names none and this process lacks the master key."""
    # The hot path: a token for this very audience, already verified.
    own = _key_or_none(settings, audience) if audience else None
    hit = _verified.get((own, token)) if own else None
    if hit is not None and hit[1] > time.time():
        return hit[0]
    try:
        # Unverified, only to choose the key; the signature is checked below.
        claimed = jwt.decode(token, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError as exc:
        raise InvalidPrincipal(str(exc)) from exc
    if claimed is not None and claimed != audience:
        raise InvalidPrincipal(f"the principal is for {claimed!r}, not {audience!r}")
    key = own if claimed is not None else _key_or_none(settings, None)
    if key is None:
        raise InvalidPrincipal(f"no key here for principals to {claimed or 'any service'!r}")
    hit = _verified.get((key, token))
    if hit is not None and hit[1] > time.time():
        return hit[0]
    try:
        claims = jwt.decode(token, key, algorithms=["HS256"], issuer=_ISSUER,
                            audience=claimed, options={"require": ["exp", "iat", "iss"]})
    except jwt.PyJWTError as exc:
        raise InvalidPrincipal(str(exc)) from exc
    expires = claims["exp"]
    for claim in ("iss", "iat", "exp", "aud"):
        claims.pop(claim, None)
    try:
        principal = Principal.model_validate(claims)
    except ValidationError as exc:  # signed by us, but not a principal we understand
        raise InvalidPrincipal(str(exc)) from exc
    _remember(_verified, (key, token), (principal, expires))
    return principal
