"""Merchant API keys: create, list, update, revoke, and the gateway's internal lookup.

Two kinds:
  secret       `nk_test_...`, server side only; shown once, only a SHA-256 is stored
               `nk_live_...`  (keys are ~238-bit random, so a fast hash suffices and a
                             database dump reveals no usable key).
  publishable  `nk_pub_...`  safe to embed in a web page (checkout.js); the gateway
                             accepts it only on the widget's routes and only from its
                             allowed origins, so it is kept and listed in full.
Each key acts in one mode, test or live (docs/modes.md), kept in its record; a key made
before modes (`nk_` + 40) is a test key. Only a merchant past DEVELOPMENT gets live keys.
"""

from __future__ import annotations

from aiohttp import web

from services.auth import answers
from services.auth import merchants_domain as md
from services.auth import merchants_store as ms
from services.auth.context import uow
from services.auth.merchants_api import MANAGERS, MERCHANT
from shared.authz import company_scope, merchant_scope, require
from shared.crypto import sha256_hex
from shared.http.app import POOL
from shared.http.envelopes import Family, json_response, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import principal_of, read_json
from shared.http.pagination import page_of, query_text
from shared.http.routes import Routes, delete, get, patch, post
from shared.logging import get_logger

log = get_logger(__name__)
API_KEY = "API key"
TOUCH_EVERY_SECONDS = 60  # last_used_at is written at most once a minute per key


def _merchant_param(request: web.Request) -> int | None:
    raw = query_text(request, "merchantId")
    if raw is not None and (not (raw.isascii() and raw.isdigit()) or len(raw) > 18):
        raise ApiError(Errors.VALIDATION, field="merchantId",
                       detail="merchantId: must be a merchant id")
    return int(raw) if raw else None


