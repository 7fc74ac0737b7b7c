"""Test mode and live mode for prices and their triggers (docs/modes.md, issue 19 item
3): each lives in the mode of the principal that made it, the other mode never sees it,
a price's link and the payment it makes are in the price's mode, and its trigger is one
of its own mode. Against the real auth, fees and checkout services, PostgreSQL and
RabbitMQ."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web

from tests.conftest import serve
from tests.integration.test_price_checkout import Receiver, _open, _pay_by_card, _price
from tests.integration.test_prices import _create, _new, new_trigger, shop  # noqa: F401
from tests.integration.test_webhooks_delivery import emit  # noqa: F401 (fixture)
from tests.support.poll import poll_until


@pytest.fixture
async def both(settings, shop):  # noqa: F811
    """checkout, the merchant's test- and live-mode headers, its shared app, the merchant."""
    client, test, app, merchant, _ = shop
    yield client, test, merchant.headers(settings, mode="live"), app, merchant


async def _ids(client, path: str, headers) -> tuple[set[str], int]:
    resp = await client.get(path, headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return {row["id"] for row in body["data"]}, body["pagination"]["total"]


async def _not_found(resp, resource: str) -> None:
    assert resp.status == 404, await resp.text()
    assert (await resp.json())["error"]["message"] == f"{resource} not found"


async def _checkout_row(settings, sql: str, *args):
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


async def test_a_price_is_seen_only_in_its_own_mode(both):
    client, test, live, app, _ = both
    base = f"/prices/{app['id']}"
    test_price = await _new(client, test, app["id"], name="Sandbox ticket")
    live_price = await _new(client, live, app["id"], name="Real ticket", type="static")
    assert (test_price["livemode"], live_price["livemode"]) == (False, True)
    assert list(live_price)[-1] == "livemode"  # additive: after the seed's fields
    for mine, own, other in ((test, test_price, live_price), (live, live_price, test_price)):
        assert await _ids(client, base, mine) == ({own["id"]}, 1)
        assert await _ids(client, base + "?include_deleted=true", mine) == ({own["id"]}, 1)
        got = await client.get(f"{base}/{own['id']}", headers=mine)
        assert (await got.json())["data"]["livemode"] is own["livemode"]
        await _not_found(await client.get(f"{base}/{other['id']}", headers=mine), "Price")
        await _not_found(await client.get(f"{base}/{other['id']}/trigger-executions",
                                          headers=mine), "Price")
        await _not_found(await client.delete(f"{base}/{other['id']}", headers=mine), "Price")
    # Neither delete from the other mode touched a price.
    for headers, price in ((test, test_price), (live, live_price)):
        assert (await _price(client, headers, app["id"], price["id"]))["deleted"] is False
    deleted = await client.delete(f"{base}/{live_price['id']}", headers=live)
    assert deleted.status == 200 and (await deleted.json())["data"]["livemode"] is True
    assert await _ids(client, base + "?include_deleted=true", test) == ({test_price["id"]}, 1)


async def test_a_trigger_is_seen_and_used_only_in_its_own_mode(both):
    client, test, live, app, _ = both
    base = f"/triggers/{app['id']}"
    test_trigger = await new_trigger(client, test, app["id"])
    live_trigger = await new_trigger(client, live, app["id"])
    assert (test_trigger["livemode"], live_trigger["livemode"]) == (False, True)
    for mine, own, other in ((test, test_trigger, live_trigger),
                             (live, live_trigger, test_trigger)):
        assert await _ids(client, base, mine) == ({own["id"]}, 1)
        got = await client.get(f"{base}/{own['id']}", headers=mine)
        assert (await got.json())["data"]["livemode"] is own["livemode"]
        await _not_found(await client.get(f"{base}/{other['id']}", headers=mine), "Trigger")
        await _not_found(await client.delete(f"{base}/{other['id']}", headers=mine),
                         "Trigger")
        # A price may name only a trigger of its own mode: the other's is unknown here.
        resp = await _create(client, mine, app["id"], trigger_id=other["id"])
        assert resp.status == 400, await resp.text()
        error = (await resp.json())["error"]
        assert error["field"] == "trigger_id" and "no trigger" in error["message"]
        price = await _new(client, mine, app["id"], trigger_id=own["id"])
        assert (price["trigger_id"], price["livemode"]) == (own["id"], own["livemode"])
    # Both triggers are still there for their own mode.
    for headers, trigger in ((test, test_trigger), (live, live_trigger)):
        assert (await client.get(f"{base}/{trigger['id']}", headers=headers)).status == 200


async def test_a_test_prices_page_says_test_mode_and_a_live_ones_does_not(both):
    client, test, live, app, _ = both
    test_price = await _new(client, test, app["id"], name="Sandbox ticket")
    live_price = await _new(client, live, app["id"], name="Real ticket")
    page = await client.get(f"/checkout/prices/{test_price['id']}")
    html = await page.text()
    assert page.status == 200 and "TEST MODE" in html and "4242 4242 4242 4242" in html
    page = await client.get(f"/checkout/prices/{live_price['id']}")
    html = await page.text()
    assert page.status == 200 and "Real ticket" in html
    assert "TEST MODE" not in html and "4242" not in html


async def test_a_price_makes_its_payment_in_its_own_mode(settings, both):
    client, test, live, app, _ = both
    live_price = await _new(client, live, app["id"], name="Real ticket")
    pid = await _open(client, live_price["id"])
    resp = await client.get(f"/api/v2/payments/{pid}", headers=live)
    assert resp.status == 200, await resp.text()
    payment = (await resp.json())["result"]
    assert (payment["livemode"], payment["metadata"]["priceId"]) == (True, live_price["id"])
    assert (await client.get(f"/api/v2/payments/{pid}", headers=test)).status == 404
    row = await _checkout_row(settings, "SELECT livemode FROM payments WHERE payment_id = $1",
                              pid)
    assert row["livemode"] is True
    # The live payment's hosted page is a live one, and the link returns to it.
    assert "TEST MODE" not in await (await client.get(f"/checkout/{pid}")).text()
    assert await _open(client, live_price["id"]) == pid

    test_price = await _new(client, test, app["id"])
    test_pid = await _open(client, test_price["id"])
    resp = await client.get(f"/api/v2/payments/{test_pid}", headers=test)
    assert resp.status == 200 and (await resp.json())["result"]["livemode"] is False
    assert (await client.get(f"/api/v2/payments/{test_pid}", headers=live)).status == 404


async def test_a_paid_price_never_calls_a_trigger_of_the_other_mode(settings, both):
    """A trigger stored in another mode than its price (none can be attached so; a row
    from before the rule) is never called for the price's payments."""
    client, test, _, app, _ = both
    receiver = Receiver(failures=0)
    endpoint = web.Application()
    endpoint.router.add_post("/hook", receiver.handle)
    async with serve(endpoint) as merchant_site:
        url = f"http://127.0.0.1:{merchant_site.server.port}/hook"
        trigger = await new_trigger(client, test, app["id"], url=url)
        price = await _new(client, test, app["id"], trigger_id=trigger["id"])
        await _checkout_row(settings, "UPDATE triggers SET livemode = true "
                                      "WHERE trigger_id = $1", trigger["id"])
        pid = await _open(client, price["id"])
        await _pay_by_card(client, settings, pid)

        async def used_up():
            return (await _price(client, test, app["id"], price["id"]))["expired"]
        # The price is used up in the same transaction that would add the execution.
        await poll_until(used_up, timeout=10, what="the paid price to be used up")
        executions = f"/prices/{app['id']}/{price['id']}/trigger-executions"
        assert (await (await client.get(executions, headers=test)).json())["data"] == []
        assert await _checkout_row(
            settings, "SELECT 1 FROM trigger_executions WHERE payment_id = $1", pid) is None
        assert receiver.calls == []


async def test_a_payment_of_the_other_mode_does_not_pay_a_price(settings, both, emit):  # noqa: F811
    """A payment.completed whose mode is not the price's (not one the price's link
    made) neither uses the price up nor runs its trigger."""
    client, test, _, app, merchant = both
    price = await _new(client, test, app["id"])
    forged = await emit("payment.completed", {
        "paymentId": "pay_forged_live", "amount": "5175", "currency": "USD",
        "status": "completed", "origin": "prices", "livemode": True,
        "metadata": {"priceId": price["id"]}}, merchant)

    async def handled():
        return await _checkout_row(settings, "SELECT 1 FROM inbox WHERE event_id = $1",
                                   forged.id)
    await poll_until(handled, timeout=10, what="the live event handled")
    assert (await _price(client, test, app["id"], price["id"]))["expired"] is False
