"""Webhook endpoints and the delivery log (/api/v2/webhooks, NorPay envelope).

A MERCHANT (signed in or with an API key) manages its own endpoints; an ADMIN
those of its company's merchants (naming `merchantId` on create) and its company's
webServiceUrl endpoint; SUPER any. Secrets are answered only by create and
rotate-secret.

Everything is seen in the caller's mode (docs/modes.md, `Principal.livemode`): an
endpoint registered through the API is of the mode it was created in, the implicit
ones (webServiceUrl) are of both, and a delivery is of its event's mode. Another mode's
endpoint or delivery is a 404, as another tenant's is.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from services.notifier import answers
from services.notifier.context import BOX, CLIENT, DISPATCHER, uow
from services.notifier.webhooks import domain, store, use_cases
from shared.authz import company_scope, merchant_scope, require
from shared.http.app import POOL
from shared.http.client import ServiceUnavailable
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.middleware import SETTINGS, read_json
from shared.http.pagination import keyset_page_of, page_of, query_text
from shared.http.routes import Routes, delete, get, patch, post
from shared.principal import Principal

ENDPOINT, DELIVERY = "Webhook endpoint", "Webhook delivery"
STATUSES = ("pending", "succeeded", "failed", "canceled")


def _who(request: web.Request) -> Principal:
    return require(request, "SUPER", "ADMIN", "MERCHANT", allow_keys=True)


def _scope(who: Principal) -> dict:
    return {"company_id": company_scope(who), "merchant_id": merchant_scope(who),
            "livemode": who.livemode}


def _merchant_filter(request: web.Request, who: Principal) -> dict:
    scope = _scope(who)
    raw = request.query.get("merchantId")
    if raw and scope["merchant_id"] is None:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise ApiError(Errors.VALIDATION, field="merchantId",
                           detail="merchantId: must be a whole number")
        scope["merchant_id"] = int(raw)
    return scope


async def _owner(request: web.Request, who: Principal, merchant_id: int | None) -> tuple[int, int]:
    """(company id, merchant id) the new endpoint belongs to."""
    if who.role == "MERCHANT":
        own = int(who.merchant_id or 0)
        if merchant_id not in (None, own):
            raise ApiError(Errors.NOT_FOUND, resource="Merchant")
        return int(who.company_id or 0), own
    if merchant_id is None:
        raise ApiError(Errors.VALIDATION, field="merchantId", detail="merchantId: required")
    return await _merchant_of_company(request, who, merchant_id, None)


async def _merchant_of_company(request: web.Request, who: Principal, merchant_id: int,
                               company_id: int | None) -> tuple[int, int]:
    """(company id, merchant id) of a merchant in the caller's scope (and of
    `company_id` when given), asked of auth; else a 404."""
    try:
        info = await use_cases.merchant_info(request.app[CLIENT], merchant_id)
    except ServiceUnavailable:
        raise ApiError(Errors.UPSTREAM_UNAVAILABLE, service="auth") from None
    if info is None:
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    theirs = info.company_id
    if (who.role != "SUPER" and theirs != int(who.company_id or 0)) \
            or (company_id is not None and theirs != company_id):
        raise ApiError(Errors.NOT_FOUND, resource="Merchant")
    return theirs, info.merchant_id


async def _test_merchant(request: web.Request, who: Principal, endpoint,
                         named: int | None) -> int:
    """The merchant a test event to `endpoint` is of: the endpoint's own, or for a
    company's endpoint the one the caller names (its secret signs the event)."""
    if endpoint["merchant_id"] is not None:
        if named not in (None, endpoint["merchant_id"]):
            raise ApiError(Errors.VALIDATION, field="merchantId",
                           detail="merchantId: only a company's endpoint takes one; this "
                                  "endpoint's events are its own merchant's")
        return endpoint["merchant_id"]
    if named is None:
        raise ApiError(Errors.VALIDATION, field="merchantId",
                       detail="merchantId: required for a company's endpoint, whose "
                              "callbacks are signed with the secret of the event's merchant")
    return (await _merchant_of_company(request, who, named, endpoint["company_id"]))[1]


async def _endpoint(request: web.Request, conn, who: Principal, *, for_update: bool = False):
    row = await store.endpoint(conn, request.match_info["endpointId"], **_scope(who),
                               for_update=for_update)
    if row is None:
        raise ApiError(Errors.NOT_FOUND, resource=ENDPOINT)
    return row


# Endpoints ------------------------------------------------------------------------

async def create_endpoint(request: web.Request) -> web.Response:
    who = _who(request)
    body = await read_json(request, domain.CreateEndpoint)
    await use_cases.check_url(request.app[SETTINGS], body.url)
    company_id, merchant_id = await _owner(request, who, body.merchant_id)
    async with uow(request) as work:
        row, secret = await use_cases.create_endpoint(
            work.conn, request.app[BOX], company_id=company_id, merchant_id=merchant_id,
            body=body, limit=request.app[SETTINGS].webhook_max_endpoints,
            livemode=who.livemode)
    return ok(Family.NORPAY, domain.render_endpoint(row, secret), status=201,
              message="Webhook endpoint created; keep the secret, it is shown only now")


