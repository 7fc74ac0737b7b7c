"""Webhook use cases: endpoints, secrets, fan-out of events, redelivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from services.notifier.webhooks import domain, store
from shared.crypto import SecretBox
from shared.events import Event, bind_event
from shared.http.client import InternalClient, ServiceUnavailable
from shared.http.errors import ApiError, Errors
from shared.internal_answers import MerchantAccount, answer
from shared.logging import get_logger
from shared.outbound import addresses, signing
from shared.settings import Settings

log = get_logger(__name__)
REDELIVERY_LIMIT = 1000  # events per time-range redelivery request


async def check_url(settings: Settings, url: str) -> None:
    try:
        await addresses.check_url(url, strict=settings.env == "prod",
                                  allowed_ports=settings.webhook_allowed_ports)
    except addresses.AddressNotAllowed as exc:
        raise ApiError(Errors.WEBHOOK_URL_NOT_ALLOWED, field="url", detail=str(exc)) from None


async def merchant_info(client: InternalClient, merchant_id: int | str) -> MerchantAccount | None:
    """The merchant's account from auth (ids, and webServiceUrl / merchantEmail when
    auth includes them); None when it does not exist. Raises ServiceUnavailable."""
    status, body = await client.request("auth", "GET", f"/internal/merchants/{merchant_id}")
    if status == 404:
        return None
    if status != 200:
        raise ServiceUnavailable("auth", f"HTTP {status}")
    return answer(MerchantAccount, body, "auth")


class CompanyInfo(BaseModel):
    """Auth's answer to GET /internal/companies/{companyId}."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    company_id: int = Field(alias="companyId")
    web_service_url: str | None = Field(default=None, alias="webServiceUrl")


async def company_info(client: InternalClient, company_id: int) -> CompanyInfo | None:
    """The company's webServiceUrl from auth; None when there is no such company.
    Raises ServiceUnavailable."""
    status, body = await client.request("auth", "GET", f"/internal/companies/{company_id}")
    if status == 404:
        return None
    if status != 200:
        raise ServiceUnavailable("auth", f"HTTP {status}")
    return answer(CompanyInfo, body, "auth")


async def create_endpoint(conn: asyncpg.Connection, box: SecretBox, *, company_id: int,
                          merchant_id: int, body: domain.CreateEndpoint, limit: int,
                          livemode: bool) -> tuple[asyncpg.Record, str]:
    """A new endpoint of the creator's mode, within the merchant's `limit` (its
    webServiceUrl's not counted: the account sets that one, and a consumer cannot be
    answered a 409)."""
    if await store.api_endpoints_locked(conn, merchant_id) >= limit:
        raise ApiError(Errors.WEBHOOK_ENDPOINT_LIMIT, limit=limit)
    secret = signing.new_secret()
    row = await store.insert_endpoint(
        conn, endpoint_id=domain.new_endpoint_id(), company_id=company_id,
        merchant_id=merchant_id, url=body.url, event_types=body.events, enabled=body.enabled,
        ordered=body.ordered, description=body.description, sealed_secret=box.seal(secret),
        livemode=livemode)
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

    def reserve(self, endpoint_id: str, tenant_id: int) -> bool: ...

    def unreserve(self, rows: list) -> None: ...


