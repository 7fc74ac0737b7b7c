"""Webhook rules: what a merchant may register, what a delivery carries, and when
a failed attempt is tried again. No I/O here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import jsontext
from shared.events import catalog
from shared.ids import record_id

# Everything the webhooks consumer is bound to, except what only keeps the
# implicit webServiceUrl endpoints (a merchant's, a company's) in step.
MERCHANT_EVENTS = ("merchant.created", "merchant.updated")
COMPANY_EVENTS = ("company.created",)
EVENT_TYPES = tuple(t for t in catalog.QUEUES[("notifier", "webhooks")]
                    if t not in MERCHANT_EVENTS + COMPANY_EVENTS)
# Endpoint sources as the API shows them (the implicit ones follow an account's URL).
SOURCES = {"api": "api", "merchant": "webServiceUrl", "company": "companyWebServiceUrl"}
TEST_EVENT = "webhook.test"
ALL = "*"
RESPONSE_BODY_LIMIT = 2048  # characters of the receiver's answer kept in the log
RETRY_AFTER_CAP = 86_400.0


def digits(value: object) -> bool:
    """An id as plain ASCII digits: str.isdigit() also says yes to '²', which int()
    refuses."""
    text = str(value)
    return text.isascii() and text.isdigit() and len(text) <= 18


def event_livemode(data: dict[str, Any]) -> bool:
    """An event's mode (docs/modes.md): its data.livemode; absent, or anything but
    JSON true, is test."""
    return data.get("livemode") is True


def tenant_of(row) -> int:
    """Whose share of the dispatcher a send to this endpoint counts against, and whose
    budget its redeliveries take: the endpoint's merchant; for a company's endpoint
    (no merchant), the company as a tenant of its own, under its negated id, so it
    meets no merchant's."""
    merchant_id = row["merchant_id"]
    return merchant_id if merchant_id is not None else -row["company_id"]


def new_endpoint_id() -> str:
    return "ep_" + secrets.token_hex(12)


def new_delivery_id() -> str:
    return "dlv_" + record_id(24)


def _check_events(value: list[str]) -> list[str]:
    unknown = [t for t in value if t != ALL and t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; one of "
                         f"{', '.join(EVENT_TYPES)} or '*'")
    return sorted(set(value))


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class CreateEndpoint(_Body):
    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(default_factory=lambda: [ALL], min_length=1, max_length=50)
    enabled: bool = True
    ordered: bool = False
    description: str | None = Field(default=None, max_length=500)
    merchant_id: int | None = Field(default=None, alias="merchantId", ge=1)

    _events = field_validator("events")(_check_events)


class UpdateEndpoint(_Body):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[str] | None = Field(default=None, min_length=1, max_length=50)
    enabled: bool | None = None
    ordered: bool | None = None
    description: str | None = Field(default=None, max_length=500)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_events(value)

    def changes(self) -> dict[str, Any]:
        names = {"url": "url", "events": "event_types", "enabled": "enabled",
                 "ordered": "ordered", "description": "description"}
        return {names[k]: v for k, v in self.model_dump(exclude_unset=True).items()
                if k in names and not (v is None and k != "description")}