async def list_endpoints(request: web.Request) -> web.Response:
    who = _who(request)
    page = page_of(request)
    async with request.app[POOL].acquire() as conn:
        rows, total = await store.list_endpoints(conn, **_merchant_filter(request, who),
                                                 limit=page.per_page, offset=page.offset)
    return ok(Family.NORPAY, {"endpoints": [domain.render_endpoint(r) for r in rows],
                              "pagination": page.envelope(total)})


async def get_endpoint(request: web.Request) -> web.Response:
    who = _who(request)
    async with request.app[POOL].acquire() as conn:
        row = await _endpoint(request, conn, who)
    return ok(Family.NORPAY, domain.render_endpoint(row))


async def update_endpoint(request: web.Request) -> web.Response:
    who = _who(request)
    body = await read_json(request, domain.UpdateEndpoint)
    changes = body.changes()
    if "url" in changes:
        await use_cases.check_url(request.app[SETTINGS], changes["url"])
    async with uow(request) as work:
        row = await _endpoint(request, work.conn, who, for_update=True)
        if "url" in changes and row["source"] != "api":
            raise ApiError(Errors.VALIDATION, field="url",
                           detail="url: this endpoint follows the account's webServiceUrl; "
                                  "change it there")
        row = await store.update_endpoint(work.conn, row["endpoint_id"], changes)
    request.app[DISPATCHER].wake()
    return ok(Family.NORPAY, domain.render_endpoint(row), message="Webhook endpoint updated")


async def delete_endpoint(request: web.Request) -> web.Response:
    who = _who(request)
    async with uow(request) as work:
        row = await _endpoint(request, work.conn, who, for_update=True)
        await store.delete_endpoint(work.conn, row["endpoint_id"])
    return ok(Family.NORPAY, {"endpointId": row["endpoint_id"], "deleted": True},
              message="Webhook endpoint deleted")


async def rotate_secret(request: web.Request) -> web.Response:
    who = _who(request)
    grace = request.app[SETTINGS].webhook_rotation_grace_seconds
    async with uow(request) as work:
        row = await _endpoint(request, work.conn, who, for_update=True)
        row, secret = await use_cases.rotate_secret(work.conn, request.app[BOX], row,
                                                   grace_seconds=grace)
    return ok(Family.NORPAY, domain.render_endpoint(row, secret),
              message="Secret rotated; the previous one also signs until secretRotationEndsAt")


async def send_test_event(request: web.Request) -> web.Response:
    who = _who(request)
    body = await read_json(request, domain.SendTestEvent)
    async with request.app[POOL].acquire() as conn:
        row = await _endpoint(request, conn, who)
    # Asked of auth (a company's endpoint) before the transaction, not inside it.
    merchant_id = await _test_merchant(request, who, row, body.merchant_id)
    async with uow(request) as work:
        row = await _endpoint(request, work.conn, who)
        if not row["enabled"]:
            raise ApiError(Errors.WEBHOOK_ENDPOINT_DISABLED)
        delivery_id = await use_cases.send_test(
            work.conn, row, body.event_type, merchant_id=merchant_id,
            livemode=use_cases.mode_of(row, who.livemode),
            per_minute=request.app[SETTINGS].webhook_manual_sends_per_minute)
    request.app[DISPATCHER].wake()
    return await _render_deliveries(request, [delivery_id], status=202,
                                    message="Test event queued", single=True)


# Deliveries -----------------------------------------------------------------------

async def _render_deliveries(request: web.Request, delivery_ids: list[str], *, status: int,
                             message: str, single: bool = False) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        rows = await store.deliveries_by_id(conn, delivery_ids)
    rendered = [domain.render_delivery(r) for r in rows]
    return ok(Family.NORPAY, rendered[0] if single else {"deliveries": rendered},
              status=status, message=message)


async def list_deliveries(request: web.Request) -> web.Response:
    who = _who(request)
    page = keyset_page_of(request, default_per_page=20, key=int)
    status = query_text(request, "status")
    if status is not None and status not in STATUSES:
        raise ApiError(Errors.VALIDATION, field="status",
                       detail=f"status: one of {', '.join(STATUSES)}")
    event_id = query_text(request, "eventId")
    try:
        event_uuid = uuid.UUID(event_id) if event_id else None
    except ValueError:
        raise ApiError(Errors.VALIDATION, field="eventId",
                       detail="eventId: must be an event id (uuid)") from None
    async with request.app[POOL].acquire() as conn:
        found = await store.list_deliveries(
            conn, **_merchant_filter(request, who),
            endpoint_id=query_text(request, "endpointId"), event_id=event_uuid, status=status,
            event_type=query_text(request, "event"), limit=page.per_page, offset=page.offset,
            after=page.after)
    return ok(Family.NORPAY, {"deliveries": [domain.render_delivery(r) for r in found.rows],
                              "pagination": page.of(found)})


