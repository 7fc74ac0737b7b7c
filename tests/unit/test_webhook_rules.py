"""Webhook signing, the retry schedule and the address policy, without I/O."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notifier.webhooks import domain
from services.notifier.webhooks.merchant_secrets import MerchantSecrets, SecretUnavailable
from shared.events import Event
from shared.http.client import ServiceUnavailable
from shared.outbound import addresses, signing

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


def test_both_signatures_verify_with_the_secret_the_merchant_holds():
    secret = signing.new_secret()
    body = b'{"event":"payment.completed","timestamp":"1640995200","data":{}}'
    ts = int(datetime.now(UTC).timestamp())
    headers = signing.headers(msg_id="evt-1", timestamp=ts, body=body, secret=secret)
    assert secret.startswith("whsec_")
    # The seed's verifyWebhook: hex HMAC-SHA256 of the raw body with the secret string.
    assert headers["X-NorPay-Signature"] == hmac.new(secret.encode(), body,
                                                     hashlib.sha256).hexdigest()
    assert Webhook(secret).verify(body, headers)["event"] == "payment.completed"


def test_during_rotation_the_old_and_the_new_secret_both_verify():
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"id":"x"}'
    ts = int(datetime.now(UTC).timestamp())
    headers = signing.headers(msg_id="m", timestamp=ts, body=body, secret=new, previous=old)
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    assert headers["X-NorPay-Signature"] == signing.norpay_signature(body, new)
    assert headers["X-NorPay-Signature-Previous"] == signing.norpay_signature(body, old)


def test_a_web_service_url_callback_is_keyed_with_the_merchant_secret():
    whsec, old = signing.new_secret(), signing.new_secret()
    merchant_secret = "m3rchant-secret-as-auth-answers-it"
    body = b'{"id":"x","event":"payment.created"}'
    ts = int(datetime.now(UTC).timestamp())
    headers = signing.headers(msg_id="m", timestamp=ts, body=body, secret=whsec,
                              previous=old, norpay_secret=merchant_secret)
    assert headers["X-NorPay-Signature"] == hmac.new(merchant_secret.encode(), body,
                                                     hashlib.sha256).hexdigest()
    # The endpoint's own secrets keep the Standard Webhooks signature; the previous
    # whsec_ must not appear next to a merchant-keyed X-NorPay-Signature.
    Webhook(whsec).verify(body, headers)
    Webhook(old).verify(body, headers)
    assert "X-NorPay-Signature-Previous" not in headers


class _Auth:
    """Auth's internal client: answers the current secret, or is down."""

    def __init__(self) -> None:
        self.secret, self.down, self.asked = "s1", False, 0
        self.gate: asyncio.Event | None = None

    async def request(self, service: str, method: str, path: str):
        assert (service, method, path) == ("auth", "GET", "/internal/secrets/merchant/7")
        self.asked += 1
        secret = self.secret
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ServiceUnavailable("auth", "connection refused")
        return 200, {"secret": secret}


async def test_merchant_secrets_are_kept_until_a_regenerate_drops_them():
    auth = _Auth()
    secrets = MerchantSecrets(auth, ttl=60)
    assert await secrets.get(7) == "s1" and await secrets.get(7) == "s1"
    assert auth.asked == 1
    auth.secret = "s2"
    await secrets.on_event(Event(type="merchant.secret_regenerated", producer="auth",
                                 data={"merchantId": 7}))
    assert await secrets.get(7) == "s2" and auth.asked == 2
    # Asked before a regenerate, answered after: used once, not kept.
    auth.secret, auth.gate = "s3", asyncio.Event()
    await secrets.on_resync()
    pending = asyncio.create_task(secrets.get(7))
    await asyncio.sleep(0)
    await secrets.on_event(Event(type="merchant.secret_regenerated", producer="auth",
                                 data={"merchantId": 7}))
    auth.gate.set()
    assert await pending == "s3"
    auth.secret, auth.gate = "s4", None
    assert await secrets.get(7) == "s4"
    await secrets.close()


async def test_merchant_secrets_raise_when_auth_is_down_and_keep_nothing():
    auth = _Auth()
    auth.down = True
    secrets = MerchantSecrets(auth, ttl=60)
    with pytest.raises(SecretUnavailable) as caught:
        await secrets.get(7)
    assert "s1" not in str(caught.value)
    auth.down = False
    assert await secrets.get(7) == "s1"
    await secrets.close()


