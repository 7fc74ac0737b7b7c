"""NORAH account routes of the auth service (thin: parse, call, render)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from services.auth import domain, store
from services.auth.passwords import hash_password
from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.openapi import RouteDoc
from shared.logging import get_logger

log = get_logger(__name__)


def _uow(request: web.Request) -> UnitOfWork:
    return UnitOfWork(request.app[POOL], producer="auth", relay=request.app.get(RELAY))


async def admin_sign_up(request: web.Request) -> web.Response:
    body = await read_json(request, domain.AdminSignUp)
    async with request.app[POOL].acquire() as conn:
        if await store.email_exists(conn, body.email):
            raise ApiError(Errors.EMAIL_TAKEN, field="email")
    password_hash = await hash_password(body.password)
    token, token_hash = domain.new_token()
    try:
        async with _uow(request) as uow:
            user = await store.create_company_with_admin(uow.conn, body, password_hash)
            await store.add_confirmation(uow.conn, user["id"], token_hash,
                                         datetime.now(UTC) + domain.CONFIRMATION_TTL)
            company_id = str(user["company_uid"])
            uow.emit("company.created", {"companyId": company_id, "name": user["company_name"]},
                     company_id=company_id)
            uow.emit("user.created", {"userId": user["id"], "role": "ADMIN",
                                      "enabled": False}, company_id=company_id)
            uow.emit("email.requested", domain.confirmation_email(
                to=user["email"], first_name=user["first_name"],
                public_url=request.app[SETTINGS].public_url, token=token),
                company_id=company_id)
    except store.EmailTaken:
        raise ApiError(Errors.EMAIL_TAKEN, field="email") from None
    log.info("admin_signed_up", user_id=user["id"], company_id=company_id)
    return ok(Family.NORAH, {
        "id": user["id"], "firstName": user["first_name"], "lastName": user["last_name"],
        "email": user["email"], "role": user["role"], "enabled": user["enabled"],
        "companyName": user["company_name"],
    }, status=201, message="Successfully created new resource")


async def confirm_email(request: web.Request) -> web.Response:
    if request.method == "GET":
        body = domain.ConfirmEmail.model_validate({"token": request.query.get("token", "")})
    else:
        body = await read_json(request, domain.ConfirmEmail)
    async with _uow(request) as uow:
        user = await store.use_confirmation(uow.conn, domain.token_hash(body.token))
        if user is None:
            raise ApiError(Errors.INVALID_CONFIRMATION, field="token")
        uow.emit("user.confirmed", {"userId": user["id"], "enabled": True})
    log.info("email_confirmed", user_id=user["id"])
    return ok(Family.NORAH, {"id": user["id"], "email": user["email"], "enabled": True},
              message="E-mail confirmed; you can now sign in")


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/auth/admin-sign-up", admin_sign_up)
    app.router.add_get("/api/v1/auth/confirm-email", confirm_email)
    app.router.add_post("/api/v1/auth/confirm-email", confirm_email)


DOCS = [
    RouteDoc("POST", "/api/v1/auth/admin-sign-up",
             "Create a company and its first ADMIN (disabled until the e-mail is confirmed)",
             ("auth",), request=domain.AdminSignUp, status=201, auth=False),
    RouteDoc("GET", "/api/v1/auth/confirm-email",
             "Confirm an e-mail address with the link's token", ("auth",), auth=False),
    RouteDoc("POST", "/api/v1/auth/confirm-email",
             "Confirm an e-mail address with the code", ("auth",),
             request=domain.ConfirmEmail, auth=False),
]
