# ruff: noqa: F811 - the shared fixtures are imported from test_webhooks_delivery
"""Test and live mode for webhooks (docs/modes.md): an endpoint registered through the
API receives only the events of the mode it was registered in, the merchant's
webServiceUrl receives both, the body says which (`livemode`), and another mode's
endpoint or delivery is a 404 to the same merchant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.test_webhook_endpoints import _json, _web_service_url_endpoint
from tests.integration.test_webhooks_delivery import (  # noqa: F401 - fixtures
    Receiver,
    emit,
    merchant,
    notifier,
    payment,
    register,
    verifier,
)
from tests.support.poll import poll_until

BASE = "/api/v2/webhooks"


def live(n: int, status: str = "completed") -> dict:
    return {**payment(n, status), "livemode": True}


async def _register_live(client, merchant, settings, receiver: Receiver, **fields) -> dict:
    resp = await client.post(f"{BASE}/endpoints", headers=merchant.headers(settings, "live"),
                             json={"url": receiver.url, **fields})
    endpoint = (await _json(resp, 201))["result"]
    receiver.secrets.append(endpoint["secret"])
    return endpoint


async def _settled(client, headers: dict, count: int) -> list[dict] | None:
    """The deliveries the caller's mode lists, once there are `count` and none pending."""
    found = (await _json(await client.get(f"{BASE}/deliveries?per_page=100",
                                          headers=headers)))["result"]["deliveries"]
    done = len(found) == count and all(d["status"] != "pending" for d in found)
    return found if done else None


async def test_an_endpoint_receives_only_its_modes_events_and_the_web_service_url_both(
        settings, tmp_path, emit, verifier, merchant):
    test_rx, live_rx, both_rx = (Receiver(verifier, fail_first=0) for _ in range(3))
    for rx in (test_rx, live_rx, both_rx):
        await rx.start()
    test_h, live_h = merchant.headers(settings), merchant.headers(settings, "live")
    try:
        async with notifier(settings, tmp_path) as client:
            t_ep = await register(client, merchant, settings, test_rx)
            l_ep = await _register_live(client, merchant, settings, live_rx)
            await _web_service_url_endpoint(client, settings, emit, merchant, both_rx)
            a = await emit("payment.completed", payment(1), merchant)  # no livemode: test
            b = await emit("payment.completed", live(2), merchant)
            c = await emit("payment.failed", {**payment(3, "failed"), "livemode": False},
                           merchant)
            await poll_until(lambda: len(both_rx.events) == 3, timeout=20,
                             what="every event at the webServiceUrl")
            # Every delivery settled, so nothing more is on its way to either receiver.
            test_log = await poll_until(lambda: _settled(client, test_h, 4), timeout=20,
                                        what="the test mode's deliveries settled")
            live_log = await poll_until(lambda: _settled(client, live_h, 2), timeout=20,
                                        what="the live mode's deliveries settled")
            listed_test = (await _json(await client.get(f"{BASE}/endpoints",
                                                        headers=test_h)))["result"]
            listed_live = (await _json(await client.get(f"{BASE}/endpoints",
                                                        headers=live_h)))["result"]
    finally:
        for rx in (test_rx, live_rx, both_rx):
            await rx.stop()
    assert set(test_rx.events) == {str(a.id), str(c.id)}
    assert set(live_rx.events) == {str(b.id)}
    assert set(both_rx.events) == {str(a.id), str(b.id), str(c.id)}
    assert test_rx.rejected == live_rx.rejected == both_rx.rejected == []
    body = live_rx.events[str(b.id)]
    assert list(body) == ["id", "event", "timestamp", "data", "livemode"]
    assert body["livemode"] is True and body["data"]["paymentId"] == "pay_0002"
    assert test_rx.events[str(a.id)]["livemode"] is False
    assert {k: v["livemode"] for k, v in both_rx.events.items()} == {
        str(a.id): False, str(b.id): True, str(c.id): False}
    assert (t_ep["livemode"], l_ep["livemode"]) == (False, True)
    assert {d["eventId"] for d in test_log} == {str(a.id), str(c.id)}
    assert all(d["livemode"] is False for d in test_log)
    assert {d["eventId"] for d in live_log} == {str(b.id)}
    assert all(d["livemode"] is True for d in live_log)
    # Lists show the caller's mode; the webServiceUrl's endpoint serves both.
    sources = {m: sorted((e["source"], e["livemode"]) for e in listed["endpoints"])
               for m, listed in (("test", listed_test), ("live", listed_live))}
    assert sources == {"test": [("api", False), ("webServiceUrl", None)],
                       "live": [("api", True), ("webServiceUrl", None)]}


