"""Charge rules CRUD (NORAH /api/v1/merchant/charges and /api/v1/system/charges).

Who may do what (docs/fees.md has the table):
- merchant charges: SUPER any merchant's, ADMIN its company's merchants'; a MERCHANT
  user (or its API key) only reads its own. A merchant or charge outside the
  caller's scope answers 404, never 403 (docs/roles.md).
- system charges: only SUPER writes them; every signed-in caller reads them, since
  they are the fees every merchant without rules of its own pays.
Every change emits charge.created|updated|deleted through the outbox, which makes
every fees replica reload its rule cache (rules_cache.py), and answers only once every
replica's next quote uses it (RuleCache.written: read-your-writes).
"""

from __future__ import annotations

from aiohttp import web

from services.fees import answers, models, store
from services.fees.context import resolve_merchant, uow
from services.fees.rules_cache import RULES
from shared.authz import company_scope, merchant_scope, require
from shared.events import UnitOfWork
from shared.http.app import POOL
from shared.http.client import ServiceUnavailable
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import read_json
from shared.http.openapi import roles
from shared.http.pagination import page_of, query_text
from shared.http.routes import Routes, delete, get, post, put
from shared.internal_answers import MerchantAccount
from shared.money import get_currency
from shared.principal import Principal

CHARGE, MERCHANT = "Charge", "Merchant"
MANAGERS = ("SUPER", "ADMIN")
READERS = ("SUPER", "ADMIN", "MERCHANT")


def _charge_id(request: web.Request) -> int:
    raw = request.match_info["chargeId"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ApiError(Errors.NOT_FOUND, resource=CHARGE)
    return int(raw)


def _filters(request: web.Request) -> dict:
    """?currency=&status=&chargeCategory= (each optional)."""
    currency = query_text(request, "currency", max_length=16)
    status = query_text(request, "status")
    if status is not None and status.upper() not in models.CHARGE_STATUSES:
        raise ApiError(Errors.VALIDATION, field="status",
                       detail="status: must be ACTIVE or INACTIVE")
    category = query_text(request, "chargeCategory", max_length=50)
    return {"currency": None if currency is None else get_currency(currency).code,
            "status": None if status is None else status.upper(),
            "category": None if category is None else category.upper()}


def _in_scope(who: Principal, merchant: MerchantAccount) -> bool:
    if who.role == "SUPER":
        return True
    if who.role == "ADMIN":
        return str(merchant.company_id) == who.company_id
    return str(merchant.merchant_id) == who.merchant_id


async def _merchant(request: web.Request, who: Principal, user_name: str) -> MerchantAccount:
    """The merchant `merchantUserName` names, if the caller may see it; else 404."""
    try:
        merchant = await resolve_merchant(request, user_name)
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth") from None
    if merchant is None or not _in_scope(who, merchant):
        raise ApiError(Errors.NOT_FOUND, resource=MERCHANT)
    return merchant


async def _charge(request: web.Request, conn, who: Principal, scope: str, *,
                  for_update: bool = False):
    row = await store.charge_by_id(
        conn, _charge_id(request), scope=scope,
        company_id=company_scope(who) if scope == "MERCHANT" else None,
        only_merchant=merchant_scope(who) if scope == "MERCHANT" else None,
        for_update=for_update)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=CHARGE)
    return row


def _emit(work: UnitOfWork, event_type: str, row) -> None:
    work.emit(event_type, models.event_data(row), **models.event_ids(row))


async def _page(request: web.Request, scope: str, *, message: str, **scoping) -> web.Response:
    page = page_of(request)
    async with request.app[POOL].acquire() as conn:
        rows, total, estimated = await store.list_charges(
            conn, scope=scope, **scoping, **_filters(request), limit=page.per_page,
            offset=page.offset)
    return ok(Family.NORAH, [models.render_charge(r) for r in rows], message=message,
              pagination=page.envelope(total, total_is_estimate=estimated))


# Merchant charges ----------------------------------------------------------------

async def add_merchant_charge(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS)
    body = await read_json(request, models.NewMerchantCharge)
    merchant = await _merchant(request, who, body.merchant_user_name)
    async with uow(request) as work:
        row = await store.insert_charge(
            work.conn, body, scope="MERCHANT", merchant_id=merchant.merchant_id,
            company_id=merchant.company_id, merchant_user_name=body.merchant_user_name)
        _emit(work, "charge.created", row)
    await request.app[RULES].written()
    return ok(Family.NORAH, models.render_charge(row), status=201,
              message="Merchant charge created successfully")


async def list_merchant_charges(request: web.Request) -> web.Response:
    who = require(request, *READERS, allow_keys=True)
    return await _page(request, "MERCHANT", message="Merchant charges retrieved successfully",
                       company_id=company_scope(who), only_merchant=merchant_scope(who))


async def charges_of_merchant(request: web.Request) -> web.Response:
    who = require(request, *READERS, allow_keys=True)
    user_name = request.match_info["merchantUserName"].strip()
    merchant = await _merchant(request, who, user_name)
    return await _page(request, "MERCHANT", message="Merchant charges retrieved successfully",
                       only_merchant=merchant.merchant_id)


