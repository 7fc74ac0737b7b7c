"""Sign-in, refresh, sign-out and the JWKS (NORAH /api/v1/auth)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field

from services.auth import answers, domain, store
from services.auth.context import KEYRING, uow
from services.auth.passwords import DUMMY_HASH, verify_password
from shared.crypto import random_secret, sha256_hex
from shared.http.app import POOL
from shared.http.envelopes import Family, json_response, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.openapi import PUBLIC
from shared.http.routes import Routes, get, post
from shared.logging import get_logger

log = get_logger(__name__)


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshBody(BaseModel):
    refresh_token: str = Field(alias="refreshToken", min_length=16, max_length=200)


# A client that signed in to an account within this many days is "known" to it: the
# account-wide ceiling (distributed guessing) does not hold it back.
KNOWN_CLIENT_DAYS = 30


def client_of(request: web.Request) -> str:
    """The caller as throttling and the budgets of unauthenticated writes count it
    (api.py too). The address is the one the gateway saw and signed into the principal
    (its TCP peer, or behind NORGATE_TRUSTED_PROXIES the first hop of X-Forwarded-For
    that is not one of them); never a hop the client wrote itself."""
    return domain.sign_in_client(principal_of(request).ip or request.remote)


class _HeldBack(Exception):
    def __init__(self, seconds: int):
        self.seconds = max(1, seconds)


def _too_many(seconds: int) -> ApiError:
    return ApiError(Errors.TOO_MANY_SIGN_INS, seconds=seconds,
                    headers={"Retry-After": str(seconds)})


async def _claim(conn: asyncpg.Connection, claims: list[tuple[str, domain.Backoff]],
                 window: float) -> dict[str, float]:
    """Count this attempt against every key or, when a delay holds one back, none
    (raising _HeldBack); the delays it set, by key. Counted before the password is
    checked, so parallel guesses cannot all slip in before a delay; a right password
    takes its count back."""
    keys = [key for key, _ in claims]
    if wait := await store.sign_in_wait(conn, keys):
        raise _HeldBack(wait)
    delays: dict[str, float] = {}
    async with conn.transaction():
        for key, backoff in claims:
            failures = await store.claim_sign_in(conn, key, forget_after=window)
            if failures is None:  # another attempt set a delay meanwhile: count nothing
                raise _HeldBack(await store.sign_in_wait(conn, [key]))
            if delay := backoff.delay(failures):
                await store.delay_sign_ins(conn, key, delay)
                delays[key] = delay
    return delays


async def _session(request: web.Request, user) -> dict:
    """Issue an access token and a new refresh family for `user`: the seed's sign-in body."""
    return await _tokens(request, user, family=uuid.uuid4())


async def _tokens(request: web.Request, user, *, family: uuid.UUID, conn=None) -> dict:
    settings = request.app[SETTINGS]
    token, expires = await request.app[KEYRING].issue({
        "sub": str(user["id"]), "role": user["role"], "email": user["email"],
        "cid": str(user["company_id"]) if user["company_id"] else None,
        "mid": str(user["merchant_id"]) if user["merchant_id"] else None,
        # The session (refresh family): the gateway checks it is still signed in.
        "sid": str(family),
    })
    refresh = "rt_" + random_secret(32)
    expires_refresh = datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl_seconds)
    args = dict(token_hash=sha256_hex(refresh), family=family, user_id=user["id"],
                expires_at=expires_refresh)
    if conn is not None:
        await store.add_refresh_token(conn, **args)
    else:
        async with request.app[POOL].acquire() as own:
            await store.add_refresh_token(own, **args)
    return {
        "token": token,
        "refreshToken": refresh,
        "tokenExpiryDate": format_datetime(expires, usegmt=True),
        "user_id": user["id"],
        "role": user["role"],
        "fullName": f"{user['first_name']} {user['last_name']}",
        "email": user["email"],
    }


async def sign_in(request: web.Request) -> web.Response:
    """Throttled per (account, client) and per client with growing delays, and past an
    account-wide ceiling for clients new to the account; never a lock of the account,
    so a client without failures signs in whatever others do (docs/api.md "Sign-in")."""
    body = await read_json(request, SignIn)
    settings = request.app[SETTINGS]
    pool = request.app[POOL]
    window = settings.sign_in_lock_seconds
    growing = dict(first=1.0, factor=2.0, cap=float(window))
    client = client_of(request)
    async with pool.acquire() as conn:
        # The database lowers the address the same way its lookup does, so no
        # spelling of an address (İ, say) reaches the account with fresh attempts.
        account = await conn.fetchval("SELECT lower($1)", body.email.strip())
        pair = (f"pair:{account}|{client}",
                domain.Backoff(free=settings.sign_in_max_failures, **growing))
        per_client = (f"client:{client}",
                      domain.Backoff(free=settings.sign_in_max_failures_per_ip, **growing))
        interval = float(settings.sign_in_account_interval_seconds)
        ceiling = (f"acct:{account}",
                   domain.Backoff(free=settings.sign_in_account_max_failures,
                                  first=interval, factor=1.0, cap=interval))
        known = await store.known_client(conn, account, client, days=KNOWN_CLIENT_DAYS)
        claims = [pair, per_client] if known else [pair, per_client, ceiling]
        try:
            delays = await _claim(conn, claims, window)
        except _HeldBack as held:
            log.info("sign_in_held_back", seconds=held.seconds)
            raise _too_many(held.seconds) from None
        user = await store.user_by_email(conn, body.email.strip())
    # An unknown address costs the same hash as a wrong password: no timing tell.
    valid = await verify_password(user["password_hash"] if user else DUMMY_HASH, body.password)
    if not valid or user is None:
        if delays:  # a delay runs from the answer, not from before the hash
            async with pool.acquire() as conn:
                for key, delay in delays.items():
                    await store.delay_sign_ins(conn, key, delay)
        log.info("sign_in_failed", delayed=max(delays.values(), default=0))
        raise ApiError(Errors.INVALID_CREDENTIALS)
    async with pool.acquire() as conn, conn.transaction():
        await store.clear_sign_in(conn, pair[0])
        for key, backoff in claims[1:]:
            await store.forgive_sign_in(conn, key, free=backoff.free)
        await store.remember_client(conn, account, client)
    if not user["enabled"]:
        # Said only after the right password, so it reveals nothing to a guesser.
        raise ApiError(Errors.EMAIL_NOT_CONFIRMED if user["confirmed_at"] is None
                       else Errors.ACCOUNT_DISABLED)
    log.info("signed_in", user_id=user["id"], role=user["role"])
    return json_response(await _session(request, user))


