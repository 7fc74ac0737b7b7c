"""The routing table: which service serves which public route family.

Longest prefix wins. Paths are forwarded unchanged: a service serves the same
public path the gateway exposes, so its OpenAPI document needs no rewriting.
"""

from __future__ import annotations

ROUTES: tuple[tuple[str, str], ...] = (
    # NORAH /api/v1
    ("/api/v1/auth/", "auth"),
    ("/api/v1/admin/", "auth"),
    ("/api/v1/api-keys", "auth"),
    ("/api/v1/apps", "auth"),
    ("/api/v1/merchant/charges", "fees"),
    ("/api/v1/system/charges", "fees"),
    ("/api/v1/test-charge-calculation", "fees"),
    ("/api/v1/transaction/", "checkout"),
    ("/api/v1/transactions", "checkout"),
    ("/api/v1/dashboard/", "checkout"),
    ("/api/v1/receipts/", "checkout"),
    ("/api/v1/settlements", "billing"),
    # NorPay /api/v2
    ("/api/v2/payments", "checkout"),
    ("/api/v2/plans", "billing"),
    ("/api/v2/subscriptions", "billing"),
    ("/api/v2/invoices", "billing"),
    ("/api/v2/merchants/", "billing"),
    ("/api/v2/ledger", "billing"),
    ("/api/v2/balance", "billing"),
    ("/api/v2/payouts", "billing"),
    ("/api/v2/reconciliation", "billing"),
    ("/api/v2/webhooks", "notifier"),
    # Prices
    ("/prices/", "checkout"),
    ("/triggers/", "checkout"),
    # Pages and keys
    ("/check-out", "checkout"),
    ("/checkout/", "checkout"),
    ("/v1/checkout.js", "checkout"),
    ("/v1/", "checkout"),  # checkout.js releases, its frame script, the widget's API
    ("/.well-known/jwks.json", "auth"),
)

# A merchant's money-out settings are NORAH admin routes (auth's family) that billing
# serves: /api/v1/admin/merchants/{merchantId}/<name>[/...].
MERCHANT_SETTINGS: tuple[tuple[str, str], ...] = (
    ("settlement-accounts", "billing"),
    ("payout-schedule", "billing"),
)
_MERCHANTS = "/api/v1/admin/merchants/"

# Routes that take a file: their body may be NORGATE_MAX_UPLOAD_BYTES (streamed to the
# service) instead of NORGATE_MAX_BODY_BYTES. Idempotency-Key does not apply to them: the
# gateway would have to hold the whole file to fingerprint it, and the same file
# uploaded again is the same import already.
UPLOADS: frozenset[tuple[str, str]] = frozenset({("POST", "/api/v2/reconciliation/imports")})


def is_upload(method: str, path: str) -> bool:
    return (method, path.rstrip("/")) in UPLOADS


_BY_LENGTH = sorted(ROUTES, key=lambda r: len(r[0]), reverse=True)
UPSTREAMS: tuple[str, ...] = tuple(sorted({service for _, service in ROUTES}
                                          | {service for _, service in MERCHANT_SETTINGS}))


def route_for(path: str) -> str | None:
    """The service for `path`, or None when no family claims it."""
    if path.startswith(_MERCHANTS):
        parts = path[len(_MERCHANTS):].split("/")
        if len(parts) >= 2:
            for name, service in MERCHANT_SETTINGS:
                if parts[1] == name:
                    return service
    for prefix, service in _BY_LENGTH:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return service
    return None
