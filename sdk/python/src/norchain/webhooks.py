"""Checking that a webhook really comes from NorPay.

Every delivery is signed twice (docs: "Webhooks"):

- ``X-NorPay-Signature``: hex HMAC-SHA256 of the raw body keyed with the whole
  ``whsec_...`` secret: the seed's ``verifyWebhook(payload, signature, secret)``.
  `verify` is that function (in constant time).
- ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``: Standard Webhooks.
  `verify_headers` checks them, and refuses a timestamp outside ``tolerance`` seconds,
  which protects against replays. Prefer it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Union

from norchain.errors import NorPayError

Payload = Union[str, bytes, bytearray]
DEFAULT_TOLERANCE = 300  # seconds, as Standard Webhooks libraries use
SECRET_PREFIX = "whsec_"


class WebhookVerificationError(NorPayError):
    """The signature, the timestamp or the payload is not acceptable."""


def _bytes(value: Payload) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError("payload must be the raw body as str or bytes, not a parsed object")


def sign(payload: Payload, secret: str) -> str:
    """The ``X-NorPay-Signature`` of a body: hex HMAC-SHA256 keyed with the secret."""
    return hmac.new(_bytes(secret), _bytes(payload), hashlib.sha256).hexdigest()


def verify(payload: Payload, signature: str | None, secret: str) -> bool:
    """The seed's ``verifyWebhook``: True when ``signature`` (the ``X-NorPay-Signature``
    header) is the hex HMAC-SHA256 of the raw ``payload`` keyed with ``secret``.

    Pass the raw body exactly as received, never re-serialised JSON."""
    if not signature or not secret:
        return False
    return hmac.compare_digest(sign(payload, secret).encode(),
                               signature.strip().lower().encode("utf-8", "replace"))


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("The webhook secret is not a whsec_<base64> secret") \
            from None


def standard_signature(msg_id: str, timestamp: int | str, payload: Payload,
                       secret: str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one secret."""
    content = f"{msg_id}.{timestamp}.".encode() + _bytes(payload)
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value if isinstance(value, str) else None
    return None


def verify_headers(payload: Payload, headers: Mapping[str, Any],
                   secret: str | Iterable[str], *, tolerance: int = DEFAULT_TOLERANCE,
                   now: float | None = None) -> Any:
    """Check the Standard Webhooks headers (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``) of a delivery and answer the parsed event::

        event = norchain.webhooks.verify_headers(request.body, request.headers, secret)
        if event["event"] == "payment.completed": ...

    ``secret`` may be several secrets (during a rotation). Raises
    `WebhookVerificationError` when a header is missing, the timestamp is more than
    ``tolerance`` seconds away, or no signature matches. Deduplicate by ``webhook-id``
    (the event's ``id``): delivery is at least once."""
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError(
            "Missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance} seconds away from now")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    offered = [part.split(",", 1)[1] for part in signatures.split()
               if part.startswith("v1,")]
    for candidate in secrets:
        expected = standard_signature(msg_id, stamp, payload, candidate).split(",", 1)[1]
        if any(hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace"))
               for sig in offered):
            try:
                return json.loads(_bytes(payload))
            except ValueError:
                raise WebhookVerificationError("The payload is not JSON") from None
    raise WebhookVerificationError("No webhook-signature matches the secret")


__all__ = ["WebhookVerificationError", "sign", "standard_signature", "verify",
           "verify_headers"]
