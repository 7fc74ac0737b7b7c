"""User management (NORAH /api/v1/admin/..., /api/v1/auth/secondary-admin-sign-up).

Who may do what is in docs/roles.md: SUPER everything; ADMIN the users of its
own company (never making anyone SUPER); MERCHANT none of these, but its own
secret. A user of another company answers 404.
"""

from __future__ import annotations

from aiohttp import web

from services.auth import answers, domain, store
from services.auth.api import request_confirmation
from services.auth.context import SECRETS, uow
from services.auth.passwords import hash_password
from shared.authz import company_scope, require
from shared.crypto import random_secret
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import read_json
from shared.http.pagination import page_of, query_text
from shared.http.routes import Routes, delete, get, post, put

USER = "User"


def _user_id(request: web.Request) -> int:
    raw = request.match_info["userId"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(Errors.NOT_FOUND, resource=USER)
    return int(raw)


async def _target(request: web.Request, conn, who) -> dict:
    user = await store.user_by_id(conn, _user_id(request), company_id=company_scope(who))
    if user is None:
        raise ApiError(Errors.NOT_FOUND, resource=USER)
    return user


async def create_super_user(request: web.Request) -> web.Response:
    who = require(request, "SUPER")
    body = await read_json(request, domain.NewUser)
    password_hash = await hash_password(body.password)
    try:
        async with uow(request) as work:
            user_id = await store.create_user(
                work.conn, role="SUPER", email=body.email, password_hash=password_hash,
                first_name=body.first_name, last_name=body.last_name, phone=body.phone,
                enabled=True, sealed_secret=request.app[SECRETS].seal(random_secret()))
            work.emit("user.created", {"userId": user_id, "role": "SUPER", "enabled": True,
                                       "createdBy": int(who.subject or 0)})
            user = await store.user_by_id(work.conn, user_id)
    except store.EmailTaken:
        raise ApiError(Errors.EMAIL_TAKEN, field="email") from None
    return ok(Family.NORAH, domain.render_user(user), status=201)


async def secondary_admin_sign_up(request: web.Request) -> web.Response:
    who = require(request, "SUPER", "ADMIN")
    body = await read_json(request, domain.SecondaryAdmin)
    company_id = body.company_id if who.role == "SUPER" else int(who.company_id or 0)
    if company_id is None:
        raise ApiError(Errors.VALIDATION, field="companyId",
                       detail="companyId: required when a SUPER user adds an ADMIN")
    password_hash = await hash_password(body.password)
    try:
        async with uow(request) as work:
            if not await store.company_exists(work.conn, company_id):
                raise ApiError(Errors.NOT_FOUND, resource="Company")
            user_id = await store.create_user(
                work.conn, role="ADMIN", email=body.email, password_hash=password_hash,
                first_name=body.first_name, last_name=body.last_name, phone=body.phone,
                company_id=company_id, sealed_secret=request.app[SECRETS].seal(random_secret()))
            user = await store.user_by_id(work.conn, user_id)
            await request_confirmation(request, work, user, role="ADMIN")
    except store.EmailTaken:
        raise ApiError(Errors.EMAIL_TAKEN, field="email") from None
    return ok(Family.NORAH, domain.render_user(user), status=201)


async def list_users(request: web.Request) -> web.Response:
    who = require(request, "SUPER", "ADMIN")
    page = page_of(request)
    role = query_text(request, "role")
    if role is not None and role not in ("SUPER", "ADMIN", "MERCHANT"):
        raise ApiError(Errors.VALIDATION, field="role",
                       detail="role: must be SUPER, ADMIN or MERCHANT")
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await store.list_users(
            conn, company_id=company_scope(who), role=role, search=query_text(request, "search"),
            limit=page.per_page, offset=page.offset)
    return ok(Family.NORAH, [domain.render_user(r) for r in rows],
              message="Users retrieved successfully",
              pagination=page.envelope(total, total_is_estimate=estimated))


async def update_user(request: web.Request) -> web.Response:
    who = require(request, "SUPER", "ADMIN")
    body = await read_json(request, domain.UpdateUser)
    async with uow(request) as work:
        target = await _target(request, work.conn, who)
        if body.role == "SUPER" and who.role != "SUPER":
            raise ApiError(Errors.CANNOT_GRANT_SUPER, field="role")
        if target["role"] == "SUPER" and body.role not in (None, "SUPER") \
                and target["company_id"] is None:
            raise ApiError(Errors.VALIDATION, field="role", detail=(
                "role: this SUPER user belongs to no company; create an ADMIN in a company "
                "instead"))
        if body.role is not None and (body.role == "MERCHANT") != (target["role"] == "MERCHANT"):
            raise ApiError(Errors.VALIDATION, field="role", detail=(
                "role: a MERCHANT login belongs to its merchant and cannot change role"))
        if str(target["id"]) == who.subject and (body.role not in (None, target["role"])
                                                 or body.status is False):
            raise ApiError(Errors.VALIDATION, field="role",
                           detail="role: you cannot change your own role or disable yourself")
        first, last = body.names()
        try:
            await store.update_user(work.conn, target["id"], first_name=first, last_name=last,
                                    email=body.email, role=body.role, enabled=body.status,
                                    notes=body.notes)
        except store.EmailTaken:
            raise ApiError(Errors.EMAIL_TAKEN, field="email") from None
        if body.status is False:
            await store.revoke_user_sessions(work.conn, target["id"])
        if body.status is False or (body.email and body.email.lower() != target["email"].lower()):
            await store.drop_pending_confirmations(work.conn, target["id"])
        changed = sorted(body.model_dump(exclude_none=True, by_alias=True))
        work.emit("user.updated", {"userId": target["id"], "changed": changed},
                  company_id=str(target["company_id"]) if target["company_id"] else None)
        user = await store.user_by_id(work.conn, target["id"])
    return ok(Family.NORAH, domain.render_user(user), message="User updated successfully")


async def delete_user(request: web.Request) -> web.Response:
    who = require(request, "SUPER", "ADMIN")
    async with uow(request) as work:
        target = await _target(request, work.conn, who)
        if str(target["id"]) == who.subject:
            raise ApiError(Errors.CANNOT_DELETE_SELF)
        await store.delete_user(work.conn, target["id"])
        work.emit("user.deleted", {"userId": target["id"]},
                  company_id=str(target["company_id"]) if target["company_id"] else None)
    return ok(Family.NORAH, {"id": target["id"], "deleted": True},
              message="User deleted successfully")


async def _secret_target(request: web.Request, conn) -> dict:
    """Your own secret, or (SUPER/ADMIN) that of a user in your scope."""
    who = require(request)
    if request.match_info["userId"] == who.subject:
        return await _target(request, conn, who.model_copy(update={"role": "SUPER"}))
    if who.role not in ("SUPER", "ADMIN"):
        raise ApiError(Errors.NOT_FOUND, resource=USER)
    return await _target(request, conn, who)


async def user_secret(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        target = await _secret_target(request, conn)
    secret = request.app[SECRETS].open(target["secret"])
    return ok(Family.NORAH, {"userId": target["id"], "secret": secret},
              message="User secret retrieved successfully")


async def regenerate_user_secret(request: web.Request) -> web.Response:
    secret = random_secret()
    async with uow(request) as work:
        target = await _secret_target(request, work.conn)
        await store.set_user_secret(work.conn, target["id"], request.app[SECRETS].seal(secret))
        work.emit("user.secret_regenerated", {"userId": target["id"]},
                  company_id=str(target["company_id"]) if target["company_id"] else None)
    return ok(Family.NORAH, {"userId": target["id"], "secret": secret},
              message="User secret regenerated; tokens signed with the old one stop working")


ROUTES = Routes(
    post("/api/v1/admin/create-super-user", create_super_user, "Create a SUPER user (SUPER only)",
         ("users",), request=domain.NewUser, status=201, response=answers.User),
    post("/api/v1/auth/secondary-admin-sign-up", secondary_admin_sign_up,
         "An ADMIN adds an ADMIN to its own company (confirmation e-mail sent)",
         ("users",), request=domain.SecondaryAdmin, status=201, response=answers.InvitedAdmin),
    get("/api/v1/admin/users", list_users,
        "Users in your scope (?role=&search=&page=&per_page=)", ("users",),
        response=list[answers.User]),
    put("/api/v1/admin/users/{userId}", update_user, "Update a user's name, e-mail, role, status",
        ("users",), request=domain.UpdateUser, response=answers.User),
    delete("/api/v1/admin/users/{userId}", delete_user, "Delete a user (never yourself)",
           ("users",), response=answers.DeletedUser),
    get("/api/v1/admin/user/secret/{userId}", user_secret,
        "A user's transaction-signing secret", ("users",), response=answers.UserSecret),
    post("/api/v1/admin/user/secret/{userId}/regenerate", regenerate_user_secret,
         "Replace a user's transaction-signing secret", ("users",),
         response=answers.UserSecret),
)
