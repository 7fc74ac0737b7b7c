"""Lookups other services make over internal HTTP (never routed by the gateway)."""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import BaseModel, Field

from services.auth import merchants_domain as md
from services.auth import merchants_store as ms
from services.auth import store as users_store
from services.auth.context import SECRETS
from shared.http.app import POOL
from shared.http.envelopes import json_response
from shared.http.errors import ApiError, Errors
from shared.http.middleware import principal_of, read_json
from shared.http.routes import Routes, get, post


class ResolveMerchant(BaseModel):
    user_name: str = Field(alias="merchantUserName", min_length=3, max_length=254)


class ResolveUser(BaseModel):
    email: str = Field(min_length=3, max_length=254)


class ResolvedUser(BaseModel):
    """A login that is not a merchant's: fees quotes system rules for it when the caller
    may see it (its company's ADMIN, a SUPER)."""

    role: str
    company_id: str | None = Field(serialization_alias="companyId")


def require_service(request: web.Request) -> None:
    if principal_of(request).kind != "service":
        raise ApiError(Errors.FORBIDDEN)


async def resolve_merchant(request: web.Request) -> web.Response:
    """`merchantUserName` -> the merchant's ids, status and plan; 404 when none."""
    require_service(request)
    body = await read_json(request, ResolveMerchant)
    async with request.app[POOL].acquire() as conn:
        row = await ms.merchant_by_user_name(conn, body.user_name)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    return json_response({"merchantId": row["id"], "companyId": row["company_id"],
                          "status": row["status"], "ratePlan": row["rate_plan"],
                          "merchantName": row["name"]})


async def resolve_user(request: web.Request) -> web.Response:
    """An e-mail -> its user's role and company; 404 when no (undeleted) login has it."""
    require_service(request)
    body = await read_json(request, ResolveUser)
    async with request.app[POOL].acquire() as conn:
        row = await users_store.user_by_email(conn, body.email)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="User")
    company = None if row["company_id"] is None else str(row["company_id"])
    return json_response(ResolvedUser(role=row["role"], company_id=company)
                         .model_dump(by_alias=True))


async def merchant(request: web.Request) -> web.Response:
    """A merchant's ids, status and plan by id (checkout asks before taking a payment)."""
    require_service(request)
    raw = request.match_info["merchantId"]
    row = None
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        async with request.app[POOL].acquire() as conn:
            row = await ms.merchant_by_id(conn, int(raw), company_id=None)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    return json_response(_account_json(row))


async def merchant_users(request: web.Request) -> web.Response:
    """The addresses to tell of a change to a merchant's settings (billing mails them
    when a settlement account changes): the merchant's own e-mail and its MERCHANT
    users', each once; `users` says which user has which."""
    require_service(request)
    raw = request.match_info["merchantId"]
    rows: list = []
    if _digits(raw):
        async with request.app[POOL].acquire() as conn:
            rows = await ms.merchant_recipients(conn, int(raw))
    if not rows:
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    emails: dict[str, str] = {}
    for row in rows:
        emails.setdefault(row["email"].lower(), row["email"])
    return json_response({
        "emails": list(emails.values()),
        "users": [{"userId": r["user_id"], "email": r["email"]} for r in rows
                  if r["user_id"] is not None]})


async def company(request: web.Request) -> web.Response:
    """A company's webServiceUrl by id (the notifier follows it as the company's
    webhook endpoint)."""
    require_service(request)
    raw = request.match_info["companyId"]
    row = None
    if _digits(raw):
        async with request.app[POOL].acquire() as conn:
            row = await users_store.company_by_id(conn, int(raw))
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="Company")
    return json_response({"companyId": row["id"], "webServiceUrl": row["web_service_url"]})


def _account_json(row) -> dict:
    """A merchant's account as checkout takes payments for it (the notifier mails the
    merchant and follows its webServiceUrl as an endpoint)."""
    return {"merchantId": row["id"], "companyId": row["company_id"],
            "merchantUid": str(row["uid"]), "status": row["status"],
            "ratePlan": row["rate_plan"], "merchantName": row["name"],
            "merchantEmail": row["email"], "webServiceUrl": row["web_service_url"],
            "returnUrl": row["return_url"], "paymentMethods": row["payment_methods"],
            # Its brand on the checkout pages (services/checkout/branding.py).
            "logoUrl": row["logo_url"], "accentColor": row["accent_color"]}


class PayeeAnswer(BaseModel):
    """`/internal/payees/...`: the merchant account a payment token pays, or why none."""

    merchant: dict | None = None
    problem: md.PayeeProblem | None = None


