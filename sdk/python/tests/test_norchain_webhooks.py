"""norchain.webhooks against the seed's verifyWebhook (run under node when it is
installed) and against the standardwebhooks library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import time

import pytest

from norchain import WebhookVerificationError, webhooks

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
BODY = json.dumps({"id": "3f0c7e4e-0000-4000-8000-000000000001", "event": "payment.completed",
                   "timestamp": "1640995200",
                   "data": {"paymentId": "pay_abc123", "amount": "1000000000000000000",
                            "currency": "NOR", "status": "completed",
                            "metadata": {"orderId": "order_123"}}}, separators=(",", ":"))

SEED_VERIFY = """
const crypto = require('crypto');
function verifyWebhook(payload, signature, secret) {
  const expectedSignature = crypto.createHmac('sha256', secret).update(payload).digest('hex');
  return signature === expectedSignature;
}
const [payload, signature, secret] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(verifyWebhook(payload, signature, secret)));
"""


def seed_verify(payload: str, signature: str, secret: str) -> bool:
    out = subprocess.run(["node", "-e", SEED_VERIFY], input=json.dumps(
        [payload, signature, secret]), capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def test_verify_accepts_the_seeds_hex_hmac_of_the_raw_body():
    signature = hmac.new(SECRET.encode(), BODY.encode(), hashlib.sha256).hexdigest()
    assert webhooks.verify(BODY, signature, SECRET)
    assert webhooks.verify(BODY.encode(), signature, SECRET)
    assert webhooks.sign(BODY, SECRET) == signature


def test_verify_refuses_another_secret_a_changed_body_or_no_signature():
    signature = webhooks.sign(BODY, SECRET)
    assert not webhooks.verify(BODY, signature, SECRET + "x")
    assert not webhooks.verify(BODY.replace("1000", "9000"), signature, SECRET)
    assert not webhooks.verify(BODY, None, SECRET)
    assert not webhooks.verify(BODY, "", SECRET)
    assert not webhooks.verify(BODY, "é" * 64, SECRET)
    with pytest.raises(TypeError):
        webhooks.verify(json.loads(BODY), signature, SECRET)  # never the parsed object


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_seeds_javascript_verifywebhook_agrees_with_verify():
    signature = webhooks.sign(BODY, SECRET)
    assert seed_verify(BODY, signature, SECRET) is True
    assert seed_verify(BODY, webhooks.sign(BODY, "whsec_other"), SECRET) is False


def _headers(msg_id: str, stamp: int, *secrets: str) -> dict:
    signature = " ".join(webhooks.standard_signature(msg_id, stamp, BODY, s) for s in secrets)
    return {"Webhook-Id": msg_id, "Webhook-Timestamp": str(stamp),
            "Webhook-Signature": signature}


def test_verify_headers_answers_the_event_for_a_good_signature():
    now = int(time.time())
    event = webhooks.verify_headers(BODY, _headers("msg_1", now, SECRET), SECRET)
    assert event["event"] == "payment.completed"
    assert event["data"]["paymentId"] == "pay_abc123"


def test_verify_headers_matches_the_standardwebhooks_library():
    standardwebhooks = pytest.importorskip("standardwebhooks")
    from datetime import datetime, timezone
    now = datetime.now(timezone.utc)
    theirs = standardwebhooks.Webhook(SECRET).sign("msg_2", now, BODY)
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": theirs}
    assert webhooks.verify_headers(BODY, headers, SECRET)["id"].startswith("3f0c")
    ours = _headers("msg_3", int(now.timestamp()), SECRET)
    standardwebhooks.Webhook(SECRET).verify(BODY, {k.lower(): v for k, v in ours.items()})


def test_verify_headers_refuses_stale_or_future_timestamps():
    now = int(time.time())
    for stamp in (now - 301, now + 301):
        with pytest.raises(WebhookVerificationError, match="300 seconds"):
            webhooks.verify_headers(BODY, _headers("msg_1", stamp, SECRET), SECRET)
    old = _headers("msg_1", now - 3600, SECRET)
    assert webhooks.verify_headers(BODY, old, SECRET, tolerance=7200)


def test_verify_headers_during_a_rotation_accepts_either_secret():
    new = "whsec_" + base64.b64encode(b"n" * 32).decode()
    headers = _headers("msg_1", int(time.time()), new, SECRET)
    assert webhooks.verify_headers(BODY, headers, SECRET)
    assert webhooks.verify_headers(BODY, headers, new)
    lone = _headers("msg_1", int(time.time()), new)
    assert webhooks.verify_headers(BODY, lone, ["whsec_" + "AAAA", new])


def test_verify_headers_refuses_bad_signatures_and_missing_headers():
    now = int(time.time())
    headers = _headers("msg_1", now, SECRET)
    with pytest.raises(WebhookVerificationError, match="No webhook-signature"):
        webhooks.verify_headers(BODY + " ", headers, SECRET)
    with pytest.raises(WebhookVerificationError, match="No webhook-signature"):
        webhooks.verify_headers(BODY, {**headers, "Webhook-Id": "msg_2"}, SECRET)
    with pytest.raises(WebhookVerificationError, match="Missing"):
        webhooks.verify_headers(BODY, {"Webhook-Id": "msg_1"}, SECRET)
    with pytest.raises(WebhookVerificationError, match="Unix seconds"):
        webhooks.verify_headers(BODY, {**headers, "Webhook-Timestamp": "soon"}, SECRET)
    with pytest.raises(WebhookVerificationError, match="whsec_"):
        webhooks.verify_headers(BODY, headers, "whsec_not base64!")
