"""The renewal scheduler: dunning that runs out, and two replicas ticking at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.billing import scheduler
from services.billing.app import build_spec as billing_spec
from services.billing.context import ManualClock
from shared.http.app import create_app
from shared.http.middleware import SETTINGS
from tests.conftest import serve
from tests.integration.test_billing_api import _ok, billing_stack, make_plan
from tests.support.auth import make_company_admin, make_merchant

EMPTY = "0x" + "ab" * 18 + "dead"


async def test_when_every_dunning_retry_fails_the_invoice_is_uncollectible_and_canceled(
        settings):
    start = datetime(2027, 5, 1, tzinfo=UTC)
    clock = ManualClock(start)
    s = settings.model_copy(update={"billing_dunning_days": (1, 2)})
    async with billing_stack(s, clock=clock) as (client, _, app):
        admin = await make_company_admin(settings)
        merchant = await make_merchant(settings, admin, status="ACTIVE")
        headers = merchant.headers(settings)
        plan = await make_plan(client, headers, interval="week")
        sub = await _ok(await client.post("/api/v2/subscriptions/create", headers=headers, json={
            "planId": plan["planId"], "customerId": "c",
            "paymentMethod": {"paymentMethod": "NOR_WALLET", "payer": EMPTY}}), 201)
        sid = sub["subscriptionId"]
        seen = []
        for day in range(5):  # attempts on day 0, 1 (after 1 day), 3 (after 2 more)
            clock.set(start + timedelta(days=day))
            await scheduler.tick(app)
            seen.append((await _ok(await client.get(f"/api/v2/subscriptions/{sid}",
                                                    headers=headers)))["status"])
        assert seen == ["past_due", "past_due", "past_due", "canceled", "canceled"]
        [invoice] = await _ok(await client.get(f"/api/v2/subscriptions/{sid}/invoices",
                                               headers=headers))
        assert (invoice["status"], invoice["attempts"]) == ("uncollectible", 3)
        assert invoice["lastFailure"] == "Insufficient balance"


async def test_two_replicas_ticking_together_bill_each_period_once(settings):
    start = datetime(2028, 2, 1, tzinfo=UTC)
    clock = ManualClock(start)
    async with billing_stack(settings, clock=clock) as (client, _, app):
        replica_settings = app[SETTINGS]  # the same checkout and auth as the first
        replica = create_app(replica_settings,
                             billing_spec(replica_settings, clock=clock, run_scheduler=False))
        async with serve(replica):
            admin = await make_company_admin(settings)
            merchant = await make_merchant(settings, admin, status="ACTIVE")
            headers = merchant.headers(settings)
            plan = await make_plan(client, headers, interval="day")
            subs = []
            for n in range(5):
                subs.append((await _ok(await client.post(
                    "/api/v2/subscriptions/create", headers=headers, json={
                        "planId": plan["planId"], "customerId": f"c{n}"}), 201))[
                    "subscriptionId"])
            for day in range(3):
                clock.set(start + timedelta(days=day))
                ran = await asyncio.gather(scheduler.tick(app), scheduler.tick(replica),
                                           scheduler.tick(app), scheduler.tick(replica))
                assert any(ran)
                # a replica that found the lock taken skipped; run the round to the end
                await scheduler.tick(app)
            for sid in subs:
                invoices = await _ok(await client.get(f"/api/v2/subscriptions/{sid}/invoices",
                                                      headers=headers))
                assert len(invoices) == 3  # days 0, 1 and 2: once each
