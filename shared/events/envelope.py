"""The event envelope every service publishes and consumes."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from shared import jsontext
from shared.events import payloads
from shared.events.payloads import InvalidPayload, Payload
from shared.ids import uuid7
from shared.logging import current_correlation_id

P = TypeVar("P", bound=Payload)


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """A fact that happened. `type` is past tense and is the routing key."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid7)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    occurred_at: datetime = Field(default_factory=_now)
    producer: str
    company_id: str | None = None
    merchant_id: str | None = None
    correlation_id: str | None = Field(default_factory=current_correlation_id)
    data: dict[str, Any] = Field(default_factory=dict)
    # `data` as its type's model, once checked (shared/events/payloads.py); not a field:
    # not on the wire, and not part of the event's equality.
    _payload: Payload | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # `data` is a dict: never hashable

    def checked(self) -> Payload:
        """`data` as its type's model (payloads.PAYLOADS), checked once; raises
        InvalidPayload for an unknown type or data that does not match."""
        if self._payload is None:
            self._payload = payloads.check(self.type, self.data)
        return self._payload

    def payload(self, model: builtins.type[P]) -> P:
        """The typed payload a handler reads, which must be a `model`: a handler of
        payment.* asks for `PaymentPayload` and gets it (or a subclass of it)."""
        found = self.checked()
        if not isinstance(found, model):
            raise InvalidPayload(f"{self.type} data is a {builtins.type(found).__name__}, "
                                 f"not a {model.__name__}")
        return found

    def to_bytes(self) -> bytes:
        return jsontext.dumps(self.model_dump(mode="json"))  # integers of any size

    @classmethod
    def from_bytes(cls, body: bytes) -> "Event":
        return cls.model_validate(jsontext.loads(body))


# A relay publishes the events of one batch as ONE message (a bundle): a JSON array of
# envelopes in outbox order, routed by every event type in it (the first as routing key,
# the others in the `CC` header, which RabbitMQ routes like extra routing keys), so each
# queue bound to any of them gets the bundle once, in order. A receiver keeps the events
# it is bound to and ignores the rest. A lone event is published as its own envelope.
BUNDLE_CONTENT_TYPE = "application/vnd.norgate.events+json"


def bundle_body(payloads: list[bytes]) -> bytes:
    """The bundle of already serialised envelopes, without parsing them again."""
    return b"[" + b",".join(payloads) + b"]"


def is_bundle(content_type: str | None) -> bool:
    return content_type == BUNDLE_CONTENT_TYPE


def bundled(body: bytes) -> list[Any]:
    """A bundle's elements, each still unvalidated (a dict, if well formed); a body that
    is not a JSON array raises ValueError."""
    elements = jsontext.loads(body)
    if not isinstance(elements, list):
        raise ValueError("an event bundle must be a JSON array")
    return elements


def topic_matches(pattern: str, key: str) -> bool:
    """Whether an AMQP topic binding `pattern` (`*` one word, `#` zero or more) takes
    routing key `key`: what a queue bound with it was routed a bundle for."""
    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and p[0] in ("*", k[0]) and match(p[1:], k[1:])
    return match(pattern.split("."), key.split("."))


@dataclass(frozen=True)
class Unreadable:
    """What could not be read as an event, with the body to dead-letter."""
    body: bytes
    error: str


def read_events(body: bytes, content_type: str | None,
                wanted: Callable[[str], bool]) -> list[Event | Unreadable]:
    """The events of a message, in order: a lone envelope (whatever its type: the queue
    was bound to it), or those of a bundle whose type is `wanted` (the receiver was
    routed the bundle for them). What cannot be read, or whose data does not match its
    type's schema (payloads.py), is an `Unreadable`, alone: one bad element does not
    cost the others."""
    if not is_bundle(content_type):
        try:
            return [_checked(Event.from_bytes(body))]
        except Exception as exc:
            return [Unreadable(body, str(exc))]
    try:
        elements = bundled(body)
    except Exception as exc:
        return [Unreadable(body, str(exc))]
    items: list[Event | Unreadable] = []
    for element in elements:
        if isinstance(element, dict) and not wanted(str(element.get("type"))):
            continue
        try:
            items.append(_checked(Event.model_validate(element)))
        except Exception as exc:
            items.append(Unreadable(jsontext.dumps(element), str(exc)))
    return items


def _checked(event: Event) -> Event:
    """`event`, its payload checked against its type's schema when the type has one
    (InvalidPayload if it does not match). A type outside the table is carried as it
    is: generic plumbing (the tests' own types); every type a service emits has one
    (emit refuses any other)."""
    if payloads.known(event.type):
        event.checked()
    return event


def events_of(body: bytes, content_type: str | None,
              wanted: Callable[[str], bool]) -> list[Event]:
    """read_events, raising ValueError on anything that cannot be read."""
    items = read_events(body, content_type, wanted)
    for item in items:
        if isinstance(item, Unreadable):
            raise ValueError(item.error)
    return items  # type: ignore[return-value]
