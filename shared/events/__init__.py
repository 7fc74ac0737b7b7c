"""Events between services: envelope, topology, outbox (unit of work + relay), consumer."""

from shared.events.consumer import Consumer, Handler, PermanentError
from shared.events.envelope import Event
from shared.events.outbox import OutboxRelay, UnitOfWork, outbox_clause
from shared.events.topology import Topology

__all__ = ["Consumer", "Event", "Handler", "OutboxRelay", "PermanentError", "Topology",
           "UnitOfWork", "outbox_clause"]
