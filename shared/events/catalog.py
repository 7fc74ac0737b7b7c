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
    # a price's payment succeeded: use up a dynamic price, execute its trigger
    ("checkout", "prices"): ("payment.completed",),
    # Billing: dashboard projections, ledger postings, invoices paid by their payment.
    ("billing", "payments"): (
        "payment.created", "payment.processing", "payment.completed", "payment.failed",
        "payment.canceled", "payment.refunded",
    ),
    # Signed webhooks: every merchant-facing event (the NorPay seed's list plus what
    # checkout also emits), merchant.created/updated to follow a merchant's
    # webServiceUrl and company.created a company's. charge.* (fee rules) is platform
    # configuration, not delivered to merchants.
    ("notifier", "webhooks"): (
        "payment.created", "payment.processing", "payment.completed", "payment.failed",
        "payment.canceled", "payment.refunded", "payment.attempt_failed",
        "subscription.created", "subscription.updated", "subscription.canceled",
        "invoice.created", "invoice.paid", "invoice.overdue", "invoice.voided",
        "merchant.created", "merchant.updated", "company.created",
        "payout.created", "payout.paid", "payout.failed", "payout.canceled",
    ),
}

# Broadcast (not queued): every replica that keeps fee rules or quotes in memory hears
# these (services/fees/rules_cache.py, services/checkout/context.py).
CHARGE_EVENTS = ("charge.created", "charge.updated", "charge.deleted")
