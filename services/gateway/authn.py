"""Who is calling: the gateway authenticates every non-public request.

Credentials, in order of precedence:
  X-API-Key: nk_...                 a merchant API key
  Authorization: Bearer nk_...      the same key as a bearer token
  Authorization: Basic <nk_...:>    the same key as a Basic user with no password
  Authorization: Bearer <JWT>       a user's access token (EdDSA, verified with
                                    auth's JWKS, cached; refetched on an unknown kid)
When both a key and a JWT are sent (the NorPay seed shows both headers), the
key decides: it names the merchant the request acts for.

Publishable keys (`nk_pub_...`, made for checkout.js) work only on the widget's
routes (`/v1/widget/...`, where they may also come as `?key=`) and only from the
key's allowed origins (see cors.py); anywhere else they are a 403. The widget's
routes take nothing but a publishable key, so a secret key sent by a browser is
refused rather than used.

API keys are looked up through auth and cached for NORGATE_API_KEY_CACHE_SECONDS,
so a revoked key stops working within that time; unknown keys are cached too,
so guessing does not reach auth on every attempt. The result is forwarded as a
signed principal; services never see the credential itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
from collections.abc import AsyncIterator

import jwt
from aiohttp import web

from services.gateway import cors
from services.gateway.ratelimit import RateLimiter
from shared.aio import cancel_and_wait, every
from shared.crypto import sha256_hex
from shared.expiring import ExpiringCache
from shared.http.app import POOL
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.http.middleware import PRINCIPAL_KEY, SETTINGS
from shared.logging import get_logger
from shared.principal import Principal

log = get_logger(__name__)

ISSUER, AUDIENCE = "norgate-auth", "norgate"
PUBLIC_EXACT = frozenset({
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/init.js",
    "/api/v1/auth/admin-sign-up", "/api/v1/auth/confirm-email", "/api/v1/auth/sign-in",
    "/api/v1/auth/refresh", "/api/v1/auth/sign-out", "/api/v1/auth/accept-invitation",
    "/.well-known/jwks.json", "/v1/checkout.js", "/check-out", "/api/v1/transaction/verify",
    "/v1/checkout-frame.js",
})
PUBLIC_PREFIXES = ("/docs/static/", "/checkout/", "/api/v1/receipts/download/",
                   "/console")  # the console's pages hold no data (console.py)
# A pinned release of the widget script: /v1/1.0.0/checkout.js
PUBLIC_PATTERN = re.compile(r"^/v1/[0-9][0-9A-Za-z.\-]{0,30}/checkout\.js$")

AUTHN = web.AppKey("authn", "Authenticator")
RATE_HEADERS_KEY = web.RequestKey("rate_headers", dict)


def is_public(path: str) -> bool:
    return (path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES)
            or PUBLIC_PATTERN.match(path) is not None)


def credentials(request: web.Request) -> tuple[str, str] | None:
    """("key", value) or ("jwt", value) from the request headers, or None."""
    if key := request.headers.get("X-API-Key", "").strip():
        return "key", key
    header = request.headers.get("Authorization", "").strip()
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return ("key", value) if value.startswith("nk_") else ("jwt", value)
    if scheme.lower() == "basic" and value:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(Errors.INVALID_API_KEY) from None
        if password:
            raise ApiError(Errors.INVALID_API_KEY)  # the key is the user; no password
        return "key", user
    return None


class Authenticator:
    def __init__(self, app: web.Application):
        settings = app[SETTINGS]
        self._settings = settings
        self._client = InternalClient(settings, caller="gateway", timeout=3, retries=1)
        self._jwks: dict[str, jwt.PyJWK] = {}
        self._jwks_fetched = 0.0
        self._jwks_lock = asyncio.Lock()
        self._keys = ExpiringCache(settings.api_key_cache_seconds)  # digest -> found or None
        self.limiter = RateLimiter(app[POOL])

    async def close(self) -> None:
        await self._keys.close()
        await self._client.close()

    # JWT ---------------------------------------------------------------------

    async def _fetch_jwks(self) -> None:
        status, body = await self._client.request("auth", "GET", "/.well-known/jwks.json")
        if status != 200 or not isinstance(body, dict):
            raise ServiceUnavailable("auth", f"JWKS answered {status}")
        self._jwks = {k["kid"]: jwt.PyJWK(k) for k in body.get("keys", []) if "kid" in k}
        self._jwks_fetched = time.monotonic()

    async def _key_for(self, kid: str) -> jwt.PyJWK | None:
        if kid not in self._jwks or time.monotonic() - self._jwks_fetched > 300:
            async with self._jwks_lock:
                # An unknown kid refetches at most every 5 s, so junk tokens cannot
                # turn the gateway into a load generator against auth.
                if time.monotonic() - self._jwks_fetched > 5 or not self._jwks:
                    await self._fetch_jwks()
        return self._jwks.get(kid)

    async def verify_jwt(self, token: str, ip: str | None) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise ApiError(Errors.INVALID_ACCESS_TOKEN, detail=str(exc)) from None
        if header.get("alg") != "EdDSA" or not isinstance(header.get("kid"), str):
            raise ApiError(Errors.INVALID_ACCESS_TOKEN, detail="unexpected algorithm or key id")
        key = await self._key_for(header["kid"])
        if key is None:
            raise ApiError(Errors.INVALID_ACCESS_TOKEN, detail="unknown signing key")
        try:
            claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=AUDIENCE,
                                issuer=ISSUER, options={"require": ["exp", "iat", "sub"]})
        except jwt.PyJWTError as exc:
            raise ApiError(Errors.INVALID_ACCESS_TOKEN, detail=str(exc)) from None
        if claims.get("typ") != "access" or claims.get("role") not in ("SUPER", "ADMIN",
                                                                         "MERCHANT"):
            raise ApiError(Errors.INVALID_ACCESS_TOKEN, detail="not an access token")
        return Principal(kind="user", subject=str(claims["sub"]), role=claims["role"],
                         company_id=claims.get("cid"), merchant_id=claims.get("mid"), ip=ip)

    # API keys ------------------------------------------------------------------

    async def lookup_key(self, key: str) -> dict:
        """What auth knows of a live key (cached), or 401 invalid_api_key."""
        if not key.startswith("nk_") or len(key) > 200:
            raise ApiError(Errors.INVALID_API_KEY)
        async def ask_auth() -> dict | None:
            status, body = await self._client.request(
                "auth", "POST", "/internal/api-keys/verify", json={"key": key})
            if status == 503:
                # Auth is up and its database is not (a restart, a failover): the same
                # answer it gave, to retry shortly, rather than a 502 for auth itself.
                raise ApiError(Errors.DATABASE_UNAVAILABLE, headers={"Retry-After": "1"})
            if status not in (200, 404):
                raise ServiceUnavailable("auth", f"key lookup answered {status}")
            return body if status == 200 and isinstance(body, dict) else None

        # A miss is kept too, so unknown keys cost no hop.
        found = await self._keys.fetch(sha256_hex(key), ask_auth)
        if found is None:
            raise ApiError(Errors.INVALID_API_KEY)
        return found

    async def verify_key(self, key: str, ip: str | None) -> Principal:
        return key_principal(await self.lookup_key(key), ip)


def key_principal(found: dict, ip: str | None) -> Principal:
    return Principal(kind="api_key", subject=found["keyId"], role="MERCHANT",
                         company_id=found["companyId"], merchant_id=found["merchantId"],
                         app_id=found.get("appId"), plan=found.get("plan"),
                         merchant_active=found.get("merchantActive"), ip=ip)


def client_ip(request: web.Request) -> str | None:
    """The caller's address: the TCP peer, or, behind NORGATE_TRUSTED_PROXY_HOPS
    proxies, the address the outermost trusted proxy saw (never a client's claim)."""
    hops = request.app[SETTINGS].trusted_proxy_hops
    if hops:
        chain = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")
                 if a.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return request.remote


@web.middleware
async def authenticate(request: web.Request, handler):
    """Sets the principal; refuses a non-public route without valid credentials;
    applies the merchant's rate limit to API-key traffic."""
    authn: Authenticator = request.app[AUTHN]
    ip = client_ip(request)
    if cors.is_widget(request.path):
        return await _widget(request, handler, authn, ip)
    found = credentials(request)
    if found is not None and found[0] == "key" and cors.is_publishable(found[1]):
        if is_public(request.path):  # pages and scripts: the key is not needed there
            request[PRINCIPAL_KEY] = Principal(ip=ip)
            return await handler(request)
        await _lookup(authn, found[1])  # an unknown key is a 401, as anywhere
        raise ApiError(Errors.PUBLISHABLE_KEY_NOT_ALLOWED, path=request.path)
    if found is None:
        if not is_public(request.path):
            raise ApiError(Errors.UNAUTHENTICATED,
                           headers={"WWW-Authenticate": 'Bearer realm="norgate"'})
        request[PRINCIPAL_KEY] = Principal(ip=ip)
        return await handler(request)
    kind, value = found
    try:
        who = await (authn.verify_key(value, ip) if kind == "key"
                     else authn.verify_jwt(value, ip))
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth") from None
    except ApiError:
        if not is_public(request.path):
            raise
        # A stale token sent along to sign-in or refresh must not block them.
        request[PRINCIPAL_KEY] = Principal(ip=ip)
        return await handler(request)
    request[PRINCIPAL_KEY] = who
    await _rate_limit(request, authn, who)
    return await handler(request)


async def _rate_limit(request: web.Request, authn: Authenticator, who: Principal) -> None:
    if who.kind == "api_key" and who.merchant_id:
        await _spend(request, authn, who.merchant_id, who.plan or "STARTER")


async def _spend(request: web.Request, authn: Authenticator, subject: str,
                 plan: str) -> None:
    decision = await authn.limiter.hit(subject, plan)
    if not decision.allowed:
        raise ApiError(Errors.RATE_LIMITED, headers=decision.headers())
    request[RATE_HEADERS_KEY] = decision.headers()


async def _lookup(authn: Authenticator, key: str) -> dict:
    try:
        return await authn.lookup_key(key)
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth") from None


async def _widget(request: web.Request, handler, authn: Authenticator, ip: str | None):
    """The checkout widget's routes: a publishable key from one of its origins only."""
    key = cors.query_key(request)
    if key is None:
        found = credentials(request)
        if found is None or found[0] != "key":  # a session token is no widget key
            raise ApiError(Errors.UNAUTHENTICATED)
        key = found[1]
    if not cors.is_publishable(key):
        raise ApiError(Errors.SECRET_KEY_IN_BROWSER if key.startswith("nk_")
                       else Errors.INVALID_API_KEY)
    found = await _lookup(authn, key)
    if found.get("type") != "publishable":  # pragma: no cover - the prefix says so
        raise ApiError(Errors.SECRET_KEY_IN_BROWSER)
    if cors.is_preflight(request):
        return cors.preflight_response(request, found)
    cors.check_origin(request, found)
    who = key_principal(found, ip)
    request[PRINCIPAL_KEY] = who
    # A publishable key is public: its traffic has a budget of its own per key and
    # client address, so nobody can spend the merchant's API budget with it.
    await _spend(request, authn, f"widget:{who.subject}:{ip or '-'}", "WIDGET")
    return await handler(request)


async def authn_ctx(app: web.Application) -> AsyncIterator[None]:
    authn = Authenticator(app)
    app[AUTHN] = authn

    task = every(3600, authn.limiter.cleanup, name="rate-limit-cleanup")
    yield
    await cancel_and_wait(task)
    await authn.close()