def test_a_tampered_body_or_replayed_old_timestamp_is_refused_by_the_library():
    secret = signing.new_secret()
    ts = int(datetime.now(UTC).timestamp())
    headers = signing.headers(msg_id="m", timestamp=ts, body=b'{"a":1}', secret=secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":2}', headers)
    stale = signing.headers(msg_id="m", timestamp=ts - 3600, body=b'{"a":1}', secret=secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":1}', stale)


def test_payload_has_the_seed_shape_the_event_id_and_the_mode():
    body = domain.payload(event_id="e1", event_type="payment.completed",
                          occurred_at=datetime(2022, 1, 1, tzinfo=UTC), data={"paymentId": "p"},
                          livemode=False)
    # livemode is added after the seed's keys, which keep their order.
    assert body == (b'{"id":"e1","event":"payment.completed","timestamp":"1640995200",'
                    b'"data":{"paymentId":"p"},"livemode":false}')
    live = domain.payload(event_id="e1", event_type="payment.completed",
                          occurred_at=datetime(2022, 1, 1, tzinfo=UTC), data={}, livemode=True)
    assert live.endswith(b',"livemode":true}')


@pytest.mark.parametrize("data,live", [({"livemode": True}, True), ({"livemode": False}, False),
                                       ({}, False), ({"livemode": "true"}, False),
                                       ({"livemode": 1}, False)])
def test_an_events_mode_is_its_data_livemode_and_absent_means_test(data, live):
    assert domain.event_livemode(data) is live


@pytest.mark.parametrize("attempt,delay", [(1, 5), (2, 300), (3, 1800), (7, 36000)])
def test_failures_are_retried_on_the_svix_like_schedule(attempt, delay):
    out = domain.after_attempt(attempt=attempt, status_code=500, retry_after=None,
                               schedule=SCHEDULE, now=NOW)
    assert out.status == "pending" and out.next_attempt_at == NOW + timedelta(seconds=delay)


def test_retry_after_postpones_but_never_hastens_the_next_attempt():
    later = domain.after_attempt(attempt=1, status_code=429, retry_after=60,
                                 schedule=SCHEDULE, now=NOW)
    assert later.next_attempt_at == NOW + timedelta(seconds=60)
    sooner = domain.after_attempt(attempt=2, status_code=503, retry_after=1,
                                  schedule=SCHEDULE, now=NOW)
    assert sooner.next_attempt_at == NOW + timedelta(seconds=300)


def test_the_last_attempt_fails_for_good_and_410_disables_the_endpoint():
    assert domain.after_attempt(attempt=8, status_code=None, retry_after=None,
                                schedule=SCHEDULE, now=NOW).status == "failed"
    gone = domain.after_attempt(attempt=1, status_code=410, retry_after=None,
                                schedule=SCHEDULE, now=NOW)
    assert (gone.status, gone.disable_reason) == ("failed", "gone")
    assert domain.after_attempt(attempt=1, status_code=204, retry_after=None,
                                schedule=SCHEDULE, now=NOW).status == "succeeded"
    # A redirect is not followed, so it is a failure like any other non-2xx.
    assert domain.after_attempt(attempt=1, status_code=302, retry_after=None,
                                schedule=SCHEDULE, now=NOW).status == "pending"


def test_retry_after_reads_seconds_and_http_dates():
    assert domain.parse_retry_after("120", NOW) == 120
    assert domain.parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", NOW) == 60
    assert domain.parse_retry_after("soon", NOW) is None
    assert domain.parse_retry_after("999999999", NOW) == domain.RETRY_AFTER_CAP


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662", "\uff11"])
def test_retry_after_of_digits_other_than_ascii_is_ignored(value):
    # str.isdigit() says yes to them and float() raises: found by review.
    assert value.isdigit()
    assert domain.parse_retry_after(value, NOW) is None


def test_an_endpoint_failing_longer_than_the_limit_is_disabled():
    assert domain.should_disable(NOW - timedelta(days=5), NOW, 5 * 86400)
    assert not domain.should_disable(NOW - timedelta(days=4), NOW, 5 * 86400)
    assert not domain.should_disable(None, NOW, 5 * 86400)


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
                                "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "224.0.0.1"])
def test_private_loopback_link_local_and_metadata_addresses_are_refused(ip):
    assert not addresses.ip_allowed(ip)


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(ip):
    assert addresses.ip_allowed(ip)


@pytest.mark.parametrize("url", ["http://127.0.0.1/h", "https://[::1]/h", "http://localhost/h",
                                 "http://169.254.169.254/latest/meta-data",
                                 "http://10.0.0.5:8080/", "http://foo.localhost/"])
async def test_prod_refuses_internal_targets_at_registration(url):
    with pytest.raises(addresses.AddressNotAllowed):
        await addresses.check_url(url, strict=True)
    await addresses.check_url(url, strict=False)  # dev and test allow them


@pytest.mark.parametrize("url", ["ftp://example.com/", "https://user:pw@example.com/",
                                 "https:///nohost", "https://example.com:99999/"])
async def test_malformed_urls_are_refused_everywhere(url):
    with pytest.raises(addresses.AddressNotAllowed):
        await addresses.check_url(url, strict=False)


async def test_send_time_resolver_refuses_names_that_resolve_to_internal_addresses():
    resolver = addresses.PublicOnlyResolver(strict=True)
    try:
        with pytest.raises(addresses.AddressNotAllowed):
            await resolver.resolve("localhost", 80)
        # The machine's own name resolves to a loopback or private address.
        with pytest.raises(addresses.AddressNotAllowed):
            await resolver.resolve(socket.gethostname(), 80)
    finally:
        await resolver.close()
    lenient = addresses.PublicOnlyResolver(strict=False)
    try:
        assert (await lenient.resolve("localhost", 80))[0]["host"] in ("127.0.0.1", "::1")
    finally:
        await lenient.close()
    with pytest.raises(addresses.AddressNotAllowed):
        addresses.check_literal_host("http://10.0.0.1/", strict=True)


def test_unknown_event_types_are_refused_with_the_list():
    with pytest.raises(ValueError, match="unknown event type 'payment.exploded'"):
        domain.CreateEndpoint.model_validate({"url": "https://x.example", "events":
                                              ["payment.exploded"]})
    ok = domain.CreateEndpoint.model_validate({"url": "https://x.example"})
    assert ok.events == ["*"]
    assert "invoice.overdue" in domain.EVENT_TYPES and "merchant.created" not in \
        domain.EVENT_TYPES
