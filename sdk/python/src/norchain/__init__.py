"""NorChain SDK for the NorPay API.

    from norchain import NorPayClient

    norpay = NorPayClient(api_key="nk_your_merchant_key", base_url="http://127.0.0.1:8080")
    payment = norpay.payments.create(amount="1000000000000000000", currency="NOR",
                                     description="Product purchase")
    print(payment["checkoutUrl"])
"""

from norchain import webhooks
from norchain._base import DEFAULT_BASE_URL, new_idempotency_key
from norchain._client import AsyncNorPayClient, NorPayClient
from norchain._version import __version__
from norchain.errors import (
    APIConnectionError,
    AuthenticationError,
    Conflict,
    ConnectionError,
    InvalidRequest,
    NorPayError,
    NotFound,
    PaymentExpired,
    PaymentFailed,
    PermissionDenied,
    RateLimited,
    ServerError,
    Timeout,
)
from norchain.webhooks import WebhookVerificationError

__all__ = [
    "APIConnectionError", "AsyncNorPayClient", "AuthenticationError", "Conflict",
    "ConnectionError", "DEFAULT_BASE_URL", "InvalidRequest", "NorPayClient", "NorPayError",
    "NotFound", "PaymentExpired", "PaymentFailed", "PermissionDenied", "RateLimited",
    "ServerError", "Timeout", "WebhookVerificationError", "__version__",
    "new_idempotency_key", "webhooks",
]
