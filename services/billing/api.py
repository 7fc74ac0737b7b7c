"""Plan, subscription and tax-rate routes (/api/v2, NorPay envelope); helpers the
other billing route modules share."""

from __future__ import annotations

from aiohttp import web

from services.billing import answers, domain, invoices, store, subscriptions
from services.billing.context import CLIENT, now, uow
from shared.authz import company_scope, merchant_scope, require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.pagination import keyset_page_of, query_choice, query_text
from shared.http.routes import Routes, get, post
from shared.internal_answers import MerchantAccount, handler_answer
from shared.money import parse_minor_string
from shared.principal import Principal


def merchant_caller(request: web.Request) -> tuple[Principal, int, int]:
    """A MERCHANT user or API key: (who, company id, merchant id)."""
    who = require(request, "MERCHANT", allow_keys=True)
    if not who.merchant_id or not who.company_id:
        raise ApiError(Errors.FORBIDDEN)
    return who, int(who.company_id), int(who.merchant_id)


def scopes(who: Principal) -> dict:
    """The caller's tenant and mode: another tenant's or mode's object is not found."""
    return {"company_id": company_scope(who), "merchant_id": merchant_scope(who),
            "livemode": who.livemode}


async def merchant_name(request: web.Request, merchant_id: int) -> str:
    body = await request.app[CLIENT].get_json("auth", f"/internal/merchants/{merchant_id}")
    found = None if body is None else handler_answer(MerchantAccount, body, "auth")
    return (found.merchant_name if found else None) or f"Merchant {merchant_id}"


def invalid(exc: ValueError) -> ApiError:
    text = str(exc)
    field = text.split(":", 1)[0] if ":" in text else None
    return ApiError(Errors.VALIDATION, field=field, detail=text)


# Plans ----------------------------------------------------------------------------------

def render_plan(row) -> dict:
    return {"planId": row["plan_id"], "name": row["name"], "amount": str(int(row["amount"])),
            "currency": row["currency"], "interval": row["interval"],
            "intervalCount": row["interval_count"], "features": row["features"],
            "livemode": row["livemode"], "createdAt": domain.epoch(row["created_at"])}


async def create_plan(request: web.Request) -> web.Response:
    who, company_id, merchant_id = merchant_caller(request)
    body = await read_json(request, domain.CreatePlan)
    money = parse_minor_string(body.amount, body.currency)
    async with request.app[POOL].acquire() as conn:
        row = await store.insert_plan(
            conn, plan_id=domain.new_id("plan"), company_id=company_id,
            merchant_id=merchant_id, livemode=who.livemode, name=body.name, amount=money.minor,
            currency=money.currency.code, interval=body.interval,
            interval_count=body.interval_count, features=body.features)
    return ok(Family.NORPAY, render_plan(row), status=201)


async def get_plan(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await store.plan(conn, request.match_info["planId"], **scopes(who))
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="Plan")
    return ok(Family.NORPAY, render_plan(row))


async def list_plans(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    page = keyset_page_of(request, key=int)
    async with request.app[POOL].acquire() as conn:
        found = await store.plans(conn, **scopes(who), limit=page.per_page,
                                  offset=page.offset, after=page.after)
    return ok(Family.NORPAY, {"plans": [render_plan(r) for r in found.rows],
                              "pagination": page.of(found)})


# Subscriptions ----------------------------------------------------------------------------

async def create_subscription(request: web.Request) -> web.Response:
    who, company_id, merchant_id = merchant_caller(request)
    body = await read_json(request, domain.CreateSubscription)
    try:
        async with uow(request.app) as work:
            # Only a plan of the caller's mode: a subscription takes its plan's mode.
            plan = await store.plan(work.conn, body.plan_id, company_id=company_id,
                                    merchant_id=merchant_id, livemode=who.livemode)
            if plan is None:
                raise ApiError(Errors.NOT_FOUND, resource="Plan")
            row = await subscriptions.create(work, plan=plan, body=body, now=now(request.app))
    except ValueError as exc:
        raise invalid(exc) from None
    return ok(Family.NORPAY, subscriptions.render(row), status=201)


async def _subscription(request, conn, who, *, for_update=False):
    row = await store.subscription(conn, request.match_info["subscriptionId"],
                                   **scopes(who), for_update=for_update)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource="Subscription")
    return row


