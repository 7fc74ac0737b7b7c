"""A payment's timeline (read-only): GET /api/v2/payments/{paymentId}/timeline.

Every status change is a `payment_history` row, written in the same transaction as
the event it emitted. The history does not record that event's id, so it is found
in the outbox: a row of the same transaction has the same `created_at` (now() is
the transaction's start time) and the event type of that status. Only an unambiguous
match is given (a single outbox row), and the outbox keeps published rows 7 days, so
`eventId` is null for older changes; the console uses it to list the webhook
deliveries of the event (`GET /api/v2/webhooks/deliveries?eventId=`). A history row
whose detail carries `eventId` is taken at its word.
"""

from __future__ import annotations

from aiohttp import web

from services.checkout import store
from services.checkout.payments import EVENT_OF
from shared.authz import company_scope, merchant_scope, require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.openapi import RouteDoc

EVENT_OF_STATUS = {"pending": "payment.created", "partially_refunded": "payment.refunded",
                   **EVENT_OF}


def _epoch(value) -> str:
    return str(int(value.timestamp()))


async def _history(conn, payment_pk: int) -> list:
    return await conn.fetch(
        "SELECT status, detail, at FROM payment_history WHERE payment_pk = $1 ORDER BY id",
        payment_pk)


async def _event_ids(conn, history: list) -> dict:
    """(created_at, event type) -> event id, for the pairs with exactly one outbox row."""
    if not history:
        return {}
    rows = await conn.fetch(
        """SELECT created_at, event_type, min(event_id::text) AS event_id, count(*) AS n
             FROM outbox WHERE created_at = ANY($1::timestamptz[])
              AND event_type LIKE 'payment.%'
            GROUP BY created_at, event_type""", sorted({h["at"] for h in history}))
    return {(r["created_at"], r["event_type"]): r["event_id"] for r in rows if r["n"] == 1}


async def timeline(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await store.payment(conn, request.match_info["paymentId"],
                                  company_id=company_scope(who), merchant_id=merchant_scope(who))
        if row is None:
            raise ApiError(Errors.NOT_FOUND, resource="Payment")
        history = await _history(conn, row["id"])
        found = await _event_ids(conn, history)
    events = []
    for h in history:
        detail = dict(h["detail"] or {})
        event_type = EVENT_OF_STATUS.get(h["status"])
        event_id = detail.pop("eventId", None) or found.get((h["at"], event_type))
        events.append({"status": h["status"], "at": _epoch(h["at"]), "event": event_type,
                       "eventId": event_id, "detail": detail})
    return ok(Family.NORPAY, {"paymentId": row["payment_id"], "trace": str(row["trace"]),
                              "status": row["status"], "events": events})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v2/payments/{paymentId}/timeline", timeline)


DOCS = [
    RouteDoc("GET", "/api/v2/payments/{paymentId}/timeline",
             "A payment's status changes, oldest first, with the id of the event each emitted "
             "(null when unknown) for its webhook deliveries", ("payments",)),
]
