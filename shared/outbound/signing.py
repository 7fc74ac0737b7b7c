"""Webhook signatures: the NorPay seed's header and the Standard Webhooks headers.

One secret (`whsec_<base64>`) serves both:
- `X-NorPay-Signature`: hex HMAC-SHA256 of the raw body keyed with the whole secret
  string, exactly what the seed's `verifyWebhook(payload, signature, secret)` computes;
- `webhook-id` / `webhook-timestamp` / `webhook-signature`: `v1,<base64 HMAC-SHA256>`
  of `id.timestamp.body` keyed with the base64-decoded part after `whsec_`, as the
  Standard Webhooks specification (and its `standardwebhooks` library) expects.
During a rotation's grace period both the new and the previous secret sign.

A merchant's webServiceUrl (NORAH) is the exception: its `X-NorPay-Signature` is keyed
with the merchant's transaction-signing secret (`norpay_secret`), the one the NORAH
document says verifies callbacks, while the Standard Webhooks headers keep the
endpoint's own whsec_ secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def norpay_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(*, msg_id: str, timestamp: int, body: bytes, secret: str,
            previous: str | None = None, norpay_secret: str | None = None
            ) -> dict[str, str]:
    """The signature headers of one attempt; `previous` is the rotated-out secret
    while its grace period lasts. `norpay_secret`, when given, keys X-NorPay-Signature
    instead of `secret`; X-NorPay-Signature-Previous is then left out, since a
    whsec_-keyed value there would not match the key of X-NorPay-Signature."""
    signatures = [standard_signature(msg_id, timestamp, body, secret)]
    out = {
        "X-NorPay-Signature": norpay_signature(
            body, secret if norpay_secret is None else norpay_secret),
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
    }
    if previous:
        signatures.append(standard_signature(msg_id, timestamp, body, previous))
        if norpay_secret is None:
            out["X-NorPay-Signature-Previous"] = norpay_signature(body, previous)
    out["webhook-signature"] = " ".join(signatures)
    return out
