"""A price's card checkout (/checkout/prices/{id}) and its trigger, against the real
auth, fees and checkout services, PostgreSQL and RabbitMQ."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import standardwebhooks
from aiohttp import web

from services.checkout.pages import csrf_token
from tests.conftest import serve
from tests.integration.test_prices import _create, _new, new_trigger, shop  # noqa: F401
from tests.integration.test_webhooks_delivery import emit  # noqa: F401 (fixture)
from tests.support.poll import poll_until

FUTURE = {"exp_month": "12", "exp_year": "2099", "cvc": "123"}


async def _open(client, price_id) -> str:
    """As a shopper does: open the link, and send its form (a dynamic price's link leads
    straight back to its waiting payment)."""
    link = f"/checkout/prices/{price_id}"
    resp = await client.get(link, allow_redirects=False)
    if resp.status == 200:
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', await resp.text()).group(1)
        resp = await client.post(link, data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    location = resp.headers["Location"]
    assert re.fullmatch(r"/checkout/pay_[A-Za-z0-9]{24}", location)
    return location.removeprefix("/checkout/")


async def _pay_by_card(client, settings, pid) -> None:
    resp = await client.post(f"/checkout/{pid}/pay", allow_redirects=False, data={
        "csrf": csrf_token(settings, pid), "method": "VISA_MASTER",
        "card_number": "4242 4242 4242 4242", **FUTURE})
    assert resp.status == 303, await resp.text()


async def _payment(client, headers, pid) -> dict:
    resp = await client.get(f"/api/v2/payments/{pid}", headers=headers)
    assert resp.status == 200
    return (await resp.json())["result"]


async def _price(client, headers, app_id, price_id) -> dict:
    return (await (await client.get(f"/prices/{app_id}/{price_id}",
                                    headers=headers)).json())["data"]


async def test_the_testnet_card_pays_a_dynamic_price_once(settings, shop):  # noqa: F811
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"], name="Concert ticket")
    pid = await _open(client, price["id"])
    assert await _open(client, price["id"]) == pid  # reopening returns to the same payment
    page = await (await client.get(f"/checkout/{pid}")).text()
    assert "51.75" in page and "Concert ticket" in page
    # The payer bears the fees, so the page shows them.
    assert re.search(r"<dt>Price</dt><dd>50\.00 USD</dd>.*<dt>Fees</dt><dd>1\.75 USD</dd>"
                     r".*<dt>Total</dt><dd>51\.75 USD</dd>", page, re.S), page
    payment = await _payment(client, headers, pid)
    # The payer pays amount_total; the merchant nets amount_app.
    assert (payment["amount"], payment["currency"], payment["netAmount"]) == \
        ("5175", "USD", "4805")
    assert payment["metadata"] == {"priceId": price["id"], "appId": app["id"]}

    await _pay_by_card(client, settings, pid)
    assert (await _payment(client, headers, pid))["status"] == "completed"

    async def used_up():
        return (await _price(client, headers, app["id"], price["id"]))["expired"]
    await poll_until(used_up, timeout=10, what="the dynamic price to expire")
    again = await client.get(f"/checkout/prices/{price['id']}", allow_redirects=False)
    assert again.status == 410
    assert "This price has expired" in await again.text()


async def test_a_static_price_pays_many_times(settings, shop):  # noqa: F811
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"], type="static")
    first = await _open(client, price["id"])
    await _pay_by_card(client, settings, first)
    second = await _open(client, price["id"])
    assert second != first
    await _pay_by_card(client, settings, second)
    for pid in (first, second):
        assert (await _payment(client, headers, pid))["status"] == "completed"
    got = await _price(client, headers, app["id"], price["id"])
    assert (got["expired"], got["views"]) == (False, 2)


async def test_expired_deleted_and_unknown_prices_do_not_open(settings, shop):  # noqa: F811
    client, headers, app, _, _ = shop
    soon = datetime.now(UTC) + timedelta(seconds=1)
    short = await _new(client, headers, app["id"], expires_at=soon.isoformat())
    assert short["expired"] is False

    async def past():
        return (await _price(client, headers, app["id"], short["id"]))["expired"]
    await poll_until(past, timeout=5, what="the price's expiry")
    assert (await client.get(f"/checkout/prices/{short['id']}")).status == 410

    gone = await _new(client, headers, app["id"])
    await client.delete(f"/prices/{app['id']}/{gone['id']}", headers=headers)
    resp = await client.get(f"/checkout/prices/{gone['id']}")
    assert resp.status == 404 and "This price does not exist" in await resp.text()
    assert (await client.get("/checkout/prices/price_nope")).status == 404

    resp = await _create(client, headers, app["id"], expires_at="2020-01-01T00:00:00Z")
    assert resp.status == 400 and "expires_at" in (await resp.json())["error"]["message"]


class Receiver:
    """The merchant's trigger endpoint: fails the first `failures` calls."""

    def __init__(self, failures: int):
        self.failures = failures
        self.calls: list[tuple[dict, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        if len(self.calls) <= self.failures:
            return web.Response(status=503)
        return web.json_response({"received": True})


def _verify(secret: str, headers: dict, body: bytes) -> None:
    """As the seed's verifyWebhook and the Standard Webhooks library check a call."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-NorPay-Signature"], expected)
    standardwebhooks.Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})


async def test_a_paid_price_executes_its_trigger_with_retries(settings, shop):  # noqa: F811
    client, headers, app, _, _ = shop
    receiver = Receiver(failures=2)
    endpoint = web.Application()
    endpoint.router.add_post("/hook", receiver.handle)
    async with serve(endpoint) as merchant_site:
        url = f"http://127.0.0.1:{merchant_site.server.port}/hook"
        trigger = await new_trigger(client, headers, app["id"], url=url,
                                    params=["ticket_type"])
        assert trigger["secret"].startswith("whsec_")
        listed = await (await client.get(f"/triggers/{app['id']}", headers=headers)).json()
        assert [t["id"] for t in listed["data"]] == [trigger["id"]]
        assert "secret" not in listed["data"][0]

        missing = await _create(client, headers, app["id"], trigger_id=trigger["id"])
        assert missing.status == 400
        assert "requires ticket_type" in (await missing.json())["error"]["message"]
        unknown = await _create(client, headers, app["id"], trigger_id="tri_" + "x" * 22)
        assert unknown.status == 400

        price = await _new(client, headers, app["id"], trigger_id=trigger["id"],
                           trigger_data={"params_data": {"ticket_type": "VIP"}})
        assert price["trigger_params_data_input"] == {"ticket_type": "VIP"}
        pid = await _open(client, price["id"])
        await _pay_by_card(client, settings, pid)

        executions = f"/prices/{app['id']}/{price['id']}/trigger-executions"

        async def delivered():
            rows = (await (await client.get(executions, headers=headers)).json())["data"]
            return rows and rows[0]["status"] == "delivered" and rows
        rows = await poll_until(delivered, timeout=15, what="the trigger's delivery")
        assert len(rows) == 1
        assert (rows[0]["payment_id"], rows[0]["attempts"], rows[0]["last_status_code"]) == \
            (pid, 3, 200)
        assert len(receiver.calls) == 3
        ids = {h["webhook-id"] for h, _ in receiver.calls}
        assert len(ids) == 1  # one execution, one stable id across retries
        for call_headers, body in receiver.calls:
            _verify(trigger["secret"], call_headers, body)
        call = orjson.loads(receiver.calls[-1][1])
        assert call["event"] == "trigger.executed"
        assert call["livemode"] is False  # the price's mode, as webhook bodies carry it
        assert call["data"] | {"triggerIntentId": None} == {
            "triggerId": trigger["id"], "triggerIntentId": None, "priceId": price["id"],
            "paymentId": pid, "amount": "5175", "currency": "USD",
            "params": {"ticket_type": "VIP"}}
        assert call["data"]["triggerIntentId"] == price["trigger_intent_id"]


async def test_another_payment_cannot_pose_as_a_prices_payment(
        settings, shop, emit):  # noqa: F811
    client, headers, app, merchant, _ = shop
    price = await _new(client, headers, app["id"])
    # The public create routes refuse the keys norgate's own flows set...
    resp = await client.post("/api/v2/payments/create", headers=headers, json={
        "amount": "1", "currency": "USD", "metadata": {"priceId": price["id"]}})
    assert resp.status == 400
    assert "metadata.priceId is set by norgate itself" in (await resp.json())["message"]
    # ...and a completed payment that the price's checkout did not make (any origin but
    # prices, or the wrong amount) neither uses the price up nor runs its trigger.
    forged = [await emit("payment.completed", {
        "paymentId": f"pay_forged_{origin}", "amount": amount, "currency": "USD",
        "status": "completed", "origin": origin,
        "metadata": {"priceId": price["id"]}}, merchant)
        for origin, amount in (("norpay", "5175"), ("prices", "1"))]

    async def handled():
        # checkout's consumer has taken both: the second is in its inbox; the first (no
        # price payment at all: origin norpay) was acked untouched, before it, in order.
        conn = await asyncpg.connect(settings.dsn_of("checkout"))
        try:
            return [r["event_id"] for r in await conn.fetch(
                "SELECT event_id FROM inbox WHERE event_id = ANY($1)",
                [e.id for e in forged])] == [forged[1].id]
        finally:
            await conn.close()
    await poll_until(handled, timeout=10, what="the forged events handled")
    assert (await _price(client, headers, app["id"], price["id"]))["expired"] is False
    pid = await _open(client, price["id"])
    await _pay_by_card(client, settings, pid)

    async def used_up():
        return (await _price(client, headers, app["id"], price["id"]))["expired"]
    await poll_until(used_up, timeout=10, what="the price's own payment to use it up")
