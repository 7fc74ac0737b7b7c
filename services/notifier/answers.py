"""What the notifier service's public routes answer on success, one model per answer object,
named by what it is (RouteDoc.response; the OpenAPI document shows them). Checked against
every answer the test suite sees (shared/http/answers.py): a field a handler adds
without adding it here fails the suite."""

from __future__ import annotations

from shared.http.answers import Answer, Pagination, SnakeAnswer


class DeliveryAttemptLog(Answer):
    attempt: int
    attempted_at: str
    status_code: int | None
    error: str | None
    response_time_ms: int
    response_body: str | None



class Delivery(Answer):
    """A delivery of one event to one endpoint, as the log lists it and a redelivery or
    a test event answers it (pending: no attempt yet)."""

    delivery_id: str
    endpoint_id: str
    event_id: str
    event: str
    livemode: bool
    status: str
    trigger: str
    attempts: int
    next_attempt_at: str | None
    last_attempt_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    completed_at: str | None


class DeliveryWithAttempts(Delivery):
    """One delivery with every attempt made (GET /webhooks/deliveries/{deliveryId})."""

    attempt_log: list[DeliveryAttemptLog]


class Endpoint(Answer):
    """A webhook endpoint (its secret never, but in the two answers below). A company's
    endpoint has no merchant; one for both modes no livemode."""

    endpoint_id: str
    merchant_id: int | None
    url: str
    events: list[str]
    enabled: bool
    ordered: bool
    description: str | None
    source: str
    livemode: bool | None
    disabled_reason: str | None
    failing_since: str | None
    secret_rotation_ends_at: str | None
    created_at: str
    updated_at: str


class CreatedEndpoint(Endpoint):
    """The endpoint as created, with its signing secret: shown this once."""

    secret: str


class RotatedSecret(Endpoint):
    """The endpoint with its new secret; the old one still signs until
    secretRotationEndsAt."""

    secret: str





class DeliveryList(Answer):
    deliveries: list[Delivery]
    pagination: Pagination



class EndpointListPagination(SnakeAnswer):
    page: int
    per_page: int
    total: int


class EndpointList(Answer):
    endpoints: list[Endpoint]
    pagination: EndpointListPagination


class Redeliveries(Answer):
    deliveries: list[Delivery]


class EventTypeList(Answer):
    event_types: list[str]
    all: str




class DeletedEndpoint(Answer):
    endpoint_id: str
    deleted: bool
