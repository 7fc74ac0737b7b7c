"""Invoice e-mails cannot be turned into a mail cannon (issue 19 item 8b): the send
route mails only the invoice's own customer, a few times an hour per invoice and per
recipient. Against the real auth, fees, checkout and billing services and RabbitMQ."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.billing.context import ManualClock
from shared.events import Topology
from tests.integration.test_billing_api import (  # noqa: F401
    SEED_INVOICE,
    _ok,
    billing_stack,
    shop,
)
from tests.support.auth import make_company_admin, make_merchant
from tests.support.broker import EventTap
from tests.support.poll import poll_until


async def _invoice(client, headers, email: str) -> dict:
    return await _ok(await client.post("/api/v2/invoices/create", headers=headers, json={
        **SEED_INVOICE, "customer": {**SEED_INVOICE["customer"], "email": email}}), 201)


async def _send(client, headers, invoice_id: str, **kwargs):
    return await client.post(f"/api/v2/invoices/{invoice_id}/send", headers=headers,
                             **kwargs)


async def _assert_limited(resp, needle: str) -> None:
    body = await resp.json()
    assert resp.status == 429, body
    assert resp.headers["X-Error-Code"] == "invoice_sends_rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 3600
    assert body["status"] == "0" and needle in body["message"], body


async def test_twenty_sends_of_one_invoice_mail_it_three_times(settings, shop, unique):  # noqa: F811
    client, headers, *_ = shop
    email = f"victim.{unique}@example.com"
    inv = await _invoice(client, headers, email)
    async with EventTap(settings.amqp_url, Topology(settings.events_namespace),
                        ["email.requested"]) as tap:
        # Concurrently too: the cap is counted under the invoice's lock.
        answers = await asyncio.gather(*(_send(client, headers, inv["invoiceId"])
                                         for _ in range(20)))
        ok = [r for r in answers if r.status == 200]
        assert len(ok) == settings.invoice_sends_per_hour == 3
        for resp in answers:
            if resp.status != 200:
                await _assert_limited(resp, "This invoice was sent 3 times")
        # The body cannot redirect the mail: the route takes no address at all.
        elsewhere = await _send(client, headers, inv["invoiceId"],
                                json={"to": "someone.else@example.com",
                                      "email": "someone.else@example.com"})
        assert elsewhere.status == 429

        def mails():
            return [e for e in tap.events if inv["invoiceNumber"] in e.data["subject"]]
        await poll_until(lambda: len(mails()) >= 3, what="the invoice's three e-mails")
    assert len(mails()) == 3 and all(e.data["to"] == [email] for e in mails())


async def test_one_recipient_gets_at_most_ten_invoices_an_hour_from_a_merchant(
        settings, shop, unique):  # noqa: F811
    client, headers, _, _, admin = shop
    email = f"Target.{unique}@Example.com"
    invoices = [await _invoice(client, headers, email) for _ in range(11)]
    limit = settings.invoice_recipient_sends_per_hour
    assert limit == 10
    for inv in invoices[:limit]:
        assert (await _send(client, headers, inv["invoiceId"])).status == 200
    # The same mailbox however its address is cased.
    await _assert_limited(await _send(client, headers, invoices[limit]["invoiceId"]),
                          "sent 10 invoices to")
    other = await _invoice(client, headers, email.lower())
    await _assert_limited(await _send(client, headers, other["invoiceId"]),
                          "sent 10 invoices to")
    # Another merchant's invoices to the customer are its own to count.
    another = await make_merchant(settings, admin, status="ACTIVE")
    theirs = await _invoice(client, another.headers(settings), email)
    assert (await _send(client, another.headers(settings), theirs["invoiceId"])).status == 200


async def test_the_hour_is_a_sliding_window_and_retry_after_says_when(settings, unique):
    start = datetime(2031, 3, 1, 12, tzinfo=UTC)
    clock = ManualClock(start)
    async with billing_stack(settings, clock=clock) as (client, _, _app):
        admin = await make_company_admin(settings)
        headers = (await make_merchant(settings, admin, status="ACTIVE")).headers(settings)
        inv = await _invoice(client, headers, f"window.{unique}@example.com")
        for minutes in (0, 20, 40):  # three sends, 20 minutes apart
            clock.set(start + timedelta(minutes=minutes))
            assert (await _send(client, headers, inv["invoiceId"])).status == 200
        clock.set(start + timedelta(minutes=50))
        refused = await _send(client, headers, inv["invoiceId"])
        await _assert_limited(refused, "This invoice was sent 3 times")
        assert refused.headers["Retry-After"] == str(10 * 60)  # the 12:00 send leaves at 13:00
        clock.set(start + timedelta(minutes=60, seconds=1))
        assert (await _send(client, headers, inv["invoiceId"])).status == 200
        await _assert_limited(await _send(client, headers, inv["invoiceId"]), "3 times")
