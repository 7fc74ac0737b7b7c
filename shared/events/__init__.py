"""Events between services: envelope, payload schemas, topology, outbox (unit of work +
relay), consumer."""

from shared.events.consumer import (
                                    BatchHandler,
                                    Consumer,
                                    Handler,
                                    PermanentError,
                                    bind_event,
                                    handles_batches,
)
from shared.events.envelope import Event
from shared.events.outbox import OutboxRelay, UnitOfWork, outbox_clause
from shared.events.payloads import InvalidPayload
from shared.events.topology import Topology

__all__ = ["BatchHandler", "Consumer", "Event", "Handler", "InvalidPayload", "OutboxRelay",
           "PermanentError", "Topology", "UnitOfWork", "bind_event", "handles_batches",
           "outbox_clause"]
