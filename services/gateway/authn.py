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

A JWT is honoured only while its session is: auth is asked whether the session
(`sid`, the refresh family) is still signed in and the user's role and tenancy are
still those of the token, and the answer is kept NORGATE_SESSION_CHECK_SECONDS. Auth's
`user.updated`, `user.deleted` and `session.revoked` events (a broadcast subscription)
make the next request of that user ask again at once, so a sign-out, a disable, a
delete or a role change ends the user's tokens as soon as the event arrives, and within
NORGATE_SESSION_CHECK_SECONDS even if it is lost.

API keys are looked up through auth and cached for NORGATE_API_KEY_CACHE_SECONDS,
so a revoked key stops working within that time; unknown keys are cached too,
so guessing does not reach auth on every attempt. The result is forwarded as a
signed principal; services never see the credential itself.

Every credential spends a budget (ratelimit.py): an API key and a MERCHANT user's session
its merchant's plan, one budget for both (the plan asked of auth and cached as keys are);
an ADMIN or SUPER session one per user, NORGATE_STAFF_RATE_PLAN's.

The client address (the principal's `ip`: sign-in throttling and the budgets of
unauthenticated writes count by it) is the TCP peer, unless the peer is one of
NORGATE_TRUSTED_PROXIES: then X-Forwarded-For is walked from the right past the trusted
proxies and the first hop that is not one is the client. Whatever a client writes in
the header itself is never taken.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import re
import time
from collections.abc import AsyncIterator

import jwt
from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from services.gateway import cors
from services.gateway.ratelimit import DEFAULT_PLAN, RateLimiter
from shared.aio import cancel_and_wait, every
from shared.crypto import sha256_hex
from shared.events import Event
from shared.events.payloads import UserPayload
from shared.events.subscriber import Subscriber
from shared.expiring import ExpiringCache
from shared.http.app import BROKER, POOL, TOPOLOGY
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.http.middleware import PRINCIPAL_KEY, SETTINGS
from shared.internal_answers import Jwks, answer
from shared.logging import get_logger
from shared.principal import Principal

log = get_logger(__name__)

ISSUER, AUDIENCE = "norgate-auth", "norgate"
PUBLIC_EXACT = frozenset({
    "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/init.js",
    "/api/v1/auth/admin-sign-up", "/api/v1/auth/confirm-email", "/api/v1/auth/sign-in",
    "/api/v1/auth/refresh", "/api/v1/auth/sign-out", "/api/v1/auth/accept-invitation",
    "/.well-known/jwks.json", "/v1/checkout.js", "/check-out", "/api/v1/transaction/verify",
    "/v1/checkout-frame.js", "/v1/checkout-card.js", "/v1/checkout-wait.js",
})
PUBLIC_PREFIXES = ("/docs/static/", "/checkout/", "/api/v1/receipts/download/",
                   "/console")  # the console's pages hold no data (console.py)
# A pinned release of the widget script: /v1/1.0.0/checkout.js
PUBLIC_PATTERN = re.compile(r"^/v1/[0-9][0-9A-Za-z.\-]{0,30}/checkout\.js$")

# Auth's events after which a user's sessions are checked again at once.
SESSION_EVENTS = ("user.updated", "user.deleted", "session.revoked")
_SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Past this many users heard of, forget them all (a new epoch) rather than grow.
_MAX_GENERATIONS = 100_000

RATE_HEADERS_KEY: web.RequestKey[dict[str, str]] = web.RequestKey("rate_headers", dict)


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


class SessionState(BaseModel):
    """Auth's answer on a session (services/auth/sessions_api.py `session_state`)."""

    live: bool
    role: str | None = None
    company_id: str | None = Field(default=None, alias="companyId")
    merchant_id: str | None = Field(default=None, alias="merchantId")