async def test_another_modes_endpoint_and_delivery_are_not_found(
        settings, tmp_path, emit, verifier, merchant):
    rx = Receiver(verifier, fail_first=0)
    await rx.start()
    test_h, live_h = merchant.headers(settings), merchant.headers(settings, "live")
    try:
        async with notifier(settings, tmp_path) as client:
            ep = await _register_live(client, merchant, settings, rx)
            path = f"{BASE}/endpoints/{ep['endpointId']}"
            event = await emit("payment.completed", live(1), merchant)
            [delivery] = await poll_until(lambda: _settled(client, live_h, 1), timeout=20,
                                          what="the live delivery")
            dlv = f"{BASE}/deliveries/{delivery['deliveryId']}"
            # The same merchant in test mode: none of it exists.
            answers = [
                await client.get(path, headers=test_h),
                await client.patch(path, headers=test_h, json={"description": "x"}),
                await client.post(f"{path}/rotate-secret", headers=test_h),
                await client.post(f"{path}/test", headers=test_h),
                await client.get(dlv, headers=test_h),
                await client.post(f"{dlv}/redeliver", headers=test_h),
                await client.post(f"{BASE}/redeliver", headers=test_h, json={
                    "endpointId": ep["endpointId"], "eventId": str(event.id)}),
                await client.delete(path, headers=test_h),
            ]
            assert [r.status for r in answers] == [404] * len(answers)
            listed = (await _json(await client.get(f"{BASE}/endpoints",
                                                   headers=test_h)))["result"]
            assert listed["endpoints"] == [] and listed["pagination"]["total"] == 0
            assert await _settled(client, test_h, 0) == []
            # In its own mode it is all there, and its test event is a live one.
            assert (await _json(await client.get(path, headers=live_h)))["result"][
                "livemode"] is True
            detail = (await _json(await client.get(dlv, headers=live_h)))["result"]
            assert detail["livemode"] is True and detail["eventId"] == str(event.id)
            sent = (await _json(await client.post(f"{path}/test", headers=live_h), 202))
            assert sent["result"]["livemode"] is True
            await poll_until(lambda: len(rx.events) == 2, what="the live test event")
    finally:
        await rx.stop()
    [test_event] = [p for p in rx.events.values() if p["event"] == "webhook.test"]
    assert test_event["livemode"] is True and test_event["data"]["livemode"] is True


async def test_a_redelivery_sends_again_only_events_of_its_mode(
        settings, tmp_path, emit, verifier, merchant):
    test_rx, live_rx, both_rx = (Receiver(verifier, fail_first=0) for _ in range(3))
    for rx in (test_rx, live_rx, both_rx):
        await rx.start()
    test_h, live_h = merchant.headers(settings), merchant.headers(settings, "live")
    try:
        async with notifier(settings, tmp_path) as client:
            t_ep = await register(client, merchant, settings, test_rx)
            l_ep = await _register_live(client, merchant, settings, live_rx)
            w_ep = await _web_service_url_endpoint(client, settings, emit, merchant, both_rx)
            start = datetime.now(UTC) - timedelta(seconds=1)
            a = await emit("payment.completed", payment(1), merchant)
            b = await emit("payment.completed", live(2), merchant)
            await poll_until(lambda: _settled(client, test_h, 2), timeout=20,
                             what="the test deliveries")
            await poll_until(lambda: _settled(client, live_h, 2), timeout=20,
                             what="the live deliveries")
            until = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()

            async def redeliver(endpoint: dict, headers: dict) -> set[str]:
                resp = await client.post(f"{BASE}/redeliver", headers=headers, json={
                    "endpointId": endpoint["endpointId"], "since": start.isoformat(),
                    "until": until})
                return {d["eventId"] for d in (await _json(resp, 202))["result"]["deliveries"]}

            assert await redeliver(t_ep, test_h) == {str(a.id)}
            assert await redeliver(l_ep, live_h) == {str(b.id)}
            # The webServiceUrl's endpoint takes both modes: each mode redelivers its own.
            assert await redeliver(w_ep, test_h) == {str(a.id)}
            assert await redeliver(w_ep, live_h) == {str(b.id)}
            other = await client.post(f"{BASE}/redeliver", headers=test_h, json={
                "endpointId": t_ep["endpointId"], "eventId": str(b.id)})
            assert other.status == 404
            await poll_until(lambda: both_rx.duplicates == 2 and test_rx.duplicates == 1
                             and live_rx.duplicates == 1, timeout=20, what="the redeliveries")
    finally:
        for rx in (test_rx, live_rx, both_rx):
            await rx.stop()
    assert set(test_rx.events) == {str(a.id)} and set(live_rx.events) == {str(b.id)}