async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshBody)
    async with uow(request) as work:
        row = await store.refresh_token_for_update(work.conn, sha256_hex(body.refresh_token))
        if row is None or row["revoked_at"] or row["expires_at"] < datetime.now(UTC):
            raise ApiError(Errors.INVALID_REFRESH_TOKEN)
        # One family at a time: a refresh and a sign-out (or a reuse) of the same
        # family cannot interleave and leave a freshly minted token alive.
        await work.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", str(row["family"]))
        row = await store.refresh_token_for_update(work.conn, row["token_hash"])
        if row is None or row["revoked_at"]:  # gone (housekeeping) or revoked meanwhile
            raise ApiError(Errors.INVALID_REFRESH_TOKEN)
        if row["used_at"] is not None:
            revoked = await store.revoke_family(work.conn, row["family"])
            work.emit("session.revoked", domain.SessionRevoked(
                user_id=row["user_id"], session_id=str(row["family"]), reason="refresh_reuse",
                tokens_revoked=revoked).data())
            reuse = True
        else:
            reuse = False
            user = await store.user_by_id(work.conn, row["user_id"])
            if user is None or not user["enabled"]:
                raise ApiError(Errors.INVALID_REFRESH_TOKEN)
            await store.mark_refresh_used(work.conn, row["token_hash"])
            session = await _tokens(request, user, family=row["family"], conn=work.conn)
    if reuse:  # committed above: the family stays revoked
        log.warning("refresh_token_reused", user_id=row["user_id"])
        raise ApiError(Errors.REFRESH_TOKEN_REUSED)
    return json_response(session)


async def sign_out(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshBody)
    async with uow(request) as work:
        row = await store.refresh_token_for_update(work.conn, sha256_hex(body.refresh_token))
        if row is not None:
            await work.conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                                    str(row["family"]))
            revoked = await store.revoke_family(work.conn, row["family"])
            if revoked:  # gateways drop what they know of the session at once
                work.emit("session.revoked", domain.SessionRevoked(
                    user_id=row["user_id"], session_id=str(row["family"]), reason="sign_out",
                    tokens_revoked=revoked).data())
    # The same answer whether or not the token existed.
    return ok(Family.NORAH, None, message="Signed out")


class SessionState(BaseModel):
    """`GET /internal/users/{userId}/sessions/{sessionId}`: whether an access token of
    that session may still be honoured, and the user's role and tenancy now (the
    gateway refuses a token whose claims no longer match)."""

    live: bool
    role: str | None = None
    company_id: str | None = Field(default=None, serialization_alias="companyId")
    merchant_id: str | None = Field(default=None, serialization_alias="merchantId")


async def session_state(request: web.Request) -> web.Response:
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)
    raw_user, raw_sid = request.match_info["userId"], request.match_info["sessionId"]
    try:
        family = uuid.UUID(raw_sid)
    except ValueError:
        family = None
    row = None
    if family is not None and raw_user.isascii() and raw_user.isdigit() and len(raw_user) <= 18:
        async with request.app[POOL].acquire() as conn:
            row = await store.session_state(conn, int(raw_user), family)
    if row is None or not row["enabled"] or not row["signed_in"]:
        state = SessionState(live=False)
    else:
        state = SessionState(
            live=True, role=row["role"],
            company_id=str(row["company_id"]) if row["company_id"] else None,
            merchant_id=str(row["merchant_id"]) if row["merchant_id"] else None)
    return json_response(state.model_dump(by_alias=True))


async def jwks(request: web.Request) -> web.Response:
    return json_response(await request.app[KEYRING].jwks(),
                         headers={"Cache-Control": "public, max-age=60"})


ROUTES = Routes(
    post("/api/v1/auth/sign-in", sign_in, "Sign in; returns access and refresh tokens",
         ("auth",), request=SignIn, auth=PUBLIC, bare=True, response=answers.Tokens),
    post("/api/v1/auth/refresh", refresh,
         "Rotate a refresh token (a reused one signs out its whole family)", ("auth",),
         request=RefreshBody, auth=PUBLIC, bare=True, response=answers.Tokens),
    post("/api/v1/auth/sign-out", sign_out, "Revoke a refresh token and its family",
         ("auth",), request=RefreshBody, auth=PUBLIC, response=type(None)),
    get("/.well-known/jwks.json", jwks, "Public keys that verify access tokens",
        ("auth",), auth=PUBLIC, response=answers.Jwks),
    # The gateway's session check: not part of the public API.
    get("/internal/users/{userId}/sessions/{sessionId}", session_state, None),
)
