"""Apps (`app_...`), the objects Prices hang off: CRUD under /api/v1/apps.

NORAH-enveloped, but the app itself is written as the Prices seed writes it
(snake_case, times like 2022-08-03T17:13:36.275Z). ADMIN/SUPER manage the apps
of a company; a MERCHANT user those of its own merchant.
"""

from __future__ import annotations

from aiohttp import web

from services.auth import answers, store
from services.auth import merchants_domain as md
from services.auth import merchants_store as ms
from services.auth.context import uow
from services.auth.merchants_api import MANAGERS
from shared.authz import company_scope, merchant_scope, require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import read_json
from shared.http.pagination import page_of, query_text
from shared.http.routes import Routes, delete, get, patch, post, put

APP = "App"
ROLES = (*MANAGERS, "MERCHANT")


async def _app_in_scope(request: web.Request, conn, who, *, for_update: bool = False):
    app_id = request.match_info["appId"]
    row = None
    if md.APP_ID.match(app_id):
        row = await ms.app_by_id(conn, app_id, company_id=company_scope(who),
                                 only_merchant=merchant_scope(who), for_update=for_update)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=APP)
    return row


def _ids(row) -> dict:
    return {"company_id": str(row["company_id"]),
            "merchant_id": str(row["merchant_id"]) if row["merchant_id"] else None}


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = query_text(request, name)
    if value is not None and value not in allowed:
        raise ApiError(Errors.VALIDATION, field=name,
                       detail=f"{name}: must be {' or '.join(allowed)}")
    return value


async def create_app(request: web.Request) -> web.Response:
    who = require(request, *ROLES)
    body = await read_json(request, md.CreateApp)
    company_id = body.company_id if who.role == "SUPER" else int(who.company_id or 0)
    if company_id is None:
        raise ApiError(Errors.VALIDATION, field="companyId",
                       detail="companyId: required when a SUPER user creates an app")
    async with uow(request) as work:
        if not await store.company_exists(work.conn, company_id):
            raise ApiError(Errors.NOT_FOUND, resource="Company")
        row = await ms.create_app(work.conn, app_id=md.new_app_id(), company_id=company_id,
                                  merchant_id=merchant_scope(who), fields=body.changes())
        work.emit("app.created", {"appId": row["app_id"], "name": row["name"],
                                  "type": row["type"], "status": row["status"]}, **_ids(row))
    return ok(Family.NORAH, md.render_app(row), status=201, message="App created successfully")


async def list_apps(request: web.Request) -> web.Response:
    who = require(request, *ROLES, allow_keys=True)
    page = page_of(request)
    status = _choice(request, "status", ("active", "inactive"))
    app_type = _choice(request, "type", ("individual", "marketplace"))
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await ms.list_apps(
            conn, company_id=company_scope(who), only_merchant=merchant_scope(who),
            status=status, app_type=app_type, limit=page.per_page, offset=page.offset)
    return ok(Family.NORAH, [md.render_app(r) for r in rows],
              message="Apps retrieved successfully",
              pagination=page.envelope(total, total_is_estimate=estimated))


async def get_app(request: web.Request) -> web.Response:
    who = require(request, *ROLES, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await _app_in_scope(request, conn, who)
    return ok(Family.NORAH, md.render_app(row), message="App retrieved successfully")


async def update_app(request: web.Request) -> web.Response:
    who = require(request, *ROLES)
    body = await read_json(request, md.PatchApp if request.method == "PATCH" else md.AppFields)
    changes = body.changes()
    async with uow(request) as work:
        row = await _app_in_scope(request, work.conn, who, for_update=True)
        updated = await ms.update_app(work.conn, row["id"], changes)
        if changes:
            work.emit("app.updated", {"appId": row["app_id"], "changed": sorted(changes)},
                      **_ids(row))
    return ok(Family.NORAH, md.render_app(updated), message="App updated successfully")


async def delete_app(request: web.Request) -> web.Response:
    who = require(request, *ROLES)
    async with uow(request) as work:
        row = await _app_in_scope(request, work.conn, who, for_update=True)
        revoked = await ms.delete_app(work.conn, row["id"])
        work.emit("app.deleted", {"appId": row["app_id"]}, **_ids(row))
        for key in revoked:  # a key scoped to the app cannot outlive it
            work.emit("api_key.revoked", {"keyId": key["key_id"],
                                          "merchantId": key["merchant_id"],
                                          "reason": "app_deleted", "revokedBy": who.subject},
                      company_id=str(key["company_id"]), merchant_id=str(key["merchant_id"]))
    return ok(Family.NORAH, {"id": row["app_id"], "deleted": True,
                             "revoked_keys": [key["key_id"] for key in revoked]},
              message="App deleted successfully")


_TAGS = ("apps",)
ROUTES = Routes(
    post("/api/v1/apps", create_app, "Create an app (a MERCHANT user's app is its merchant's)",
         _TAGS, request=md.CreateApp, status=201, response=answers.App),
    get("/api/v1/apps", list_apps, "Apps in your scope (?status=&type=&page=&per_page=)",
        _TAGS, response=list[answers.App]),
    get("/api/v1/apps/{appId}", get_app, "One app", _TAGS, response=answers.App),
    patch("/api/v1/apps/{appId}", update_app, "Change some fields of an app", _TAGS,
          request=md.PatchApp, response=answers.App),
    put("/api/v1/apps/{appId}", update_app, "Replace an app's fields (absent ones reset)",
        _TAGS, request=md.AppFields, response=answers.App),
    delete("/api/v1/apps/{appId}", delete_app,
           "Delete an app (soft); API keys scoped to it are revoked", _TAGS,
           response=answers.DeletedApp),
)
