"""A payment's timeline (read-only): GET /api/v2/payments/{paymentId}/timeline.

Every status change, and every declined attempt a checkout page let the shopper retry
(`attempt_failed`: attempt, method, reason, card), is a `payment_history` row, written
in the same transaction as the event it emitted, whose id it records (`eventId`); the
console lists that event's webhook deliveries with
`GET /api/v2/webhooks/deliveries?eventId=`.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from services.checkout import answers, store
from services.checkout.payments import ATTEMPT_FAILED, EVENT_OF
from shared.authz import company_scope, merchant_scope, require
from shared.http.app import POOL
from shared.http.envelopes import Family, ok
from shared.http.errors import ApiError, Errors
from shared.http.routes import Routes, get

EVENT_OF_STATUS = {"pending": "payment.created", "partially_refunded": "payment.refunded",
                   "attempt_failed": ATTEMPT_FAILED, **EVENT_OF}


def _epoch(value: datetime) -> str:
    return str(int(value.timestamp()))


async def timeline(request: web.Request) -> web.Response:
    who = require(request, allow_keys=True)
    async with request.app[POOL].acquire() as conn:
        row = await store.payment(conn, request.match_info["paymentId"],
                                  company_id=company_scope(who), merchant_id=merchant_scope(who),
                                  livemode=who.livemode)
        if row is None:
            raise ApiError(Errors.NOT_FOUND, resource="Payment")
        history = await store.history(conn, row["id"])
    events = []
    for h in history:
        detail = dict(h["detail"] or {})
        event_type = EVENT_OF_STATUS.get(h["status"])
        event_id = detail.pop("eventId", None)
        events.append({"status": h["status"], "at": _epoch(h["at"]), "event": event_type,
                       "eventId": event_id, "detail": detail})
    return ok(Family.NORPAY, {"paymentId": row["payment_id"], "trace": str(row["trace"]),
                              "status": row["status"], "events": events})


ROUTES = Routes(
    get("/api/v2/payments/{paymentId}/timeline", timeline,
        "A payment's status changes, oldest first, with the id of the event each emitted "
        "for its webhook deliveries", ("payments",), response=answers.PaymentTimeline),
)