async def fan_out(conn: asyncpg.Connection, events: list[Event], taker: Taker | None = None
                  ) -> tuple[list[tuple[Event, list[str]]], list[dict[str, Any]]]:
    """One pending delivery per enabled endpoint subscribed to the event's type, for
    each event in turn: the endpoints of its merchant (those registered through the API
    only when of the event's mode; its webServiceUrl in both) and its company's
    webServiceUrl. Written in the consumer's inbox transaction: one statement for the
    endpoints of them all, and when any has one, one to store the events and one for
    their deliveries. Returns (event, delivery ids) for the events that have
    deliveries, and the deliveries born leased to `taker` (those to unordered
    endpoints it has room for), as the rows it sends them from."""
    merchants: list[tuple[Event, int, int | None]] = []
    for event in events:
        if not event.merchant_id:
            continue
        if not domain.digits(event.merchant_id):
            bind_event(event)
            log.warning("webhook_event_bad_merchant", event_id=str(event.id))
            continue
        company_id = int(event.company_id) if event.company_id and \
            domain.digits(event.company_id) else None
        merchants.append((event, int(event.merchant_id), company_id))
    if not merchants:
        return [], []
    endpoints: dict[int, list] = {}
    companies: dict[int, list] = {}
    for row in await store.subscriptions(conn, sorted({m for _, m, _ in merchants}),
                                         sorted({c for _, _, c in merchants if c})):
        if row["source"] == "company":
            companies.setdefault(row["company_id"], []).append(row)
        else:
            endpoints.setdefault(row["merchant_id"], []).append(row)
    stored, deliveries, leased, sends, out = [], [], [], [], []
    for event, merchant_id, company_id in merchants:
        livemode = domain.event_livemode(event.data)
        targets = [e for e in (*endpoints.get(merchant_id, ()),
                               *(companies.get(company_id, ()) if company_id else ()))
                   if (domain.ALL in e["event_types"] or event.type in e["event_types"])
                   and (e["source"] != "api" or e["livemode"] == livemode)]
        if not targets:
            continue
        row = _event_row(event.id, event.type, company_id, merchant_id,
                         event.occurred_at, event.data, livemode)
        stored.append(row)
        ids = []
        for endpoint in targets:
            delivery_id = domain.new_delivery_id()
            ids.append(delivery_id)
            deliveries.append((delivery_id, endpoint["endpoint_id"], event.id))
            taken = taker is not None and not endpoint["ordered"] \
                and taker.reserve(endpoint["endpoint_id"], domain.tenant_of(endpoint))
            leased.append(taken)
            if taken:
                sends.append({**endpoint, "delivery_id": delivery_id, "event_id": event.id,
                              "event_type": event.type, "body": row[-1], "attempts": 1,
                              "event_merchant_id": merchant_id})
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


def _event_row(event_id: uuid.UUID, event_type: str, company_id: int | None,
               merchant_id: int, occurred_at: datetime, data: dict[str, Any],
               livemode: bool) -> tuple:
    """The stored event, its body last (built once: every attempt sends these bytes)."""
    body = domain.payload(event_id=str(event_id), event_type=event_type,
                          occurred_at=occurred_at, data=data, livemode=livemode)
    return (event_id, event_type, company_id, merchant_id, occurred_at, livemode, body)


async def take_manual_sends(conn: asyncpg.Connection, tenant_id: int, wanted: int,
                            per_minute: int) -> None:
    """Count redeliveries and test events against the budget of the minute of the
    merchant, or of the company for its endpoint (shared by every replica: it is in the
    database); over it, a 429 saying when the next minute starts."""
    granted, left, seconds = await store.take_manual_sends(conn, tenant_id, wanted,
                                                           per_minute)
    if not granted:
        raise ApiError(Errors.WEBHOOK_SENDS_RATE_LIMITED, limit=per_minute, left=left,
                       wanted=wanted, seconds=seconds, headers={"Retry-After": str(seconds)})


def mode_of(endpoint, caller_livemode: bool) -> bool:
    """The mode a manual send to `endpoint` is in: an API endpoint's own; for an
    implicit one (both modes), the caller's."""
    return endpoint["livemode"] if endpoint["source"] == "api" else caller_livemode


async def send_test(conn: asyncpg.Connection, endpoint, event_type: str, *,
                    merchant_id: int, livemode: bool, per_minute: int) -> str:
    """A sample event of `merchant_id` (the endpoint's; for a company's endpoint the
    merchant the caller named, whose secret signs it) in `livemode` (mode_of), stored
    like a real one."""
    await take_manual_sends(conn, domain.tenant_of(endpoint), 1, per_minute)
    event_id = uuid.uuid4()
    await store.insert_events(conn, [_event_row(
        event_id, event_type, endpoint["company_id"], merchant_id,
        datetime.now(UTC), domain.sample_data(event_type, endpoint["endpoint_id"], livemode),
        livemode)])
    [delivery_id] = await store.insert_deliveries(
        conn, [(domain.new_delivery_id(), endpoint["endpoint_id"], event_id)], "test")
    return delivery_id


