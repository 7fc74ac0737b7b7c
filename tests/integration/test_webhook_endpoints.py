# ruff: noqa: F811 - the shared fixtures are imported from test_webhooks_delivery
"""The webhooks API: endpoints, secrets, the delivery log, redelivery, test events,
disabling, ordering and tenancy."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.events import Topology
from tests.integration.test_webhooks_delivery import (  # noqa: F401 - fixtures
    Receiver,
    emit,
    merchant,
    notifier,
    payment,
    register,
    verifier,
)
from tests.support.auth import make_company_admin, make_merchant
from tests.support.broker import EventTap
from tests.support.poll import poll_until
from tests.support.tcp_proxy import TcpProxy

BASE = "/api/v2/webhooks"


async def _json(resp, status=200):
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_endpoint_crud_shows_the_secret_only_on_create(settings, tmp_path, merchant):
    h = merchant.headers(settings)
    async with notifier(settings, tmp_path) as client:
        created = (await _json(await client.post(f"{BASE}/endpoints", headers=h, json={
            "url": "https://hooks.example.com/norpay", "events": ["payment.completed"],
            "description": "orders"}), 201))
        assert created["status"] == "1"
        ep = created["result"]
        assert ep["secret"].startswith("whsec_") and ep["events"] == ["payment.completed"]
        assert ep["merchantId"] == merchant.merchant_id and ep["enabled"] is True
        got = (await _json(await client.get(f"{BASE}/endpoints/{ep['endpointId']}",
                                            headers=h)))["result"]
        assert "secret" not in got and got["url"] == "https://hooks.example.com/norpay"
        patched = (await _json(await client.patch(
            f"{BASE}/endpoints/{ep['endpointId']}", headers=h,
            json={"events": ["invoice.paid", "payment.failed"], "ordered": True,
                  "enabled": False})))["result"]
        assert patched["events"] == ["invoice.paid", "payment.failed"]
        assert patched["ordered"] is True and patched["enabled"] is False
        listed = (await _json(await client.get(f"{BASE}/endpoints", headers=h)))["result"]
        assert [e["endpointId"] for e in listed["endpoints"]] == [ep["endpointId"]]
        assert listed["pagination"]["total"] == 1
        await _json(await client.delete(f"{BASE}/endpoints/{ep['endpointId']}", headers=h))
        gone = await client.get(f"{BASE}/endpoints/{ep['endpointId']}", headers=h)
        assert gone.status == 404 and (await gone.json())["status"] == "0"


async def test_bad_input_is_a_clear_4xx(settings, tmp_path, merchant):
    h = merchant.headers(settings)
    async with notifier(settings, tmp_path) as client:
        resp = await client.post(f"{BASE}/endpoints", headers=h, json={"url": "ftp://x.com"})
        assert resp.status == 400 and resp.headers["X-Error-Code"] == "webhook_url_not_allowed"
        resp = await client.post(f"{BASE}/endpoints", headers=h, json={
            "url": "https://x.example.com", "events": ["payment.exploded"]})
        body = await resp.json()
        assert resp.status == 400 and "payment.exploded" in body["message"]
        resp = await client.post(f"{BASE}/endpoints", headers=h, json={"events": ["*"]})
        assert resp.status == 400 and "url" in (await resp.json())["message"]
        resp = await client.get(f"{BASE}/deliveries?status=lost", headers=h)
        assert resp.status == 400
        resp = await client.post(f"{BASE}/endpoints", json={"url": "https://x.example.com"})
        assert resp.status == 401


async def test_prod_refuses_private_targets(settings, tmp_path, merchant):
    async with notifier(settings, tmp_path, env="prod") as client:
        for url in ("http://127.0.0.1:9/h", "http://169.254.169.254/latest",
                    "http://10.0.0.7/h", "http://localhost/h"):
            resp = await client.post(f"{BASE}/endpoints", headers=merchant.headers(settings),
                                     json={"url": url})
            assert resp.status == 400, url
            assert resp.headers["X-Error-Code"] == "webhook_url_not_allowed"


async def test_prod_allows_the_ports_the_operator_lists_at_registration_and_at_send(
        settings, tmp_path, merchant):
    """NORGATE_WEBHOOK_ALLOWED_PORTS reaches both checks (found by review: neither
    was given it, so only 80 and 443 ever passed)."""
    from services.notifier.webhooks.dispatch import Dispatcher
    from shared.crypto import SecretBox

    async with notifier(settings, tmp_path, env="prod",
                        webhook_allowed_ports=(80, 443, 8443)) as client:
        h = merchant.headers(settings)
        ok = await client.post(f"{BASE}/endpoints", headers=h,
                               json={"url": "https://8.8.8.8:8443/hooks"})
        assert ok.status == 201, await ok.text()
        refused = await client.post(f"{BASE}/endpoints", headers=h,
                                    json={"url": "https://8.8.8.8:8080/hooks"})
        assert refused.status == 400
        assert refused.headers["X-Error-Code"] == "webhook_url_not_allowed"
        assert "port 8080" in (await refused.json())["message"]
    prod = settings.model_copy(update={"env": "prod", "webhook_allowed_ports": (80, 443, 8443)})
    dispatcher = Dispatcher(None, prod, SecretBox(prod, "webhook-secrets"), client=None)
    # At send time (an IP literal, refused before any connection): the port passes and
    # the address is what is refused.
    for url, why in (("http://127.0.0.1:8443/h", "127.0.0.1 is not a public address"),
                     ("http://127.0.0.1:8080/h", "port 8080 is not allowed")):
        result = await dispatcher._send({"body": b"{}", "url": url}, None)
        assert result.error.startswith("address not allowed") and why in result.error, url


async def test_tenants_see_only_their_own_endpoints(settings, tmp_path, merchant):
    admin = await make_company_admin(settings)
    ours = await make_merchant(settings, admin)
    stranger_admin = await make_company_admin(settings)
    async with notifier(settings, tmp_path) as client:
        # An ADMIN registers for a merchant of its company, naming it.
        resp = await client.post(f"{BASE}/endpoints", headers=admin.headers(settings), json={
            "url": "https://a.example.com/h", "merchantId": ours.merchant_id})
        ep = (await _json(resp, 201))["result"]
        assert ep["merchantId"] == ours.merchant_id
        resp = await client.post(f"{BASE}/endpoints", headers=admin.headers(settings),
                                 json={"url": "https://a.example.com/h"})
        assert resp.status == 400  # merchantId required for an ADMIN
        resp = await client.post(f"{BASE}/endpoints", headers=stranger_admin.headers(settings),
                                 json={"url": "https://a.example.com/h",
                                       "merchantId": ours.merchant_id})
        assert resp.status == 404
        for who in (stranger_admin, merchant):
            resp = await client.get(f"{BASE}/endpoints/{ep['endpointId']}",
                                    headers=who.headers(settings))
            assert resp.status == 404
        mine = await client.get(f"{BASE}/endpoints/{ep['endpointId']}",
                                headers=ours.headers(settings))
        assert mine.status == 200


async def test_rotation_signs_with_both_secrets_during_the_grace_period(
        settings, tmp_path, verifier, merchant):
    old_only = Receiver(verifier, fail_first=0)
    await old_only.start()
    h = merchant.headers(settings)
    try:
        async with notifier(settings, tmp_path) as client:
            ep = await register(client, merchant, settings, old_only)
            rotated = (await _json(await client.post(
                f"{BASE}/endpoints/{ep['endpointId']}/rotate-secret", headers=h)))["result"]
            assert rotated["secret"] != ep["secret"] and rotated["secretRotationEndsAt"]
            # Still holding only the old secret: the test event verifies.
            test = await _json(await client.post(
                f"{BASE}/endpoints/{ep['endpointId']}/test", headers=h), 202)
            assert test["result"]["event"] == "webhook.test"
            await poll_until(lambda: len(old_only.events) == 1, what="test event, old secret")
            # The same receiver now holding only the new secret: it verifies too.
            old_only.secrets = [rotated["secret"]]
            await client.post(f"{BASE}/endpoints/{ep['endpointId']}/test", headers=h)
            await poll_until(lambda: len(old_only.events) == 2, what="test event, new secret")
    finally:
        await old_only.stop()
    assert old_only.rejected == []
    [first, second] = old_only.events.values()
    assert first["event"] == "webhook.test" and first["data"]["endpointId"] == ep["endpointId"]


async def test_redelivery_of_one_event_and_of_a_time_range_keeps_the_event_id(
        settings, tmp_path, emit, verifier, merchant):
    receiver = Receiver(verifier, fail_first=0)
    await receiver.start()
    h = merchant.headers(settings)
    try:
        async with notifier(settings, tmp_path) as client:
            ep = await register(client, merchant, settings, receiver,
                                events=["payment.completed", "payment.failed"])
            start = datetime.now(UTC) - timedelta(seconds=1)
            a = await emit("payment.completed", payment(1), merchant)
            b = await emit("payment.failed", payment(2, "failed"), merchant)
            await emit("payment.created", payment(3, "pending"), merchant)  # not subscribed
            await poll_until(lambda: len(receiver.events) == 2, what="two events")

            async def delivery_of(event):
                log = await client.get(f"{BASE}/deliveries?eventId={event.id}", headers=h)
                found = (await log.json())["result"]["deliveries"]
                return found if found and found[0]["status"] == "succeeded" else None

            [da] = await poll_until(lambda: delivery_of(a), what="delivery recorded")
            one = await _json(await client.post(
                f"{BASE}/deliveries/{da['deliveryId']}/redeliver", headers=h), 202)
            assert one["result"]["eventId"] == str(a.id)
            assert one["result"]["trigger"] == "redelivery"
            await poll_until(lambda: receiver.duplicates == 1, what="redelivered event")
            ranged = await _json(await client.post(f"{BASE}/redeliver", headers=h, json={
                "endpointId": ep["endpointId"], "since": start.isoformat(),
                "until": (datetime.now(UTC) + timedelta(seconds=5)).isoformat()}), 202)
            assert {d["eventId"] for d in ranged["result"]["deliveries"]} == {str(a.id),
                                                                            str(b.id)}
            await poll_until(lambda: receiver.duplicates == 3, what="range redelivered")
            bad = await client.post(f"{BASE}/redeliver", headers=h,
                                    json={"endpointId": ep["endpointId"]})
            assert bad.status == 400
    finally:
        await receiver.stop()
    assert receiver.attempts[str(a.id)] == 3 and receiver.attempts[str(b.id)] == 2


async def test_410_gone_disables_the_endpoint(settings, tmp_path, emit, verifier, merchant):
    receiver = Receiver(verifier, fail_first=0)
    original = receiver.handle

    async def gone(request):
        from aiohttp import web
        await original(request)  # still verifies the signature
        return web.Response(status=410)
    receiver.handle = gone
    await receiver.start()
    h = merchant.headers(settings)
    try:
        async with notifier(settings, tmp_path) as client:
            ep = await register(client, merchant, settings, receiver)
            await emit("payment.completed", payment(1), merchant)

            async def disabled():
                got = (await (await client.get(f"{BASE}/endpoints/{ep['endpointId']}",
                                               headers=h)).json())["result"]
                return got if not got["enabled"] else None
            got = await poll_until(disabled, timeout=15, what="endpoint disabled")
            assert got["disabledReason"] == "gone"
            resp = await client.post(f"{BASE}/endpoints/{ep['endpointId']}/test", headers=h)
            assert resp.status == 409
            assert resp.headers["X-Error-Code"] == "webhook_endpoint_disabled"
    finally:
        await receiver.stop()


async def test_an_endpoint_failing_too_long_is_disabled_and_the_merchant_told(
        settings, tmp_path, emit, merchant):
    from tests.support.net import free_port

    h = merchant.headers(settings)
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["email.requested"]) as tap:
        async with notifier(settings, tmp_path, webhook_disable_after_seconds=1.0) as client:
            resp = await client.post(f"{BASE}/endpoints", headers=h, json={
                "url": f"http://127.0.0.1:{free_port()}/nobody-home"})
            ep = (await _json(resp, 201))["result"]
            await emit("payment.completed", payment(1), merchant)

            async def disabled():
                got = (await (await client.get(f"{BASE}/endpoints/{ep['endpointId']}",
                                               headers=h)).json())["result"]
                return got if not got["enabled"] else None
            got = await poll_until(disabled, timeout=20, what="endpoint disabled")
            assert got["disabledReason"] == "failing" and got["failingSince"]
            mails = await poll_until(
                lambda: [e for e in tap.events if e.data["to"] == [merchant.email]],
                timeout=10, what="e-mail to the merchant")
            assert "disabled" in mails[0].data["subject"]


async def test_ordered_endpoint_receives_events_in_order_and_others_are_not_held_up(
        settings, tmp_path, emit, verifier, merchant):
    ordered = Receiver(verifier, fail_first=1)  # every event fails once first
    slow = Receiver(verifier, fail_first=0)
    original = slow.handle

    async def sluggish(request):
        await asyncio.sleep(0.5)
        return await original(request)
    slow.handle = sluggish
    await ordered.start()
    await slow.start()
    try:
        async with notifier(settings, tmp_path) as client:
            await register(client, merchant, settings, ordered, ordered=True)
            await register(client, merchant, settings, slow)
            sent = [await emit("payment.completed", payment(n), merchant) for n in range(6)]
            ids = [str(e.id) for e in sent]
            await poll_until(lambda: len(ordered.order) == 6, timeout=30, what="ordered")
            await poll_until(lambda: len(slow.events) == 6, timeout=30, what="slow endpoint")
    finally:
        await ordered.stop()
        await slow.stop()
    assert ordered.order == ids


async def _web_service_url_endpoint(client, settings, emit, merchant,
                                    receiver: Receiver) -> dict:
    """The merchant sets webServiceUrl on its account (auth emits the update) and the
    notifier follows it. `receiver` then holds the endpoint's whsec_ secret (only a
    rotation shows it) and the merchant secret, which X-NorPay-Signature is keyed with."""
    h = merchant.headers(settings)
    conn = await asyncpg.connect(settings.dsn_of("auth"))
    try:
        await conn.execute("UPDATE merchants SET web_service_url = $1 WHERE id = $2",
                           receiver.url, merchant.merchant_id)
    finally:
        await conn.close()
    await emit("merchant.updated", {"merchantId": merchant.merchant_id,
                                    "changed": ["webServiceUrl"]}, merchant)

    async def implicit():
        listed = (await (await client.get(f"{BASE}/endpoints", headers=h)).json())
        return [e for e in listed["result"]["endpoints"] if e["source"] == "webServiceUrl"]
    [endpoint] = await poll_until(implicit, what="the webServiceUrl endpoint")
    assert endpoint["url"] == receiver.url
    rotated = (await _json(await client.post(
        f"{BASE}/endpoints/{endpoint['endpointId']}/rotate-secret", headers=h)))
    receiver.secrets.append(rotated["result"]["secret"])
    secret = (await _json(await client.auth.get(
        f"/api/v1/admin/merchant/secret/{merchant.merchant_id}", headers=h)))["data"]["secret"]
    receiver.norpay_secrets = [secret]
    return endpoint


async def test_the_merchants_web_service_url_is_an_endpoint_signed_with_the_merchant_secret(
        settings, tmp_path, emit, verifier, merchant):
    receiver = Receiver(verifier, fail_first=0)
    await receiver.start()
    try:
        async with notifier(settings, tmp_path) as client:
            await _web_service_url_endpoint(client, settings, emit, merchant, receiver)
            await emit("payment.completed", payment(7), merchant)
            await poll_until(lambda: len(receiver.events) == 1, timeout=15,
                             what="the payment event at the webServiceUrl")
            [delivered] = receiver.events.values()
            assert (delivered["event"], delivered["data"]["paymentId"]) == \
                ("payment.completed", "pay_0007")
    finally:
        await receiver.stop()
    # The seed's verifyWebhook accepted X-NorPay-Signature with the merchant secret only.
    assert receiver.rejected == []


async def test_a_web_service_url_callback_waits_while_auth_is_away_and_is_never_sent_unsigned(
        settings, tmp_path, emit, verifier, merchant, notifier_pool, monkeypatch):
    from services.notifier.webhooks import dispatch

    monkeypatch.setattr(dispatch, "SECRET_RETRY_SECONDS", 0.5)
    proxy = TcpProxy("127.0.0.1", 0)
    receiver = Receiver(verifier, fail_first=0)
    await receiver.start()
    try:
        async with notifier(settings, tmp_path, auth_proxy=proxy) as client:
            await _web_service_url_endpoint(client, settings, emit, merchant, receiver)
            await proxy.stop()  # auth is away: the merchant secret cannot be had
            event = await emit("payment.completed", payment(8), merchant)

            async def postponed():
                # Handed back, due later, its attempt not counted (a lease counts one).
                return await notifier_pool.fetchval(
                    """SELECT true FROM webhook_deliveries WHERE event_id = $1
                         AND status = 'pending' AND attempts = 0
                         AND next_attempt_at > now()""", event.id)
            await poll_until(postponed, timeout=15, what="the send put off")
            assert receiver.attempts == {} and receiver.rejected == []
            await proxy.start()
            await poll_until(lambda: str(event.id) in receiver.events, timeout=15,
                             what="the callback once auth is back")

            async def recorded():
                log = await client.get(f"{BASE}/deliveries?eventId={event.id}",
                                       headers=merchant.headers(settings))
                found = (await log.json())["result"]["deliveries"]
                return found if found and found[0]["status"] == "succeeded" else None
            [delivery] = await poll_until(recorded, what="the success recorded")
    finally:
        await receiver.stop()
    assert receiver.rejected == [] and receiver.attempts[str(event.id)] == 1
    assert delivery["attempts"] == 1  # the waits for auth are not attempts


async def test_the_event_types_are_the_catalogues_payouts_included(settings, tmp_path,
                                                                   merchant):
    async with notifier(settings, tmp_path) as client:
        anonymous = await client.get("/api/v2/webhooks/event-types")
        assert anonymous.status == 401
        got = (await _json(await client.get("/api/v2/webhooks/event-types",
                                            headers=merchant.headers(settings))))["result"]
    assert got["all"] == "*"
    assert {"payment.completed", "payout.created", "payout.paid", "payout.failed",
            "payout.canceled"} <= set(got["eventTypes"])
    assert "charge.created" not in got["eventTypes"]  # platform configuration, not merchants'