class SendTestEvent(_Body):
    event_type: str = Field(default=TEST_EVENT, alias="eventType")
    # A company's endpoint signs each callback with its event's merchant's secret: a
    # test event to it names the merchant it is of.
    merchant_id: int | None = Field(default=None, alias="merchantId", ge=1)

    @field_validator("event_type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value != TEST_EVENT and value not in EVENT_TYPES:
            raise ValueError(f"unknown event type {value!r}")
        return value


class Redeliver(_Body):
    """Send again one event, or every event of a time range, to one endpoint."""

    endpoint_id: str = Field(alias="endpointId", min_length=1, max_length=64)
    event_id: str | None = Field(default=None, alias="eventId", max_length=64)
    since: datetime | None = None
    until: datetime | None = None
    only_failed: bool = Field(default=False, alias="onlyFailed")

    @model_validator(mode="after")
    def _one_or_range(self) -> "Redeliver":
        if (self.event_id is None) == (self.since is None):
            raise ValueError("give either eventId or since (with an optional until)")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until must be after since")
        return self


def payload(*, event_id: str, event_type: str, occurred_at: datetime,
            data: dict[str, Any], livemode: bool) -> bytes:
    """The body merchants receive: the NorPay seed's shape (event, timestamp as an
    epoch-seconds string, data), plus `id`, the stable event id to deduplicate by, and
    `livemode`, last so that the seed's keys keep their order."""
    return jsontext.dumps({"id": event_id, "event": event_type,
                           "timestamp": str(int(occurred_at.timestamp())), "data": data,
                           "livemode": livemode})


def sample_data(event_type: str, endpoint_id: str, livemode: bool) -> dict[str, Any]:
    """A test event's data, with the mode in it as real events carry it."""
    if event_type == TEST_EVENT:
        data: dict[str, Any] = {"endpointId": endpoint_id,
                                "message": "This is a test event from norgate"}
    elif event_type.startswith("payment."):
        data = {"paymentId": "pay_test", "amount": "1000000000000000000", "currency": "NOR",
                "status": event_type.split(".", 1)[1], "payer": None,
                "transactionHash": None, "metadata": {"test": True}}
    else:
        data = {"test": True, "endpointId": endpoint_id}
    return {**data, "livemode": livemode}


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt and what to do next."""

    status: str  # succeeded | pending | failed
    next_attempt_at: datetime | None = None
    disable_reason: str | None = None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # '²'.isdigit() too, and float() refuses it
        return min(float(value), RETRY_AFTER_CAP)
    from email.utils import parsedate_to_datetime
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, min((when - now).total_seconds(), RETRY_AFTER_CAP))


def after_attempt(*, attempt: int, status_code: int | None, retry_after: float | None,
                  schedule: tuple[float, ...], now: datetime) -> Outcome:
    """2xx succeeds; 410 Gone fails and disables the endpoint; anything else (an
    error, a timeout, another status) is retried on the schedule, no sooner than
    Retry-After, until the schedule is used up."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome("succeeded")
    if status_code == 410:
        return Outcome("failed", disable_reason="gone")
    if attempt >= len(schedule):
        return Outcome("failed")
    delay = max(schedule[attempt], retry_after or 0.0)
    return Outcome("pending", next_attempt_at=now + timedelta(seconds=delay))


def should_disable(failing_since: datetime | None, now: datetime, disable_after: float) -> bool:
    return failing_since is not None and (now - failing_since).total_seconds() >= disable_after


def epoch(value: datetime | None) -> str | None:
    return None if value is None else str(int(value.timestamp()))


def render_endpoint(row, secret: str | None = None) -> dict[str, Any]:
    out = {
        "endpointId": row["endpoint_id"], "merchantId": row["merchant_id"],
        "url": row["url"], "events": list(row["event_types"]), "enabled": row["enabled"],
        "ordered": row["ordered"], "description": row["description"],
        "source": SOURCES[row["source"]],
        # An implicit endpoint receives both modes: null.
        "livemode": row["livemode"] if row["source"] == "api" else None,
        "disabledReason": row["disabled_reason"],
        "failingSince": epoch(row["failing_since"]),
        "secretRotationEndsAt": epoch(row["previous_secret_until"]),
        "createdAt": epoch(row["created_at"]), "updatedAt": epoch(row["updated_at"]),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def render_attempt(row) -> dict[str, Any]:
    return {"attempt": row["attempt"], "attemptedAt": epoch(row["attempted_at"]),
            "statusCode": row["status_code"], "error": row["error"],
            "responseTimeMs": row["response_ms"], "responseBody": row["response_body"]}


def render_delivery(row, attempts=None) -> dict[str, Any]:
    out = {
        "deliveryId": row["delivery_id"], "endpointId": row["endpoint_id"],
        "eventId": str(row["event_id"]), "event": row["event_type"],
        "livemode": row["livemode"], "status": row["status"], "trigger": row["trigger"],
        "attempts": row["attempts"],
        "nextAttemptAt": epoch(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "lastAttemptAt": epoch(row["last_attempt_at"]),
        "lastStatusCode": row["last_status_code"], "lastError": row["last_error"],
        "createdAt": epoch(row["created_at"]), "completedAt": epoch(row["completed_at"]),
    }
    if attempts is not None:
        out["attemptLog"] = [render_attempt(a) for a in attempts]
    return out


def disabled_email(*, to: str, endpoint_url: str, reason: str, public_url: str) -> dict:
    """Data of the `email.requested` event telling a merchant its endpoint stopped."""
    why = ("answered 410 Gone" if reason == "gone"
           else "kept failing for too long")
    return {
        "to": [to],
        "subject": "Your norgate webhook endpoint was disabled",
        "text": (f"We disabled your webhook endpoint {endpoint_url} because it {why}.\n"
                 "Events are kept: fix the receiver, enable the endpoint again "
                 "(PATCH /api/v2/webhooks/endpoints/{id} with enabled=true) and redeliver "
                 f"what you missed from {public_url}/api/v2/webhooks/deliveries.\n"),
    }