SUBSCRIPTION_STATUSES = ("trialing", "active", "past_due", "canceled")


async def list_subscriptions(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    page = keyset_page_of(request, key=int)
    status = query_choice(request, "status", SUBSCRIPTION_STATUSES)
    customer = query_text(request, "customerId")
    async with request.app[POOL].acquire() as conn:
        found = await store.subscriptions_page(
            conn, **scopes(who), status=status, customer_id=customer, limit=page.per_page,
            offset=page.offset, after=page.after)
    return ok(Family.NORPAY, {"subscriptions": [subscriptions.render(r) for r in found.rows],
                              "pagination": page.of(found)})


async def get_subscription(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await _subscription(request, conn, who)
    return ok(Family.NORPAY, subscriptions.render(row))


async def cancel_subscription(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, domain.CancelSubscription)
    async with uow(request.app) as work:
        row = await subscriptions.cancel(work, await _subscription(request, work.conn, who),
                                         body, now=now(request.app))
    data = subscriptions.render(row)
    data["status"] = "canceled"  # the seed's answer; still billed until endsAt at period end
    data["subscriptionStatus"] = row["status"]
    return ok(Family.NORPAY, data)


async def set_payment_method(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    body = await read_json(request, domain.SavedMethod)
    try:
        async with uow(request.app) as work:
            row = await subscriptions.set_method(
                work, await _subscription(request, work.conn, who), body, now=now(request.app))
    except ValueError as exc:
        raise invalid(exc) from None
    return ok(Family.NORPAY, subscriptions.render(row))


async def subscription_invoices(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        sub = await _subscription(request, conn, who)
        rows = await store.invoices_of_subscription(conn, sub["id"])
    out = []
    for row in rows:
        data = invoices.render(row, request.app[SETTINGS])
        data.update(subscriptionId=sub["subscription_id"], attempts=row["attempt_count"],
                    lastFailure=row["last_failure"],
                    periodStart=domain.epoch(row["period_start"]),
                    periodEnd=domain.epoch(row["period_end"]))
        out.append(data)
    return ok(Family.NORPAY, out)


ROUTES = Routes(
    post("/api/v2/plans/create", create_plan, "Create a plan", ("billing",),
         request=domain.CreatePlan, status=201, response=answers.Plan),
    get("/api/v2/plans", list_plans, "List plans (page, per_page)", ("billing",),
        response=answers.PlanList),
    get("/api/v2/plans/{planId}", get_plan, "Get a plan", ("billing",), response=answers.Plan),
    post("/api/v2/subscriptions/create", create_subscription, "Subscribe a customer to a plan",
         ("billing",), request=domain.CreateSubscription, status=201,
         response=answers.Subscription),
    get("/api/v2/subscriptions", list_subscriptions, "Subscriptions in scope, newest first "
        "(?status=&customerId=&page=&per_page=)", ("billing",),
        response=answers.SubscriptionList),
    get("/api/v2/subscriptions/{subscriptionId}", get_subscription, "Get a subscription",
        ("billing",), response=answers.Subscription),
    post("/api/v2/subscriptions/{subscriptionId}/cancel", cancel_subscription,
         "Cancel now, or at the end of the current period", ("billing",),
         request=domain.CancelSubscription, response=answers.Subscription),
    get("/api/v2/subscriptions/{subscriptionId}/invoices", subscription_invoices,
        "The subscription's invoices, one per billed period", ("billing",),
        response=list[answers.SubscriptionInvoice]),
    post("/api/v2/subscriptions/{subscriptionId}/payment-method", set_payment_method,
         "Save the off-session method renewals are charged to", ("billing",),
         request=domain.SavedMethod, response=answers.Subscription),
)
