"""A price's payment link (/checkout/prices/{id}) is safe to GET (issue 19 item 8a):
opening it shows the price, and only the shopper's POST from the page's form makes a
payment. Against the real auth, fees and checkout services, PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from shared.events import Topology
from tests.integration.test_prices import _new, shop  # noqa: F401
from tests.support.broker import EventTap
from tests.support.poll import poll_until

CSRF = re.compile(r'<input type="hidden" name="csrf" value="([0-9a-f]{64})">')


async def _counts(settings, price_id: str) -> tuple[int, int]:
    """(payments made for the price, payment.created events checkout ever emitted)."""
    conn = await asyncpg.connect(settings.dsn_of("checkout"))
    try:
        payments = await conn.fetchval(
            "SELECT count(*) FROM payments WHERE metadata->>'priceId' = $1", price_id)
        events = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE event_type = 'payment.created'")
    finally:
        await conn.close()
    return payments, events


async def test_fifty_gets_of_a_price_link_create_nothing(settings, shop):  # noqa: F811
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"], type="static", name="Poster")
    _, events_before = await _counts(settings, price["id"])
    link = f"/checkout/prices/{price['id']}"
    # Link previews, crawlers, prefetches, a refreshing shopper: concurrently too.
    answers = await asyncio.gather(*(client.get(link, allow_redirects=False)
                                     for _ in range(50)))
    for resp in answers:
        assert resp.status == 200, await resp.text()
        page = await resp.text()
        assert "Poster" in page and "51.75 USD" in page
        assert f'action="{link}"' in page and CSRF.search(page)
    assert await _counts(settings, price["id"]) == (0, events_before)
    got = await (await client.get(f"/prices/{app['id']}/{price['id']}", headers=headers)).json()
    assert got["data"]["views"] == 50  # still the openings of the link

    # The shopper's click is what makes the payment (and its one event).
    token = CSRF.search(await answers[0].text()).group(1)
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["payment.created"]) as tap:
        resp = await client.post(link, data={"csrf": token}, allow_redirects=False)
        assert resp.status == 303, await resp.text()
        pid = resp.headers["Location"].removeprefix("/checkout/")
        assert re.fullmatch(r"pay_[A-Za-z0-9]{24}", pid)
        await poll_until(lambda: [e for e in tap.events if e.data.get("paymentId") == pid],
                         what="the payment.created event of the shopper's payment")
    assert await _counts(settings, price["id"]) == (1, events_before + 1)


async def test_a_post_without_the_pages_token_or_from_another_site_is_refused(
        settings, shop):  # noqa: F811
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"], type="static")
    link = f"/checkout/prices/{price['id']}"
    token = CSRF.search(await (await client.get(link)).text()).group(1)
    other = await _new(client, headers, app["id"], type="static")
    other_token = CSRF.search(
        await (await client.get(f"/checkout/prices/{other['id']}")).text()).group(1)
    for data, extra in (({}, {}), ({"csrf": "0" * 64}, {}), ({"csrf": other_token}, {}),
                        ({"csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
                        ({"csrf": token}, {"Origin": "https://evil.example"})):
        resp = await client.post(link, data=data, headers=extra, allow_redirects=False)
        assert resp.status == 403, (data, extra, await resp.text())
        assert "This form has expired" in await resp.text()
    assert (await _counts(settings, price["id"]))[0] == 0


async def test_a_dynamic_price_link_returns_to_its_waiting_payment(settings, shop):  # noqa: F811
    client, headers, app, _, _ = shop
    price = await _new(client, headers, app["id"])
    link = f"/checkout/prices/{price['id']}"
    token = CSRF.search(await (await client.get(link)).text()).group(1)
    first = await client.post(link, data={"csrf": token}, allow_redirects=False)
    assert first.status == 303
    # Reopening the link (GET) or posting the form again leads to the same payment.
    again = await client.get(link, allow_redirects=False)
    assert (again.status, again.headers["Location"]) == (303, first.headers["Location"])
    twice = await client.post(link, data={"csrf": token}, allow_redirects=False)
    assert twice.headers["Location"] == first.headers["Location"]
    assert (await _counts(settings, price["id"]))[0] == 1