async def get_delivery(request: web.Request) -> web.Response:
    who = _who(request)
    async with request.app[POOL].acquire() as conn:
        row = await store.delivery(conn, request.match_info["deliveryId"], **_scope(who))
        if row is None:
            raise ApiError(Errors.NOT_FOUND, resource=DELIVERY)
        attempts = await store.attempts_of(conn, row["seq"])
    return ok(Family.NORPAY, domain.render_delivery(row, attempts))


async def redeliver_one(request: web.Request) -> web.Response:
    """Send one delivery's event again to the same endpoint (a new delivery)."""
    who = _who(request)
    async with uow(request) as work:
        row = await store.delivery(work.conn, request.match_info["deliveryId"], **_scope(who))
        if row is None:
            raise ApiError(Errors.NOT_FOUND, resource=DELIVERY)
        # The delivery was in the caller's scope and mode, so its endpoint is.
        endpoint = await store.endpoint(work.conn, row["endpoint_id"], company_id=None,
                                        merchant_id=None, livemode=None)
        if endpoint is None:
            raise ApiError(Errors.NOT_FOUND, resource=ENDPOINT)
        ids = await use_cases.redeliver(work.conn, endpoint, domain.Redeliver(
            endpoint_id=row["endpoint_id"], event_id=str(row["event_id"])),
            livemode=row["livemode"],
            per_minute=request.app[SETTINGS].webhook_manual_sends_per_minute)
    request.app[DISPATCHER].wake()
    return await _render_deliveries(request, ids, status=202, message="Redelivery queued",
                                    single=True)


async def redeliver(request: web.Request) -> web.Response:
    """Send again one event (`eventId`) or the events of a time range (`since`,
    `until`, optionally `onlyFailed`) to one endpoint."""
    who = _who(request)
    body = await read_json(request, domain.Redeliver)
    async with uow(request) as work:
        endpoint = await store.endpoint(work.conn, body.endpoint_id, **_scope(who))
        if endpoint is None:
            raise ApiError(Errors.NOT_FOUND, resource=ENDPOINT)
        ids = await use_cases.redeliver(
            work.conn, endpoint, body, livemode=use_cases.mode_of(endpoint, who.livemode),
            per_minute=request.app[SETTINGS].webhook_manual_sends_per_minute)
    request.app[DISPATCHER].wake()
    return await _render_deliveries(request, ids, status=202,
                                    message=f"{len(ids)} redeliveries queued")


async def list_event_types(request: web.Request) -> web.Response:
    """The catalogue of what an endpoint may subscribe to (the console's form reads it)."""
    _who(request)
    return ok(Family.NORPAY, {"eventTypes": list(domain.EVENT_TYPES), "all": domain.ALL})


_T = ("webhooks",)
ROUTES = Routes(
    post("/api/v2/webhooks/endpoints", create_endpoint,
         "Register a webhook endpoint (the signing secret is answered once)", _T,
         request=domain.CreateEndpoint, status=201, response=answers.CreatedEndpoint),
    get("/api/v2/webhooks/endpoints", list_endpoints, "List webhook endpoints", _T,
        response=answers.EndpointList),
    get("/api/v2/webhooks/event-types", list_event_types,
        "The event types an endpoint may subscribe to ('*': all of them)", _T,
        response=answers.EventTypeList),
    get("/api/v2/webhooks/endpoints/{endpointId}", get_endpoint, "Get a webhook endpoint", _T,
        response=answers.Endpoint),
    patch("/api/v2/webhooks/endpoints/{endpointId}", update_endpoint,
          "Update a webhook endpoint (url, events, enabled, ordered, description)", _T,
          request=domain.UpdateEndpoint, response=answers.Endpoint),
    delete("/api/v2/webhooks/endpoints/{endpointId}", delete_endpoint,
           "Delete a webhook endpoint", _T, response=answers.DeletedEndpoint),
    post("/api/v2/webhooks/endpoints/{endpointId}/rotate-secret", rotate_secret,
         "Rotate the signing secret (the old one signs too for a grace period)", _T,
         response=answers.RotatedSecret),
    post("/api/v2/webhooks/endpoints/{endpointId}/test", send_test_event,
         "Send a test event to the endpoint (in its mode; to a company's endpoint, "
         "of the merchantId given)", _T, request=domain.SendTestEvent, status=202,
         response=answers.Delivery),
    get("/api/v2/webhooks/deliveries", list_deliveries,
        "The delivery log (filters: endpointId, eventId, event, status, merchantId)", _T,
        response=answers.DeliveryList),
    get("/api/v2/webhooks/deliveries/{deliveryId}", get_delivery,
        "One delivery with every attempt (status code, response time, body)", _T,
        response=answers.DeliveryWithAttempts),
    post("/api/v2/webhooks/deliveries/{deliveryId}/redeliver", redeliver_one,
         "Send a delivery's event again", _T, status=202, response=answers.Delivery),
    post("/api/v2/webhooks/redeliver", redeliver,
         "Redeliver one event or every event of a time range to an endpoint", _T,
         request=domain.Redeliver, status=202, response=answers.Redeliveries),
)