async def payee(request: web.Request) -> web.Response:
    """The merchant a NORAH payment token signed by user or merchant `id` pays, given its
    `mid` claim (`?mid=`, absent when the token names none): the signer's own merchant,
    one in the signer's scope, or for an ADMIN the company's default. The token's
    signature proves only who signed it; which merchant it may pay is decided here."""
    require_service(request)
    if principal_of(request).subject != "checkout":
        raise ApiError(Errors.FORBIDDEN)
    kind, raw = request.match_info["kind"], request.match_info["id"]
    mid = request.query.get("mid")
    if kind not in ("user", "merchant") or not _digits(raw):
        raise ApiError(Errors.NOT_FOUND, resource="Signer")
    if mid is not None and not _digits(mid):
        return json_response(PayeeAnswer(problem="out_of_scope").model_dump())
    async with request.app[POOL].acquire() as conn:
        if kind == "user":
            user = await users_store.user_by_id(conn, int(raw))
            signer = None if user is None else md.Signer(
                kind="user", role=user["role"], enabled=user["enabled"],
                company_id=user["company_id"], merchant_id=user["merchant_id"])
        else:
            own = await ms.merchant_by_id(conn, int(raw), company_id=None)
            signer = None if own is None else md.Signer(
                kind="merchant", role="MERCHANT", company_id=own["company_id"],
                merchant_id=own["id"])
        if signer is None:
            raise ApiError(Errors.NOT_FOUND, resource="Signer")
        rule = md.payee_rule(signer, None if mid is None else int(mid))
        row = None
        if rule.source == "default":
            row = await ms.default_merchant(conn, signer.company_id or 0)
            if row is None:
                rule = md.PayeeRule(problem="no_merchant")
        elif rule.merchant_id is not None:
            row = await ms.merchant_by_id(conn, rule.merchant_id, company_id=None)
            if row is None or not md.payee_in_scope(signer, row["company_id"]):
                rule, row = md.PayeeRule(problem="out_of_scope"), None
    answer = PayeeAnswer(merchant=None if row is None else _account_json(row),
                         problem=rule.problem)
    return json_response(answer.model_dump())


def _digits(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def _merchant_json(row) -> dict:
    return {"merchantId": row["id"], "companyId": row["company_id"], "status": row["status"],
            "ratePlan": row["rate_plan"], "merchantName": row["name"],
            "merchantUid": str(row["uid"])}


async def merchant_by_uid(request: web.Request) -> web.Response:
    """A merchant by its public `merchantUid` (NORAH's confirmation names it so)."""
    require_service(request)
    try:
        uid = uuid.UUID(request.match_info["uid"])
    except ValueError:
        raise ApiError(Errors.NOT_FOUND, resource="Merchant") from None
    async with request.app[POOL].acquire() as conn:
        row = await ms.merchant_by_uid(conn, uid)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    return json_response(_merchant_json(row))


async def transaction_secret(request: web.Request) -> web.Response:
    """The opened transaction-signing secret of a user or merchant (checkout signs and
    verifies NORAH payment tokens with it; the notifier signs a merchant's
    webServiceUrl callbacks with the merchant's). Only they may ask: a secret handed to
    any service would widen what one compromised service exposes."""
    require_service(request)
    kind, raw = request.match_info["kind"], request.match_info["id"]
    caller = principal_of(request).subject
    if not (caller == "checkout" or (caller == "notifier" and kind == "merchant")):
        raise ApiError(Errors.FORBIDDEN)
    row = None
    if kind in ("user", "merchant") and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        async with request.app[POOL].acquire() as conn:
            if kind == "user":
                row = await users_store.user_by_id(conn, int(raw))
            else:
                row = await ms.merchant_by_id(conn, int(raw), company_id=None)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="User" if kind == "user" else "Merchant")
    return json_response({"secret": request.app[SECRETS].open(row["secret"])})


async def app_by_id(request: web.Request) -> web.Response:
    """An app (`app_...`) as the Prices seed writes it, plus its company and merchant
    (checkout scopes prices by them); 404 when unknown or deleted."""
    require_service(request)
    app_id = request.match_info["appId"]
    row = None
    if md.APP_ID.match(app_id):
        async with request.app[POOL].acquire() as conn:
            row = await ms.app_by_id(conn, app_id, company_id=None)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="App")
    return json_response(md.render_app(row))


# The other services' calls: none is part of the public API.
ROUTES = Routes(
    post("/internal/merchants/resolve", resolve_merchant, None),
    post("/internal/users/resolve", resolve_user, None),
    get("/internal/merchants/by-uid/{uid}", merchant_by_uid, None),
    get("/internal/merchants/{merchantId}", merchant, None),
    get("/internal/merchants/{merchantId}/users", merchant_users, None),
    get("/internal/companies/{companyId}", company, None),
    get("/internal/secrets/{kind}/{id}", transaction_secret, None),
    get("/internal/payees/{kind}/{id}", payee, None),
    get("/internal/apps/{appId}", app_by_id, None),
)