class Authenticator:
    def __init__(self, app: web.Application):
        settings = app[SETTINGS]
        self._settings = settings
        self._client = InternalClient(settings, caller="gateway", timeout=3, retries=1)
        self._jwks: dict[str, jwt.PyJWK] = {}
        self._jwks_fetched = 0.0
        self._jwks_lock = asyncio.Lock()
        self._keys = ExpiringCache(settings.api_key_cache_seconds)  # digest -> found or None
        self._plans = ExpiringCache(settings.api_key_cache_seconds)  # merchant id -> plan
        # Parsed once: client_ip runs on every request.
        self.trusted_proxies = tuple(ipaddress.ip_network(n, strict=False)
                                     for n in settings.trusted_proxies)
        # (epoch, user generation, user, session) -> SessionState. An event about a user
        # bumps its generation and a reconnection the epoch: later requests then miss
        # and ask auth, and no answer asked for before the change is used again.
        self._sessions = ExpiringCache(settings.session_check_seconds)
        self._generations: dict[str, int] = {}
        self._epoch = 0
        self.limiter = RateLimiter(app[POOL])

    async def close(self) -> None:
        await self._keys.close()
        await self._plans.close()
        await self._sessions.close()
        await self._client.close()

    # JWT ---------------------------------------------------------------------

    async def _fetch_jwks(self) -> None:
        status, body = await self._client.request("auth", "GET", "/.well-known/jwks.json")
        if status != 200 or not isinstance(body, dict):
            raise ServiceUnavailable("auth", f"JWKS answered {status}")
        jwks = answer(Jwks, body, "auth")
        self._jwks = {k["kid"]: jwt.PyJWK(k) for k in jwks.keys if "kid" in k}
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
        user, sid = str(claims["sub"]), claims.get("sid")
        if not (user.isascii() and user.isdigit() and len(user) <= 18) \
                or not isinstance(sid, str) or not _SESSION_ID.match(sid):
            raise ApiError(Errors.INVALID_ACCESS_TOKEN, detail="no session")
        state = await self.session_state(user, sid)
        if not state.live or (state.role, state.company_id, state.merchant_id) != (
                claims["role"], claims.get("cid"), claims.get("mid")):
            raise ApiError(Errors.INVALID_ACCESS_TOKEN,
                           detail="the session has ended or the account has changed")
        return Principal(kind="user", subject=str(claims["sub"]), role=claims["role"],
                         company_id=claims.get("cid"), merchant_id=claims.get("mid"), ip=ip)

    # Sessions ------------------------------------------------------------------

    async def session_state(self, user: str, sid: str) -> SessionState:
        """What auth says of the session, asked at most every NORGATE_SESSION_CHECK_SECONDS
        (and again after an event about the user)."""
        async def ask_auth() -> SessionState:
            status, body = await self._client.request(
                "auth", "GET", f"/internal/users/{user}/sessions/{sid}")
            if status == 503:  # auth's database is down: retry shortly, as for keys
                raise ApiError(Errors.DATABASE_UNAVAILABLE, headers={"Retry-After": "1"})
            if status != 200:
                raise ServiceUnavailable("auth", f"session check answered {status}")
            try:
                return SessionState.model_validate(body)
            except ValidationError as exc:
                raise ServiceUnavailable("auth", f"session check: {exc}") from None

        key = (self._epoch, self._generations.get(user, 0), user, sid)
        return await self._sessions.fetch(key, ask_auth)

    def forget_user(self, user: str) -> None:
        if len(self._generations) >= _MAX_GENERATIONS:
            self._generations.clear()
            self._epoch += 1
        self._generations[user] = self._generations.get(user, 0) + 1

    async def on_session_event(self, event: Event) -> None:
        self.forget_user(str(event.payload(UserPayload).user_id))

    async def on_resync(self) -> None:
        """(Re)connected to the broker: events may have been missed, ask again."""
        self._epoch += 1

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

    # Plans ---------------------------------------------------------------------

    async def merchant_plan(self, merchant_id: str) -> str:
        """A merchant's rate plan, for its users' sessions (its keys' lookups carry it),
        cached NORGATE_API_KEY_CACHE_SECONDS: a plan change shows within that time."""
        if not (merchant_id.isascii() and merchant_id.isdigit() and len(merchant_id) <= 18):
            return DEFAULT_PLAN  # auth never names such a merchant; nothing to ask

        async def ask_auth() -> str:
            status, body = await self._client.request(
                "auth", "GET", f"/internal/merchants/{merchant_id}")
            if status == 503:  # as for keys: auth's database is down, retry shortly
                raise ApiError(Errors.DATABASE_UNAVAILABLE, headers={"Retry-After": "1"})
            if status == 404:  # deleted since the session check: the smallest budget
                return DEFAULT_PLAN
            if status != 200 or not isinstance(body, dict):
                raise ServiceUnavailable("auth", f"merchant lookup answered {status}")
            plan = body.get("ratePlan")
            return plan if isinstance(plan, str) else DEFAULT_PLAN

        return await self._plans.fetch(merchant_id, ask_auth)


AUTHN = web.AppKey("authn", Authenticator)


def key_principal(found: dict, ip: str | None) -> Principal:
    return Principal(kind="api_key", subject=found["keyId"], role="MERCHANT",
                     company_id=found["companyId"], merchant_id=found["merchantId"],
                     app_id=found.get("appId"), plan=found.get("plan"),
                     merchant_active=found.get("merchantActive"), ip=ip,
                     mode=found.get("mode", "test"))