async def create_key(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT")
    body = await read_json(request, md.CreateApiKey)
    if who.role == "MERCHANT":
        merchant_id = body.merchant_id or int(who.merchant_id or 0)
    elif body.merchant_id is None:
        raise ApiError(Errors.VALIDATION, field="merchantId",
                       detail="merchantId: required unless you are the merchant's own user")
    else:
        merchant_id = body.merchant_id
    publishable = body.type == "publishable"
    key = md.new_publishable_key() if publishable else md.new_api_key(body.mode)
    async with uow(request) as work:
        merchant = await ms.merchant_by_id(work.conn, merchant_id, company_id=company_scope(who),
                                           only_merchant=merchant_scope(who))
        if merchant is None:
            raise ApiError(Errors.NOT_FOUND, resource=MERCHANT)
        problem = md.key_mode_problem(body.mode, merchant["status"])
        if problem:
            raise ApiError(Errors.VALIDATION, field="mode", detail=problem)
        app_pk = None
        if body.app_id is not None:
            app = await ms.app_by_id(work.conn, body.app_id, company_id=merchant["company_id"])
            # An app of the same company: company-wide, or this merchant's own.
            if app is None or app["merchant_id"] not in (None, merchant["id"]):
                raise ApiError(Errors.NOT_FOUND, resource="App")
            app_pk = app["id"]
        row = await ms.create_api_key(
            work.conn, key_id=md.new_key_id(), prefix=md.shown_prefix(key),
            key_hash=sha256_hex(key), name=body.name, company_id=merchant["company_id"],
            merchant_id=merchant["id"], app_pk=app_pk, mode=body.mode,
            created_by=int(who.subject) if who.subject and who.subject.isdigit() else None,
            publishable_key=key if publishable else None,
            allowed_origins=body.allowed_origins)
        work.emit("api_key.created", {
            "keyId": row["key_id"], "prefix": row["prefix"], "name": row["name"],
            "merchantId": merchant["id"], "appId": row["app_public_id"],
            "type": row["kind"], "mode": row["mode"], "createdBy": who.subject},
            company_id=str(merchant["company_id"]), merchant_id=str(merchant["id"]))
    log.info("api_key_created", key_id=row["key_id"], merchant_id=merchant["id"],
             type=row["kind"], mode=row["mode"])
    data = {"keyId": row["key_id"], "key": key, "prefix": row["prefix"], "name": row["name"],
            "merchantId": row["merchant_id"], "appId": row["app_public_id"],
            "mode": row["mode"], "createdAt": row["created_at"].isoformat()}
    if publishable:  # a key without "type" is a secret key
        data["type"] = "publishable"
        data["allowedOrigins"] = list(row["allowed_origins"])
        message = "Publishable key created; embed it in checkout.js on its allowed origins"
    else:
        message = "API key created; store it now, it is not shown again"
    return ok(Family.NORAH, data, status=201, message=message)


async def list_keys(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT")
    page = page_of(request)
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await ms.list_api_keys(
            conn, company_id=company_scope(who), only_merchant=merchant_scope(who),
            merchant_id=_merchant_param(request), limit=page.per_page, offset=page.offset)
    return ok(Family.NORAH, [md.render_key(r) for r in rows],
              message="API keys retrieved successfully",
              pagination=page.envelope(total, total_is_estimate=estimated))


async def revoke_key(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS, "MERCHANT")
    key_id = request.match_info["keyId"]
    if not md.KEY_ID.match(key_id):
        raise ApiError(Errors.NOT_FOUND, resource=API_KEY)
    async with uow(request) as work:
        row = await ms.api_key_by_id(work.conn, key_id, company_id=company_scope(who),
                                     only_merchant=merchant_scope(who))
        if row is None:
            raise ApiError(Errors.NOT_FOUND, resource=API_KEY)
        if await ms.revoke_api_key(work.conn, row["id"]):  # idempotent: one event, once
            work.emit("api_key.revoked", {"keyId": key_id, "merchantId": row["merchant_id"],
                                          "reason": "revoked", "revokedBy": who.subject},
                      company_id=str(row["company_id"]), merchant_id=str(row["merchant_id"]))
        row = await ms.api_key_by_id(work.conn, key_id, company_id=None)
    return ok(Family.NORAH, md.render_key(row), message="API key revoked")


async def update_key(request: web.Request) -> web.Response:
    """Rename a key, or change a publishable key's allowed origins."""
    who = require(request, *MANAGERS, "MERCHANT")
    key_id = request.match_info["keyId"]
    if not md.KEY_ID.match(key_id):
        raise ApiError(Errors.NOT_FOUND, resource=API_KEY)
    body = await read_json(request, md.UpdateApiKey)
    async with uow(request) as work:
        row = await ms.api_key_by_id(work.conn, key_id, company_id=company_scope(who),
                                     only_merchant=merchant_scope(who))
        if row is None:
            raise ApiError(Errors.NOT_FOUND, resource=API_KEY)
        if body.allowed_origins is not None and row["kind"] != "publishable":
            raise ApiError(Errors.VALIDATION, field="allowedOrigins",
                           detail="allowedOrigins: only publishable keys have allowed "
                                  "origins; a secret key must never reach a browser")
        await ms.update_api_key(work.conn, row["id"], name=body.name,
                                allowed_origins=body.allowed_origins)
        row = await ms.api_key_by_id(work.conn, key_id, company_id=None)
    return ok(Family.NORAH, md.render_key(row), message="API key updated")


async def verify_key(request: web.Request) -> web.Response:
    """Internal: which merchant a presented key belongs to (for the gateway)."""
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)
    body = await read_json(request, md.VerifyApiKey)
    if not body.key.startswith(md.API_KEY_PREFIX):
        raise ApiError(Errors.API_KEY_NOT_FOUND)
    async with request.app[POOL].acquire() as conn:
        row = await ms.live_api_key(conn, sha256_hex(body.key),
                                    touch_every_seconds=TOUCH_EVERY_SECONDS)
        if row is None:
            raise ApiError(Errors.API_KEY_NOT_FOUND)
        if row["touch_due"]:  # most calls within the minute write nothing
            await ms.touch_api_key(conn, row["id"], every_seconds=TOUCH_EVERY_SECONDS)
    found = {
        "keyId": row["key_id"], "merchantId": str(row["merchant_id"]),
        "companyId": str(row["company_id"]), "appId": row["app_public_id"],
        "plan": row["rate_plan"], "merchantActive": row["merchant_status"] == "ACTIVE",
        "mode": row["mode"],  # the gateway's Principal.mode for this key
    }
    if row["kind"] == "publishable":  # the gateway treats a key without "type" as secret
        found["type"] = "publishable"
        found["allowedOrigins"] = list(row["allowed_origins"])
    return json_response(found)


_TAGS = ("api-keys",)
ROUTES = Routes(
    post("/api/v1/api-keys", create_key,
         "Create an API key for a merchant: type secret (default; nk_test_... or "
         "nk_live_..., the key is in this answer only) or publishable (nk_pub_..., for "
         "checkout.js, with allowedOrigins); mode test (default) or live (not for a "
         "DEVELOPMENT merchant)",
         _TAGS, request=md.CreateApiKey, status=201, response=answers.CreatedApiKey),
    get("/api/v1/api-keys", list_keys,
        "API keys in your scope, by prefix, with their mode "
        "(?merchantId=&page=&per_page=)", _TAGS, response=list[answers.ApiKey]),
    patch("/api/v1/api-keys/{keyId}", update_key,
          "Rename a key, or change a publishable key's allowedOrigins", _TAGS,
          request=md.UpdateApiKey, response=answers.ApiKey),
    delete("/api/v1/api-keys/{keyId}", revoke_key, "Revoke an API key (idempotent)", _TAGS,
           response=answers.ApiKey),
    post("/internal/api-keys/verify", verify_key, None),
)
