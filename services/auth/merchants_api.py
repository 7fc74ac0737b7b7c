"""Merchant management (NORAH /api/v1/admin/...).

SUPER sees every merchant, ADMIN those of its company, a MERCHANT user only its
own. A merchant outside the caller's scope answers 404 (docs/roles.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from services.auth import answers, domain, store
from services.auth import merchants_domain as md
from services.auth import merchants_store as ms
from services.auth.context import SECRETS, uow
from services.auth.passwords import hash_password
from shared.authz import company_scope, merchant_scope, require
from shared.crypto import random_secret
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.openapi import roles
from shared.http.pagination import page_of, query_text
from shared.http.routes import Routes, get, patch, post, put, route
from shared.logging import get_logger

log = get_logger(__name__)
MERCHANT = "Merchant"
MANAGERS = ("SUPER", "ADMIN")


def path_id(request: web.Request, name: str, resource: str) -> int:
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(Errors.NOT_FOUND, resource=resource)
    return int(raw)


async def merchant_in_scope(request: web.Request, conn, who, *,
                            for_update: bool = False):
    merchant = await ms.merchant_by_id(
        conn, path_id(request, "merchantId", MERCHANT), company_id=company_scope(who),
        only_merchant=merchant_scope(who), for_update=for_update)
    if merchant is None:
        raise ApiError(Errors.NOT_FOUND, resource=MERCHANT)
    return merchant


def _ids(merchant) -> dict:
    return {"company_id": str(merchant["company_id"]), "merchant_id": str(merchant["id"])}


async def create_merchant(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS)
    body = await read_json(request, md.CreateMerchant)
    company_id = body.company_id if who.role == "SUPER" else int(who.company_id or 0)
    if company_id is None:
        raise ApiError(Errors.VALIDATION, field="companyId",
                       detail="companyId: required when a SUPER user creates a merchant")
    async with request.app[POOL].acquire() as conn:
        if await store.email_exists(conn, body.merchant_email):
            raise ApiError(Errors.EMAIL_TAKEN, field="merchantEmail")
    # The login starts disabled with a password nobody knows; the invitation sets one.
    unusable_hash = await hash_password(random_secret())
    token, token_hash = domain.new_token()
    box = request.app[SECRETS]
    try:
        async with uow(request) as work:
            if not await store.company_exists(work.conn, company_id):
                raise ApiError(Errors.NOT_FOUND, resource="Company")
            merchant = await ms.create_merchant(work.conn, body, company_id=company_id,
                                                sealed_secret=box.seal(random_secret()))
            first, last = md.split_name(body.merchant_name)
            user_id = await store.create_user(
                work.conn, role="MERCHANT", email=body.merchant_email,
                password_hash=unusable_hash, first_name=first, last_name=last,
                company_id=company_id, merchant_id=merchant["id"], phone=None,
                sealed_secret=box.seal(random_secret()))
            await store.add_confirmation(work.conn, user_id, token_hash,
                                         datetime.now(UTC) + md.INVITATION_TTL,
                                         purpose="invite")
            ids = _ids(merchant)
            work.emit("merchant.created", {
                "merchantId": merchant["id"], "merchantUid": str(merchant["uid"]),
                "name": merchant["name"], "status": merchant["status"],
                "ratePlan": merchant["rate_plan"], "createdBy": who.subject}, **ids)
            work.emit("user.created", {"userId": user_id, "role": "MERCHANT", "enabled": False,
                                       "merchantId": merchant["id"]}, **ids)
            work.emit("email.requested", md.invitation_email(
                to=body.merchant_email, merchant_name=merchant["name"],
                public_url=request.app[SETTINGS].public_url, token=token), **ids)
    except store.EmailTaken:
        raise ApiError(Errors.EMAIL_TAKEN, field="merchantEmail") from None
    log.info("merchant_created", merchant_id=merchant["id"], company_id=company_id)
    return ok(Family.NORAH, {
        "merchantId": merchant["id"], "merchantName": merchant["name"],
        "merchantEmail": merchant["email"], "merchantUid": str(merchant["uid"]),
    }, status=201, message="Merchant account created successfully.")


async def list_merchants(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT", allow_keys=True)
    page = page_of(request)
    status = query_text(request, "status")
    if status is not None:
        status = status.upper()
        if status not in md.MERCHANT_STATUSES:
            raise ApiError(Errors.VALIDATION, field="status",
                           detail="status: must be DEVELOPMENT, ACTIVE or INACTIVE")
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await ms.list_merchants(
            conn, company_id=company_scope(who), only_merchant=merchant_scope(who),
            status=status, country=query_text(request, "country"),
            city=query_text(request, "city"), search=query_text(request, "search"),
            limit=page.per_page, offset=page.offset)
    return ok(Family.NORAH, [md.render_merchant(r) for r in rows],
              message="Merchants retrieved successfully",
              pagination=page.envelope(total, total_is_estimate=estimated))


async def get_merchant(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT", allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        merchant = await merchant_in_scope(request, conn, who)
    return ok(Family.NORAH, md.render_merchant(merchant),
              message="Merchant retrieved successfully")


async def update_merchant(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT")
    model = md.PatchMerchant if request.method == "PATCH" else md.ReplaceMerchant
    body = await read_json(request, model)
    changes = body.changes()
    async with uow(request) as work:
        merchant = await merchant_in_scope(request, work.conn, who, for_update=True)
        plan = changes.get("rate_plan", merchant["rate_plan"])
        if plan != merchant["rate_plan"] and who.role not in MANAGERS:
            raise ApiError(Errors.FORBIDDEN, field="ratePlan")
        updated = await ms.update_merchant(work.conn, merchant["id"], changes)
        if changes:
            changed = sorted(body.model_dump(by_alias=True, include=set(changes)))
            work.emit("merchant.updated", {"merchantId": merchant["id"], "changed": changed},
                      **_ids(merchant))
    return ok(Family.NORAH, md.render_merchant(updated),
              message="Merchant updated successfully")


async def _set_status(request: web.Request, status: str, event: str) -> web.Response:
    who = require(request, *MANAGERS)
    async with uow(request) as work:
        merchant = await merchant_in_scope(request, work.conn, who, for_update=True)
        updated = await ms.set_merchant_status(work.conn, merchant["id"], status)
        if updated is not None:  # already in that status: nothing happened, no event
            work.emit(event, {"merchantId": merchant["id"], "status": status},
                      **_ids(merchant))
            merchant = updated
    return ok(Family.NORAH, md.render_merchant(merchant),
              message=f"Merchant status is {status}")


async def activate(request: web.Request) -> web.Response:
    return await _set_status(request, "ACTIVE", "merchant.activated")


async def inactivate(request: web.Request) -> web.Response:
    return await _set_status(request, "INACTIVE", "merchant.inactivated")


async def make_default(request: web.Request) -> web.Response:
    """The company's default merchant: what its users' NORAH payment tokens pay when
    they name none (an ADMIN's /transaction/u/generate with the seed's body)."""
    who = require(request, *MANAGERS)
    async with uow(request) as work:
        merchant = await merchant_in_scope(request, work.conn, who, for_update=True)
        if not merchant["is_default"]:
            await ms.set_default_merchant(work.conn, merchant["company_id"], merchant["id"])
            work.emit("merchant.updated", {"merchantId": merchant["id"],
                                           "changed": ["isDefault"]}, **_ids(merchant))
            merchant = await ms.merchant_by_id(work.conn, merchant["id"], company_id=None)
    return ok(Family.NORAH, md.render_merchant(merchant),
              message="Merchant is the company's default")


async def merchant_secret(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT")
    async with request.app[POOL].acquire() as conn:
        merchant = await merchant_in_scope(request, conn, who)
    return ok(Family.NORAH, {"merchantId": merchant["id"],
                             "secret": request.app[SECRETS].open(merchant["secret"])},
              message="Merchant secret retrieved successfully")


async def regenerate_secret(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT")
    secret = random_secret()
    async with uow(request) as work:
        merchant = await merchant_in_scope(request, work.conn, who, for_update=True)
        await ms.set_merchant_secret(work.conn, merchant["id"], request.app[SECRETS].seal(secret))
        work.emit("merchant.secret_regenerated", {"merchantId": merchant["id"]},
                  **_ids(merchant))
    return ok(Family.NORAH, {"merchantId": merchant["id"], "secret": secret},
              message="Merchant secret regenerated; tokens signed with the old one stop working")


_TAGS = ("merchants",)
_ACTIONS = {"activate": activate, "inactivate": inactivate}
ROUTES = Routes(
    post("/api/v1/admin/create-merchant-account", create_merchant,
         "Create a merchant (DEVELOPMENT) and invite its MERCHANT login by e-mail",
         _TAGS, request=md.CreateMerchant, status=201, response=answers.CreatedMerchant),
    get("/api/v1/admin/merchants", list_merchants,
        "Merchants in your scope (?status=&country=&city=&search=&page=&per_page=)", _TAGS,
        response=list[answers.Merchant]),
    get("/api/v1/admin/merchants/{merchantId}", get_merchant, "One merchant", _TAGS,
        response=answers.Merchant),
    patch("/api/v1/admin/merchants/{merchantId}", update_merchant,
          "Change some merchant settings (ratePlan: SUPER/ADMIN only)", _TAGS,
          request=md.PatchMerchant, response=answers.Merchant),
    put("/api/v1/admin/merchants/{merchantId}", update_merchant,
        "Replace the merchant settings (absent optional fields are cleared)", _TAGS,
        request=md.ReplaceMerchant, response=answers.Merchant),
    [route(method, f"/api/v1/admin/merchants/{{merchantId}}/{action}", _ACTIONS[action],
           f"Set the merchant {status} (SUPER/ADMIN)", _TAGS, response=answers.Merchant,
           auth=roles("SUPER", "ADMIN"))
     for action, status in (("activate", "ACTIVE"), ("inactivate", "INACTIVE"))
     for method in ("POST", "PUT", "PATCH")],
    [route(method, "/api/v1/admin/merchants/{merchantId}/default", make_default,
           "Make the merchant its company's default (SUPER/ADMIN): the one a user "
           "payment token pays when it names no merchantUid", _TAGS,
           response=answers.Merchant, auth=roles("SUPER", "ADMIN"))
     for method in ("POST", "PUT")],
    get("/api/v1/admin/merchant/secret/{merchantId}", merchant_secret,
        "The merchant's transaction-signing secret", _TAGS, response=answers.MerchantSecret),
    post("/api/v1/admin/merchant/secret/{merchantId}/regenerate", regenerate_secret,
         "Replace the merchant's transaction-signing secret", _TAGS,
         response=answers.MerchantSecret),
)
