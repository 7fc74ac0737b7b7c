"""Webhook use cases: endpoints, secrets, fan-out of events, redelivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg

from services.notifier import webhooks_domain as domain
from services.notifier import webhooks_store as store
from shared.crypto import SecretBox
from shared.events import Event, bind_event
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.logging import get_logger
from shared.outbound import addresses, signing
from shared.settings import Settings

log = get_logger(__name__)
REDELIVERY_LIMIT = 1000  # events per time-range redelivery request


async def check_url(settings: Settings, url: str) -> None:
    try:
        await addresses.check_url(url, strict=settings.env == "prod")
    except addresses.AddressNotAllowed as exc:
        raise ApiError(Errors.WEBHOOK_URL_NOT_ALLOWED, field="url", detail=str(exc)) from None


async def merchant_info(client: InternalClient, merchant_id: int | str) -> dict | None:
    """The merchant's account from auth (ids, and webServiceUrl / merchantEmail when
    auth includes them); None when it does not exist. Raises ServiceUnavailable."""
    status, body = await client.request("auth", "GET", f"/internal/merchants/{merchant_id}")
    if status == 404:
        return None
    if status != 200:
        raise ServiceUnavailable("auth", f"HTTP {status}")
    return body


async def create_endpoint(conn: asyncpg.Connection, box: SecretBox, *, company_id: int,
                          merchant_id: int, body: domain.CreateEndpoint
                          ) -> tuple[asyncpg.Record, str]:
    secret = signing.new_secret()
    row = await store.insert_endpoint(
        conn, endpoint_id=domain.new_endpoint_id(), company_id=company_id,
        merchant_id=merchant_id, url=body.url, event_types=body.events, enabled=body.enabled,
        ordered=body.ordered, description=body.description, sealed_secret=box.seal(secret))
    return row, secret


async def rotate_secret(conn: asyncpg.Connection, box: SecretBox, row, *,
                        grace_seconds: float) -> tuple[asyncpg.Record, str]:
    """A new secret signs from now on; the current one keeps signing alongside it
    for the grace period, so receivers can switch without dropping a delivery."""
    secret = signing.new_secret()
    previous, until = None, None
    if grace_seconds > 0:
        previous = row["secret"]
        until = datetime.now(UTC) + timedelta(seconds=grace_seconds)
    updated = await store.rotate_secret(conn, row["endpoint_id"], sealed_secret=box.seal(secret),
                                        sealed_previous=previous, previous_until=until)
    return updated, secret


class Taker(Protocol):
    """Who sends deliveries as soon as they are committed (the dispatcher)."""
    lease_seconds: float

    def reserve(self, endpoint_id: str) -> bool: ...

    def unreserve(self, rows: list) -> None: ...


async def fan_out(conn: asyncpg.Connection, events: list[Event], taker: Taker | None = None
                  ) -> tuple[list[tuple[Event, list[str]]], list[dict[str, Any]]]:
    """One pending delivery per enabled endpoint of the event's merchant subscribed to
    its type, for each event in turn, written in the consumer's inbox transaction:
    one statement for the endpoints of them all, and when any has one, one to store
    the events and one for their deliveries. Returns (event, delivery ids) for the
    events that have deliveries, and the deliveries born leased to `taker` (those to
    unordered endpoints it has room for), as the rows it sends them from."""
    merchants: list[tuple[Event, int]] = []
    for event in events:
        if not event.merchant_id:
            continue
        try:
            merchants.append((event, int(event.merchant_id)))
        except ValueError:
            bind_event(event)
            log.warning("webhook_event_bad_merchant", event_id=str(event.id))
    if not merchants:
        return [], []
    endpoints: dict[int, list] = {}
    for row in await store.subscriptions(conn, sorted({m for _, m in merchants})):
        endpoints.setdefault(row["merchant_id"], []).append(row)
    stored, deliveries, leased, sends, out = [], [], [], [], []
    for event, merchant_id in merchants:
        targets = [e for e in endpoints.get(merchant_id, ())
                   if domain.ALL in e["event_types"] or event.type in e["event_types"]]
        if not targets:
            continue
        row = _event_row(event.id, event.type, event.company_id, merchant_id,
                         event.occurred_at, event.data)
        stored.append(row)
        ids = []
        for endpoint in targets:
            delivery_id = domain.new_delivery_id()
            ids.append(delivery_id)
            deliveries.append((delivery_id, endpoint["endpoint_id"], event.id))
            taken = taker is not None and not endpoint["ordered"] \
                and taker.reserve(endpoint["endpoint_id"])
            leased.append(taken)
            if taken:
                sends.append({**endpoint, "delivery_id": delivery_id, "event_id": event.id,
                              "event_type": event.type, "body": row[-1], "attempts": 1})
        out.append((event, ids))
    if stored:
        try:
            await store.insert_events(conn, stored)
            seqs = await store.insert_deliveries(
                conn, deliveries, "event", leased=leased,
                lease_seconds=taker.lease_seconds if taker is not None else 0.0)
        except BaseException:
            if taker is not None and sends:
                taker.unreserve(sends)  # the caller never sees them: give the room back
            raise
        for send in sends:
            send["seq"] = seqs[send["delivery_id"]]
    return out, sends


def _event_row(event_id: uuid.UUID, event_type: str, company_id, merchant_id: int,
               occurred_at: datetime, data: dict[str, Any]) -> tuple:
    body = domain.payload(event_id=str(event_id), event_type=event_type,
                          occurred_at=occurred_at, data=data)
    return (event_id, event_type,
            int(company_id) if company_id and str(company_id).isdigit() else None,
            merchant_id, occurred_at, body)


async def send_test(conn: asyncpg.Connection, endpoint, event_type: str) -> str:
    event_id = uuid.uuid4()
    await store.insert_events(conn, [_event_row(
        event_id, event_type, endpoint["company_id"], endpoint["merchant_id"],
        datetime.now(UTC), domain.sample_data(event_type, endpoint["endpoint_id"]))])
    [delivery_id] = await store.insert_deliveries(
        conn, [(domain.new_delivery_id(), endpoint["endpoint_id"], event_id)], "test")
    return delivery_id


async def redeliver(conn: asyncpg.Connection, endpoint, body: domain.Redeliver) -> list[str]:
    """New deliveries (same event ids, so receivers deduplicate) of one event or of
    the events in a time range, to one endpoint."""
    event_id = None
    if body.event_id is not None:
        try:
            event_id = uuid.UUID(body.event_id)
        except ValueError:
            raise ApiError(Errors.NOT_FOUND, resource="Event") from None
    rows = await store.events_for_redelivery(
        conn, endpoint_id=endpoint["endpoint_id"], merchant_id=endpoint["merchant_id"],
        event_id=event_id, since=body.since, until=body.until, only_failed=body.only_failed,
        limit=REDELIVERY_LIMIT)
    if event_id is not None and not rows:
        raise ApiError(Errors.NOT_FOUND, resource="Event")
    return list(await store.insert_deliveries(
        conn, [(domain.new_delivery_id(), endpoint["endpoint_id"], r["event_id"])
               for r in rows], "redelivery"))


async def sync_merchant_endpoint(conn: asyncpg.Connection, box: SecretBox, settings: Settings, *,
                                 merchant_id: int, company_id: int, url: str | None) -> None:
    """Keep the implicit endpoint of a merchant's webServiceUrl in step with its
    account: created (every event type, a fresh secret) when the URL is set, its
    URL updated when it changes, removed when it is cleared."""
    existing = await store.merchant_endpoint(conn, merchant_id)
    if url:
        try:
            await addresses.check_url(url, strict=settings.env == "prod")
        except addresses.AddressNotAllowed as exc:
            log.warning("webservice_url_refused", merchant_id=merchant_id, reason=str(exc))
            url = None
    if url and existing is None:
        await store.insert_endpoint(
            conn, endpoint_id=domain.new_endpoint_id(), company_id=company_id,
            merchant_id=merchant_id, url=url, event_types=[domain.ALL], enabled=True,
            ordered=False, description="webServiceUrl of the merchant account",
            sealed_secret=box.seal(signing.new_secret()), source="merchant")
    elif url:
        await store.set_endpoint_url(conn, existing["endpoint_id"], url)
    elif existing is not None:
        await store.delete_endpoint(conn, existing["endpoint_id"])
