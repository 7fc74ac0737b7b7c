"""NORAH account routes of the auth service (thin: parse, call, render)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, Field

from services.auth import answers, domain, store
from services.auth.context import SECRETS, uow
from services.auth.passwords import hash_password
from services.auth.sessions_api import client_of
from shared.crypto import random_secret
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.openapi import PUBLIC
from shared.http.routes import Routes, get, post
from shared.logging import get_logger

log = get_logger(__name__)


async def request_confirmation(request: web.Request, work, user, *, role: str) -> None:
    """Inside the unit of work that created `user`: a confirmation token, the
    `user.created` event and the e-mail with the link and code."""
    token, token_hash = domain.new_token()
    await store.add_confirmation(work.conn, user["id"], token_hash,
                                 datetime.now(UTC) + domain.CONFIRMATION_TTL)
    company_id = str(user["company_id"])
    work.emit("user.created", {"userId": user["id"], "role": role, "enabled": False},
              company_id=company_id)
    work.emit("email.requested", domain.confirmation_email(
        to=user["email"], first_name=user["first_name"],
        public_url=request.app[SETTINGS].public_url, token=token), company_id=company_id)


Refusal = Callable[[int], ApiError]  # the answer to a write over budget, by seconds to wait


async def spend_public_write(request: web.Request,
                             *budgets: tuple[domain.WriteBudget, Refusal]) -> None:
    """Count this unauthenticated write against every budget, in order, or against none:
    the first that is spent answers (its refusal, with Retry-After). One transaction, so
    a write a later budget refuses takes back what the earlier ones counted: a client
    held back by the platform's ceiling keeps its own budget, and one refused by its
    own budget never reaches the platform's (so one client cannot close sign-up)."""
    async with request.app[POOL].acquire() as conn, conn.transaction():
        for budget, refuse in budgets:
            wait = await store.count_public_write(conn, budget.key, limit=budget.limit,
                                                  window_seconds=budget.window_seconds)
            if wait is not None:
                log.info("public_write_held_back",
                         budget=":".join(budget.key.split(":", 2)[:2]), seconds=wait)
                raise refuse(wait)


def _too_many_sign_ups(where: str) -> Refusal:
    return lambda seconds: ApiError(Errors.TOO_MANY_SIGN_UPS, where=where, seconds=seconds,
                                    headers={"Retry-After": str(seconds)})


def _too_many_requests(seconds: int) -> ApiError:
    return ApiError(Errors.RATE_LIMITED, headers={"Retry-After": str(seconds)})


async def admin_sign_up(request: web.Request) -> web.Response:
    """Each costs an argon2 hash, a company and an e-mail to any address: limited per
    client an hour and platform-wide a minute (counted before the e-mail is looked up,
    so the 409 cannot be used to enumerate accounts at will either)."""
    body = await read_json(request, domain.AdminSignUp)
    settings = request.app[SETTINGS]
    await spend_public_write(
        request,
        (domain.WriteBudget(f"sign-up:client:{client_of(request)}",
                            settings.sign_ups_per_client_per_hour, domain.HOUR),
         _too_many_sign_ups("from your address")),
        (domain.WriteBudget("sign-up:platform", settings.sign_ups_per_minute, domain.MINUTE),
         _too_many_sign_ups("on norgate right now")))
    async with request.app[POOL].acquire() as conn:
        if await store.email_exists(conn, body.email):
            raise ApiError(Errors.EMAIL_TAKEN, field="email")
    password_hash = await hash_password(body.password)
    try:
        async with uow(request) as work:
            user = await store.create_company_with_admin(
                work.conn, body, password_hash, request.app[SECRETS].seal(random_secret()))
            company_id = str(user["company_id"])
            work.emit("company.created", {"companyId": user["company_id"],
                                         "name": user["company_name"]}, company_id=company_id)
            await request_confirmation(request, work, user, role="ADMIN")
    except store.EmailTaken:
        raise ApiError(Errors.EMAIL_TAKEN, field="email") from None
    log.info("admin_signed_up", user_id=user["id"], company_id=company_id)
    return ok(Family.NORAH, {
        "id": user["id"], "firstName": user["first_name"], "lastName": user["last_name"],
        "email": user["email"], "role": user["role"], "enabled": user["enabled"],
        "companyName": user["company_name"],
    }, status=201, message="Successfully created new resource")


class AcceptInvitation(BaseModel):
    token: str = Field(min_length=16, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


async def accept_invitation(request: web.Request) -> web.Response:
    """A merchant user invited by e-mail sets a password, which enables the account.
    Limited per client (each attempt may cost an argon2 hash)."""
    body = await read_json(request, AcceptInvitation)
    await spend_public_write(request, (domain.WriteBudget(
        f"invite:client:{client_of(request)}",
        request.app[SETTINGS].invitation_accepts_per_client_per_hour, domain.HOUR),
        _too_many_requests))
    async with request.app[POOL].acquire() as conn:
        invited = await store.invited_user(conn, domain.token_hash(body.token))
    if invited is None:
        raise ApiError(Errors.INVALID_CONFIRMATION, field="token")
    try:
        domain.check_password(body.password, invited["email"])
    except ValueError as exc:
        raise ApiError(Errors.VALIDATION, field="password", detail=f"password: {exc}") from None
    password_hash = await hash_password(body.password)
    async with uow(request) as work:
        user = await store.use_confirmation(work.conn, domain.token_hash(body.token),
                                            purpose="invite", password_hash=password_hash)
        if user is None:
            raise ApiError(Errors.INVALID_CONFIRMATION, field="token")
        work.emit("user.confirmed", {"userId": user["id"], "enabled": True},
                  company_id=str(user["company_id"]), merchant_id=str(user["merchant_id"]))
    return ok(Family.NORAH, {"id": user["id"], "email": user["email"], "enabled": True},
              message="Password set; you can now sign in")


async def confirm_email(request: web.Request) -> web.Response:
    if request.method == "GET":
        body = domain.ConfirmEmail.model_validate({"token": request.query.get("token", "")})
    else:
        body = await read_json(request, domain.ConfirmEmail)
    async with uow(request) as work:
        user = await store.use_confirmation(work.conn, domain.token_hash(body.token))
        if user is None:
            raise ApiError(Errors.INVALID_CONFIRMATION, field="token")
        work.emit("user.confirmed", {"userId": user["id"], "enabled": True},
                  company_id=str(user["company_id"]))
    log.info("email_confirmed", user_id=user["id"])
    return ok(Family.NORAH, {"id": user["id"], "email": user["email"], "enabled": True},
              message="E-mail confirmed; you can now sign in")


ROUTES = Routes(
    post("/api/v1/auth/admin-sign-up", admin_sign_up,
         "Create a company and its first ADMIN (disabled until the e-mail is confirmed)",
         ("auth",), request=domain.AdminSignUp, status=201, auth=PUBLIC,
         response=answers.SignedUp),
    get("/api/v1/auth/confirm-email", confirm_email,
        "Confirm an e-mail address with the link's token", ("auth",), auth=PUBLIC,
        response=answers.EmailConfirmed),
    post("/api/v1/auth/confirm-email", confirm_email,
         "Confirm an e-mail address with the code", ("auth",),
         request=domain.ConfirmEmail, auth=PUBLIC, response=answers.EmailConfirmed),
    post("/api/v1/auth/accept-invitation", accept_invitation,
         "Set the password of an invited merchant user (enables the account)", ("auth",),
         request=AcceptInvitation, auth=PUBLIC, response=answers.EmailConfirmed),
)
