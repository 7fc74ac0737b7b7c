"""Every consumer queue and the event types bound to it, written down once.

Each service declares all of them when it connects, so an event published
before its consumer first started (a fresh deploy, a consumer crash-looping)
waits in its queue instead of being dropped by the exchange. A service's
`ConsumerSpec` must match its entry here; start-up fails otherwise.
"""

from __future__ import annotations

QUEUES: dict[tuple[str, str], tuple[str, ...]] = {
    # (consuming service, purpose): event types
    ("notifier", "email"): ("email.requested",),
}