async def redeliver(conn: asyncpg.Connection, endpoint, body: domain.Redeliver, *,
                    livemode: bool, per_minute: int) -> list[str]:
    """New deliveries (same event ids, so receivers deduplicate) of one event or of
    the events in a time range (the oldest, at most REDELIVERY_LIMIT and at most the
    minute's budget) of the endpoint's merchant, or company, in `livemode` (mode_of),
    to one endpoint."""
    event_id = None
    if body.event_id is not None:
        try:
            event_id = uuid.UUID(body.event_id)
        except ValueError:
            raise ApiError(Errors.NOT_FOUND, resource="Event") from None
    rows = await store.events_for_redelivery(
        conn, endpoint_id=endpoint["endpoint_id"], merchant_id=endpoint["merchant_id"],
        company_id=endpoint["company_id"] if endpoint["merchant_id"] is None else None,
        livemode=livemode, event_id=event_id, since=body.since, until=body.until,
        only_failed=body.only_failed, limit=min(REDELIVERY_LIMIT, per_minute))
    if event_id is not None and not rows:
        raise ApiError(Errors.NOT_FOUND, resource="Event")
    if rows:
        await take_manual_sends(conn, domain.tenant_of(endpoint), len(rows), per_minute)
    return list(await store.insert_deliveries(
        conn, [(domain.new_delivery_id(), endpoint["endpoint_id"], r["event_id"])
               for r in rows], "redelivery"))


async def sync_merchant_endpoint(conn: asyncpg.Connection, box: SecretBox, settings: Settings, *,
                                 merchant_id: int, company_id: int, url: str | None) -> None:
    """Keep the implicit endpoint of a merchant's webServiceUrl in step with its
    account: created (every event type, a fresh secret) when the URL is set, its
    URL updated when it changes, removed when it is cleared."""
    await _sync_implicit(conn, box, settings, await store.merchant_endpoint(conn, merchant_id),
                         source="merchant", company_id=company_id, merchant_id=merchant_id,
                         url=url, description="webServiceUrl of the merchant account")


async def sync_company_endpoint(conn: asyncpg.Connection, box: SecretBox, settings: Settings, *,
                                company_id: int, url: str | None) -> None:
    """The same for a company's webServiceUrl (set at the ADMIN's sign-up): an endpoint
    of no merchant, which receives the events of every merchant of the company."""
    await _sync_implicit(conn, box, settings, await store.company_endpoint(conn, company_id),
                         source="company", company_id=company_id, merchant_id=None, url=url,
                         description="webServiceUrl of the company")


async def _sync_implicit(conn: asyncpg.Connection, box: SecretBox, settings: Settings,
                         existing, *, source: str, company_id: int, merchant_id: int | None,
                         url: str | None, description: str) -> None:
    if url:
        try:
            await addresses.check_url(url, strict=settings.env == "prod",
                                      allowed_ports=settings.webhook_allowed_ports)
        except addresses.AddressNotAllowed as exc:
            log.warning("webservice_url_refused", company_id=company_id,
                        merchant_id=merchant_id, reason=str(exc))
            url = None
    if url and existing is None:
        await store.insert_endpoint(
            conn, endpoint_id=domain.new_endpoint_id(), company_id=company_id,
            merchant_id=merchant_id, url=url, event_types=[domain.ALL], enabled=True,
            ordered=False, description=description,
            sealed_secret=box.seal(signing.new_secret()), source=source)
    elif url:
        await store.set_endpoint_url(conn, existing["endpoint_id"], url)
    elif existing is not None:
        await store.delete_endpoint(conn, existing["endpoint_id"])
