"""The event envelope every service publishes and consumes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared import jsontext
from shared.logging import current_correlation_id


def _now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """A fact that happened. `type` is past tense and is the routing key."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    occurred_at: datetime = Field(default_factory=_now)
    producer: str
    company_id: str | None = None
    merchant_id: str | None = None
    correlation_id: str | None = Field(default_factory=current_correlation_id)
    data: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return jsontext.dumps(self.model_dump(mode="json"))  # integers of any size

    @classmethod
    def from_bytes(cls, body: bytes) -> "Event":
        return cls.model_validate(jsontext.loads(body))
