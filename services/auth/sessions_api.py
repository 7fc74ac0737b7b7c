"""Sign-in, refresh, sign-out and the JWKS (NORAH /api/v1/auth)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from aiohttp import web
from pydantic import BaseModel, Field

from services.auth import store
from services.auth.context import KEYRING, uow
from services.auth.passwords import DUMMY_HASH, verify_password
from shared.crypto import random_secret, sha256_hex
from shared.http.app import POOL
from shared.http.envelopes import Family, json_response, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, principal_of, read_json
from shared.http.openapi import RouteDoc
from shared.logging import get_logger

log = get_logger(__name__)


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshBody(BaseModel):
    refresh_token: str = Field(alias="refreshToken", min_length=16, max_length=200)


def _client_ip(request: web.Request) -> str:
    return principal_of(request).ip or request.remote or "unknown"


async def _session(request: web.Request, user) -> dict:
    """Issue an access token and a new refresh family for `user`: the seed's sign-in body."""
    return await _tokens(request, user, family=uuid.uuid4())


async def _tokens(request: web.Request, user, *, family: uuid.UUID, conn=None) -> dict:
    settings = request.app[SETTINGS]
    token, expires = await request.app[KEYRING].issue({
        "sub": str(user["id"]), "role": user["role"], "email": user["email"],
        "cid": str(user["company_id"]) if user["company_id"] else None,
        "mid": str(user["merchant_id"]) if user["merchant_id"] else None,
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
    body = await read_json(request, SignIn)
    settings = request.app[SETTINGS]
    pool = request.app[POOL]
    async with pool.acquire() as conn:
        # The database lowers the address the same way its lookup does, so no
        # spelling of an address (İ, say) reaches the account with fresh attempts.
        account_key = "acct:" + await conn.fetchval("SELECT lower($1)", body.email.strip())
        ip_key = f"ip:{_client_ip(request)}"
        locked = await store.lock_remaining(conn, [account_key, ip_key])
        if locked:
            raise ApiError(Errors.TOO_MANY_SIGN_INS, seconds=locked,
                           headers={"Retry-After": str(locked)})
        # Counted before the password is checked: parallel guesses cannot all
        # slip past the lock; a success clears the account's count below.
        failures = await store.record_failure(
            conn, account_key, window_seconds=settings.sign_in_lock_seconds,
            max_failures=settings.sign_in_max_failures)
        if failures > settings.sign_in_max_failures:  # this attempt locked it: no check
            locked = await store.lock_remaining(conn, [account_key]) or 1
            raise ApiError(Errors.TOO_MANY_SIGN_INS, seconds=locked,
                           headers={"Retry-After": str(locked)})
        user = await store.user_by_email(conn, body.email.strip())
    # An unknown address costs the same hash as a wrong password: no timing tell.
    valid = await verify_password(user["password_hash"] if user else DUMMY_HASH, body.password)
    if not valid or user is None:
        async with pool.acquire() as conn:  # a client address counts failures only
            await store.record_failure(conn, ip_key,
                                       window_seconds=settings.sign_in_lock_seconds,
                                       max_failures=settings.sign_in_max_failures_per_ip)
        # Each further failure answers more slowly (0.25 s, 0.5 s, ... at most 2 s).
        await asyncio.sleep(min(2.0, 0.125 * 2 ** min(failures, 5)) if failures > 1 else 0)
        log.info("sign_in_failed", failures=failures)
        raise ApiError(Errors.INVALID_CREDENTIALS)
    if not user["enabled"]:
        # Said only after the right password, so it reveals nothing to a guesser.
        raise ApiError(Errors.EMAIL_NOT_CONFIRMED if user["confirmed_at"] is None
                       else Errors.ACCOUNT_DISABLED)
    async with pool.acquire() as conn:
        await store.clear_failures(conn, account_key)
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
        if row["revoked_at"]:
            raise ApiError(Errors.INVALID_REFRESH_TOKEN)
        if row["used_at"] is not None:
            revoked = await store.revoke_family(work.conn, row["family"])
            work.emit("session.revoked", {"userId": row["user_id"], "reason": "refresh_reuse",
                                          "tokensRevoked": revoked})
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
            await store.revoke_family(work.conn, row["family"])
    # The same answer whether or not the token existed.
    return ok(Family.NORAH, None, message="Signed out")


async def jwks(request: web.Request) -> web.Response:
    return json_response(await request.app[KEYRING].jwks(),
                         headers={"Cache-Control": "public, max-age=60"})


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/sign-in", sign_in)
    app.router.add_post("/api/v1/auth/refresh", refresh)
    app.router.add_post("/api/v1/auth/sign-out", sign_out)
    app.router.add_get("/.well-known/jwks.json", jwks)


DOCS = [
    RouteDoc("POST", "/api/v1/auth/sign-in", "Sign in; returns access and refresh tokens",
             ("auth",), request=SignIn, auth=False),
    RouteDoc("POST", "/api/v1/auth/refresh",
             "Rotate a refresh token (a reused one signs out its whole family)", ("auth",),
             request=RefreshBody, auth=False),
    RouteDoc("POST", "/api/v1/auth/sign-out", "Revoke a refresh token and its family",
             ("auth",), request=RefreshBody, auth=False),
    RouteDoc("GET", "/.well-known/jwks.json", "Public keys that verify access tokens",
             ("auth",), auth=False),
]