MODE_HEADER = "X-Norgate-Mode"


def with_mode(request: web.Request, who: Principal) -> Principal:
    """The caller's mode (docs/modes.md): a key's own; for a session, test unless the
    request asks for live with X-Norgate-Mode (the console's switch)."""
    raw = request.headers.get(MODE_HEADER)
    if raw is None:
        return who
    asked = raw.strip().lower()
    if asked not in ("test", "live"):
        raise ApiError(Errors.VALIDATION, field=MODE_HEADER,
                       detail=f"{MODE_HEADER}: must be test or live")
    if who.kind == "api_key" and asked != who.mode:
        raise ApiError(Errors.VALIDATION, field=MODE_HEADER,
                       detail=f"{MODE_HEADER}: this API key is a {who.mode} key")
    if who.kind == "user":
        return who.model_copy(update={"mode": asked})
    return who


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request: web.Request) -> str | None:
    """The caller's address (see the module's docstring)."""
    trusted = request.app[AUTHN].trusted_proxies
    if not trusted:  # the default: nobody's X-Forwarded-For is read
        return request.remote
    return forwarded_client(request.remote, request.headers.getall("X-Forwarded-For", []),
                            trusted)


def forwarded_client(peer: str | None, forwarded: list[str],
                     trusted: tuple[Network, ...]) -> str | None:
    """The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
    X-Forwarded-For hops (`forwarded`, the header's lines in order) from the right, past
    every trusted proxy, to the first that is not one. A hop that is no address was
    written by a client, not appended by a proxy: the trusted hop right of it stands."""
    address = _address(peer)
    if address is None or not _in(address, trusted):
        return peer
    hops = [hop.strip() for line in forwarded for hop in line.split(",")]
    for hop in reversed(hops):
        found = _address(hop)
        if found is None:
            break
        address = found
        if not _in(found, trusted):
            break
    return str(address)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as proxies write hops: bare, `[v6]:port` or `v4:port`."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _in(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
        trusted: tuple[Network, ...]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return any(address in network for network in trusted)


@web.middleware
async def authenticate(request: web.Request, handler):
    """Sets the principal; refuses a non-public route without valid credentials;
    spends the credential's budget (`_rate_limit`)."""
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
    who = with_mode(request, who)
    request[PRINCIPAL_KEY] = who
    await _rate_limit(request, authn, who)
    return await handler(request)


async def _rate_limit(request: web.Request, authn: Authenticator, who: Principal) -> None:
    """An API key or a MERCHANT user spends its merchant's plan (one budget for both,
    so a session is no way around it); an ADMIN or SUPER user a budget of its own."""
    if who.kind == "api_key" and who.merchant_id:
        await _spend(request, authn, who.merchant_id, who.plan or DEFAULT_PLAN)
    elif who.kind == "user" and who.role == "MERCHANT" and who.merchant_id:
        try:
            plan = await authn.merchant_plan(who.merchant_id)
        except ServiceUnavailable:
            raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth") from None
        await _spend(request, authn, who.merchant_id, plan)
    elif who.kind == "user":
        plan = request.app[SETTINGS].staff_rate_plan if who.role in ("ADMIN", "SUPER") \
            else DEFAULT_PLAN
        await _spend(request, authn, f"user:{who.subject}", plan)


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
    known = await _lookup(authn, key)
    if known.get("type") != "publishable":  # pragma: no cover - the prefix says so
        raise ApiError(Errors.SECRET_KEY_IN_BROWSER)
    if cors.is_preflight(request):
        return cors.preflight_response(request, known)
    cors.check_origin(request, known)
    who = key_principal(known, ip)
    request[PRINCIPAL_KEY] = who
    # A publishable key is public: its traffic has a budget of its own per key and
    # client address, so nobody can spend the merchant's API budget with it.
    await _spend(request, authn, f"widget:{who.subject}:{ip or '-'}", "WIDGET")
    return await handler(request)


async def authn_ctx(app: web.Application) -> AsyncIterator[None]:
    authn = Authenticator(app)
    app[AUTHN] = authn
    if app.get(BROKER) is not None:
        await Subscriber(app[BROKER], app[TOPOLOGY], keys=list(SESSION_EVENTS),
                         on_event=authn.on_session_event, on_resync=authn.on_resync,
                         name="gateway-sessions").start()

    task = every(3600, authn.limiter.cleanup, name="rate-limit-cleanup")
    yield
    await cancel_and_wait(task)
    await authn.close()