async def update_merchant_charge(request: web.Request) -> web.Response:
    who = require(request, *MANAGERS)
    body = await read_json(request, models.ReplaceMerchantCharge)
    async with uow(request) as work:
        current = await _charge(request, work.conn, who, "MERCHANT", for_update=True)
        named = body.merchant_user_name
        if named is not None and named.lower() != (current["merchant_user_name"] or "").lower():
            raise ApiError(Errors.VALIDATION, field="merchantUserName",
                           detail="merchantUserName: a charge cannot move to another merchant;"
                                  " delete it and add a new one")
        row = await store.replace_charge(work.conn, current["id"], body)
        _emit(work, "charge.updated", row)
    await request.app[RULES].written()
    return ok(Family.NORAH, models.render_charge(row),
              message="Merchant charge updated successfully")


async def _delete(request: web.Request, who, scope: str, label: str) -> web.Response:
    async with uow(request) as work:
        current = await _charge(request, work.conn, who, scope, for_update=True)
        row = await store.delete_charge(work.conn, current["id"])
        _emit(work, "charge.deleted", row)
    await request.app[RULES].written()
    return ok(Family.NORAH, models.render_charge(row),
              message=f"{label} charge deleted successfully")


async def delete_merchant_charge(request: web.Request) -> web.Response:
    return await _delete(request, require(request, *MANAGERS), "MERCHANT", "Merchant")


# System charges ------------------------------------------------------------------

async def add_system_charge(request: web.Request) -> web.Response:
    require(request, "SUPER")
    body = await read_json(request, models.SystemCharge)
    async with uow(request) as work:
        row = await store.insert_charge(work.conn, body, scope="SYSTEM")
        _emit(work, "charge.created", row)
    await request.app[RULES].written()
    return ok(Family.NORAH, models.render_charge(row), status=201,
              message="System charge created successfully")


async def list_system_charges(request: web.Request) -> web.Response:
    require(request, *READERS, allow_keys=True)
    return await _page(request, "SYSTEM", message="System charges retrieved successfully")


async def update_system_charge(request: web.Request) -> web.Response:
    who = require(request, "SUPER")
    body = await read_json(request, models.SystemCharge)
    async with uow(request) as work:
        current = await _charge(request, work.conn, who, "SYSTEM", for_update=True)
        row = await store.replace_charge(work.conn, current["id"], body)
        _emit(work, "charge.updated", row)
    await request.app[RULES].written()
    return ok(Family.NORAH, models.render_charge(row),
              message="System charge updated successfully")


async def delete_system_charge(request: web.Request) -> web.Response:
    return await _delete(request, require(request, "SUPER"), "SYSTEM", "System")


_TAGS = ("charges",)
_FILTERS = "?currency=&status=&chargeCategory=&page=&per_page="
def _by(operation: str, what: str) -> dict:
    return {"operationId": operation, "parameters": [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
         "description": what}]}


# The seed's GET /merchant/charges/{merchantUserName} and PUT, DELETE
# /merchant/charges/{chargeId} are one path template: documented once, as {id}.
_BY_ID = "/api/v1/merchant/charges/{id}"
ROUTES = Routes(
    post("/api/v1/merchant/charges/add", add_merchant_charge,
         "Add a charge rule for one merchant, named by merchantUserName (SUPER, or ADMIN "
         "of the merchant's company); it replaces the system rules of its currency and "
         "category for that merchant", _TAGS, request=models.NewMerchantCharge, status=201,
         response=answers.ChargeRule, auth=roles(*MANAGERS)),
    get("/api/v1/merchant/charges", list_merchant_charges,
        f"Merchant charge rules in your scope ({_FILTERS})", _TAGS,
        response=list[answers.ChargeRule], auth=roles(*READERS)),
    get("/api/v1/merchant/charges/{merchantUserName}", charges_of_merchant,
        f"One merchant's charge rules ({_FILTERS})", _TAGS,
        response=list[answers.ChargeRule], auth=roles(*READERS), documented_as=_BY_ID,
        extra=_by("listChargesOfMerchant", "The merchant's user name (merchantUserName)")),
    put("/api/v1/merchant/charges/{chargeId}", update_merchant_charge,
        "Replace a merchant charge rule (SUPER, or ADMIN of the merchant's company); "
        "its merchant never changes", _TAGS, request=models.ReplaceMerchantCharge,
        response=answers.ChargeRule, auth=roles(*MANAGERS), documented_as=_BY_ID,
        extra=_by("replaceMerchantCharge", "The charge rule's id (chargeId)")),
    delete("/api/v1/merchant/charges/{chargeId}", delete_merchant_charge,
           "Delete a merchant charge rule; the merchant falls back to the system rules "
           "when it has no other", _TAGS, response=answers.ChargeRule,
           auth=roles(*MANAGERS), documented_as=_BY_ID,
           extra=_by("deleteMerchantCharge", "The charge rule's id (chargeId)")),
    post("/api/v1/system/charges/add", add_system_charge,
         "Add a system charge rule, for every merchant without rules of its own (SUPER)",
         _TAGS, request=models.SystemCharge, status=201, response=answers.ChargeRule,
         auth=roles("SUPER")),
    get("/api/v1/system/charges", list_system_charges,
        f"System charge rules (any signed-in caller; {_FILTERS})", _TAGS,
        response=list[answers.ChargeRule]),
    put("/api/v1/system/charges/{chargeId}", update_system_charge,
        "Replace a system charge rule (SUPER)", _TAGS, request=models.SystemCharge,
        response=answers.ChargeRule, auth=roles("SUPER")),
    delete("/api/v1/system/charges/{chargeId}", delete_system_charge,
           "Delete a system charge rule (SUPER)", _TAGS, response=answers.ChargeRule,
           auth=roles("SUPER")),
)
