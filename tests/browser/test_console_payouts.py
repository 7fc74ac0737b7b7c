"""The console's money-out pages (/console/payouts/...) in headless Chromium against a
`make run` stack.

The merchant's own user signs in and reads its balance per currency and the chart of
what becomes available; sees a payout made through the API in the list with the status
the API gives it, makes one from the form (major units in, exact minor units out),
cancels it and reads its timeline; adds settlement accounts (numbers masked), makes one
the default and deletes one; saves the payout schedule and finds it after a reload;
downloads the sandbox settlement file, imports it and an edited copy, and resolves the
edited copy's exception. The ADMIN reads the same balance for its merchant; live mode
shows live balances only; the webhook form offers the payout events; every page fits
a phone. Pages are screenshotted (test-artifacts/screenshots/).
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from tests.browser.conftest import OVERFLOW, PHONE_VIEWPORT, UNLABELLED, _json
from tests.browser.test_console import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    SHOP_EMAIL,
    SHOP_PASSWORD,
    api,
    focused_heading,
    paid_payment,
    sign_in,
)
from tests.support.onboarding import mail_text
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e

AREA_PAGES = ("Balance", "Payouts", "Settlement accounts", "Payout schedule", "Reconciliation")


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def shop_user(stack, merchant):
    """The merchant's own MERCHANT login: the invitation mail's code, then a password."""
    text = await mail_text(stack, SHOP_EMAIL)
    code = re.search(r"Invitation code: (\S+)", text).group(1)
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.gateway + "/api/v1/auth/accept-invitation",
                             json={"token": code, "password": SHOP_PASSWORD}) as resp:
            await _json(resp)
    return SHOP_EMAIL, SHOP_PASSWORD


# --- helpers ----------------------------------------------------------------------------

def usd(minor_units: str | int) -> str:
    """Minor units as the console shows them: "123456" -> "1,234.56 USD"."""
    n = int(minor_units)
    sign, n = ("-", -n) if n < 0 else ("", n)
    return f"{sign}{n // 100:,}.{n % 100:02d} USD"


def settings_path(merchant, name: str) -> str:
    return f"/api/v1/admin/merchants/{merchant.id}/{name}"


async def schedule(stack, merchant, **body) -> dict:
    """The payout schedule set through the API as the company ADMIN."""
    made = {"interval": "manual", "delayDays": 2, "minimumAmount": 0, **body}
    return (await api(stack, "PUT", settings_path(merchant, "payout-schedule"),
                      headers=merchant.admin_headers, json=made))["data"]


async def bank_account(stack, merchant, number: str, *, default: bool = True) -> dict:
    return (await api(stack, "POST", settings_path(merchant, "settlement-accounts"),
                      headers=merchant.admin_headers, expected=201, json={
                          "type": "BANK", "currency": "USD", "bankName": "Console Bank",
                          "branchCode": "01234", "accountName": "Blue Widget Store",
                          "accountNumber": number, "isDefault": default}))["data"]


async def balance_of(stack, merchant, currency: str = "USD") -> dict | None:
    got = (await api(stack, "GET", "/api/v2/balance", headers=merchant.headers))["result"]
    return next((b for b in got["balances"] if b["currency"] == currency), None)


async def net_amount(stack, merchant, payment_id: str) -> int:
    got = await api(stack, "GET", f"/api/v2/payments/{payment_id}", headers=merchant.headers)
    return int(got["result"]["netAmount"])


async def open_area(page, name: str):
    """The console's "Payouts" entry, then the area's own page `name`."""
    nav = page.get_by_role("navigation", name="Console")
    if not await nav.is_visible():  # phone: behind the menu button
        await page.get_by_role("button", name="Menu").click()
    await nav.get_by_role("link", name="Payouts", exact=True).click()
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    await page.get_by_role("navigation", name="Money out").get_by_role(
        "link", name=name, exact=True).click()
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")


def cells(row) -> list:
    return row.locator("td")


# --- balance ----------------------------------------------------------------------------

async def test_balance_per_currency_and_what_becomes_available(
        stack, merchant, shop_user, page, shot):
    # The payment stays pending 30 settlement days (a minute where the tests shorten
    # the days, NORGATE_PAYOUT_DAY_SECONDS): long enough to read it as pending.
    await schedule(stack, merchant, delayDays=30)
    paid = await paid_payment(stack, merchant, amount="2500", currency="USD")
    net = await net_amount(stack, merchant, paid["transactionId"])
    got = await poll_until(lambda: _pending_at_least(stack, merchant, net), timeout=30,
                           what="the payment's net amount pending")

    await sign_in(page, stack, *shop_user)
    await open_area(page, "Balance")
    assert await focused_heading(page) == "H1:Balance"
    assert page.url.endswith("/console/payouts/balance")
    # The console's nav marks the area; the area's nav marks the page.
    assert await page.get_by_role("navigation", name="Console").get_by_role(
        "link", name="Payouts").get_attribute("aria-current") == "page"
    row = page.get_by_role("table", name=re.compile("Balances by currency")).get_by_role(
        "row").filter(has_text="USD")
    await row.wait_for()
    assert await cells(row).nth(1).inner_text() == usd(got["pending"])
    assert await cells(row).nth(2).inner_text() == usd(got["available"])
    assert await cells(row).nth(3).inner_text() == usd(got["inTransit"])
    assert "TEST" in (await page.locator(".mode-note").inner_text()).upper()

    # The chart: the pending money on the day it becomes available.
    await page.locator("svg.chart").wait_for()
    assert "Becoming available (USD)" in await page.locator("svg.chart title").text_content()
    days = (await api(stack, "GET", "/api/v2/balance/upcoming?currency=USD",
                      headers=merchant.headers))["result"]["days"]
    assert days and sum(int(d["amount"]) for d in days) == int(got["pending"])
    chart_rows = page.get_by_role("table", name=re.compile("Becoming available.*numbers"))
    for d in days:
        assert usd(d["amount"]) in await chart_rows.inner_text()
        assert f"{d['date']}: {usd(d['amount'])}" in \
            await page.locator("svg.chart desc").text_content()
    assert await page.locator("svg.chart rect").count() == len(days)

    # The movements: the payment, linked to its page.
    moves = page.get_by_role("table", name=re.compile("Balance transactions"))
    payment_row = moves.get_by_role("row").filter(has_text=paid["transactionId"])
    await payment_row.first.wait_for()
    assert "payment" in await payment_row.first.inner_text()
    await page.get_by_label("Type").select_option("payout")
    await page.get_by_role("button", name="Apply filters").click()
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    assert "type=payout" in page.url
    await page.get_by_role("heading", name="Balance transactions").wait_for()
    assert paid["transactionId"] not in await page.locator("main").inner_text()
    await shot(page, "balance")

    # The company ADMIN sees the same balance once it picks the merchant.
    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, stack, ADMIN_EMAIL, ADMIN_PASSWORD)
    await open_area(page, "Balance")
    assert await page.get_by_label("Merchant", exact=True).input_value() == str(merchant.id)
    row = page.get_by_role("table", name=re.compile("Balances by currency")).get_by_role(
        "row").filter(has_text="USD")
    await row.wait_for()
    assert await cells(row).nth(1).inner_text() == usd(got["pending"])
    assert f"merchantId={merchant.id}" in await page.get_by_role(
        "navigation", name="Money out").get_by_role("link", name="Payouts").get_attribute("href")


async def _pending_at_least(stack, merchant, net: int):
    b = await balance_of(stack, merchant)
    return b if b and int(b["pending"]) >= net else None


async def test_live_mode_shows_live_balances_only(stack, merchant, shop_user, page):
    calls: list[tuple[str, str | None]] = []
    page.on("request", lambda r: calls.append((r.url, r.headers.get("x-norgate-mode")))
            if "/api/v2/balance" in r.url else None)
    await paid_payment(stack, merchant, amount="700", currency="USD")
    await poll_until(lambda: balance_of(stack, merchant), timeout=30, what="a test balance")
    await sign_in(page, stack, *shop_user)
    await open_area(page, "Balance")
    table = page.get_by_role("table", name=re.compile("Balances by currency"))
    await table.get_by_role("row").filter(has_text="USD").wait_for()
    test_pending = await cells(table.get_by_role("row").filter(has_text="USD")).nth(1).inner_text()
    assert test_pending != usd(0)
    mark = len(calls)
    await page.get_by_role("switch", name="Live mode").click()
    await page.locator(".mode-note").filter(has_text="Live mode").wait_for()
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    assert {mode for _, mode in calls[mark:]} == {"live"}
    # The test money is not in the live book: no balance, or a USD one of nothing.
    live_usd = table.get_by_role("row").filter(has_text="USD")
    if await live_usd.count():
        assert await cells(live_usd).nth(1).inner_text() == usd(0)
    else:
        await page.locator("p.empty").filter(has_text="No balance yet").wait_for()
    # Live mode: no sandbox settlement files to download.
    await open_area(page, "Reconciliation")
    await page.get_by_role("heading", name="Import a file").wait_for()
    assert not await page.get_by_role("heading", name="Sandbox files").count()


# --- payouts ----------------------------------------------------------------------------

async def test_payouts_list_new_payout_cancel_and_timeline(
        stack, merchant, shop_user, page, shot):
    await schedule(stack, merchant, delayDays=0)  # paid money is available at once
    account = await bank_account(stack, merchant, "6200011112223")
    paid = await paid_payment(stack, merchant, amount="4000", currency="USD")
    net = await net_amount(stack, merchant, paid["transactionId"])

    async def available():
        b = await balance_of(stack, merchant)
        return b if b and int(b["available"]) >= net else None
    await poll_until(available, timeout=90, interval=1, what="the payment available")

    # A payout made through the API is listed with the status the API gives it.
    made = (await api(stack, "POST", "/api/v2/payouts/create", expected=201,
                      headers={**merchant.headers, "Idempotency-Key": str(uuid.uuid4())},
                      json={"amount": "1000", "currency": "USD",
                            "description": "API payout", "metadata": {"run": "console"}}
                      ))["result"]
    assert made["payoutId"].startswith("po_")
    await sign_in(page, stack, *shop_user)
    await open_area(page, "Payouts")
    assert await focused_heading(page) == "H1:Payouts"

    async def listed_with_api_status():
        status = (await api(stack, "GET", f"/api/v2/payouts/{made['payoutId']}",
                            headers=merchant.headers))["result"]["status"]
        await page.reload()
        row = page.get_by_role("row").filter(has_text=made["payoutId"])
        await row.wait_for()
        text = await row.inner_text()
        return text if status.upper() in text.upper() else None
    text = await poll_until(listed_with_api_status, timeout=20, interval=0.5,
                            what="the API's payout listed with its status")
    assert usd(1000) in text and "****2223" in text
    await shot(page, "payouts-list")

    # A new payout from the form: 5.25 in major units is exactly 525 minor units.
    await page.get_by_label("Amount").fill("5.25")
    await page.get_by_label("Currency", exact=True).select_option("USD")
    await page.get_by_label("Settlement account").select_option(account["settlementAccountId"])
    await page.get_by_label("Description").fill("Console payout")
    await page.get_by_role("button", name="Create payout").click()
    created = page.locator("main").get_by_text(re.compile(r"Payout po_\S+ of 5\.25 USD created"))
    await created.wait_for()
    payout_id = re.search(r"po_\S+", await created.inner_text()).group(0)
    got = (await api(stack, "GET", f"/api/v2/payouts/{payout_id}",
                     headers=merchant.headers))["result"]
    assert got["amount"] == "525" and got["description"] == "Console payout"
    assert got["destination"]["settlementAccountId"] == account["settlementAccountId"]
    row = page.get_by_role("row").filter(has_text=payout_id)
    await row.wait_for()
    assert usd(525) in await row.inner_text()

    # Bad amounts: the form names the field; more than available is the API's 400.
    await page.get_by_label("Amount").fill("5.255")
    await page.get_by_role("button", name="Create payout").click()
    await page.get_by_role("alert").filter(has_text="Amount: USD has at most 2 decimals").wait_for()
    await page.get_by_label("Amount").fill("999999")
    await page.get_by_role("button", name="Create payout").click()
    await page.get_by_role("alert").filter(has_text="Insufficient balance").wait_for()

    # Cancel the pending one (it is held before it goes to the rail).
    await row.get_by_role("button", name=f"Cancel payout {payout_id}").click()
    await row.get_by_role("button", name="Yes, cancel it").click()
    await page.locator("main").get_by_text(f"Payout {payout_id} canceled.").wait_for()
    got = (await api(stack, "GET", f"/api/v2/payouts/{payout_id}",
                     headers=merchant.headers))["result"]
    assert got["status"] == "canceled"
    await page.get_by_role("row").filter(has_text=payout_id).filter(has_text="canceled").wait_for()

    # Its page: the facts and the timeline, pending then canceled.
    await page.get_by_role("link", name=payout_id).click()
    await page.get_by_role("heading", name="Timeline").wait_for()
    assert await focused_heading(page) == f"H1:Payout {payout_id}"
    timeline = (await page.locator("ol.timeline").inner_text()).lower()
    assert timeline.index("pending") < timeline.index("canceled")
    facts = await page.locator("dl.facts").inner_text()
    assert usd(525) in facts and "****2223" in facts and "Console Bank" in facts
    await shot(page, "payout-timeline")

    # The status filter keeps to its status.
    await open_area(page, "Payouts")
    await page.get_by_label("Status").select_option("canceled")
    await page.get_by_role("button", name="Apply filters").click()
    await page.get_by_role("row").filter(has_text=payout_id).wait_for()
    assert made["payoutId"] not in await page.locator("main table").inner_text()

    # Another tenant's payout id is a clear page, not a crash.
    await page.goto(stack.gateway + "/console/payouts/po_doesnotexist")
    await page.get_by_role("alert").filter(has_text="No such payout").wait_for()


# --- settlement accounts ----------------------------------------------------------------

async def test_settlement_accounts_are_masked_defaulted_and_deleted(
        stack, merchant, shop_user, page, shot):
    await sign_in(page, stack, *shop_user)
    await open_area(page, "Settlement accounts")
    assert await focused_heading(page) == "H1:Settlement accounts"
    await page.get_by_label("Type").select_option("BANK")
    await page.get_by_label("Currency", exact=True).select_option("USD")
    await page.get_by_label("Account name").fill("Blue Widget Store")
    await page.get_by_label("Bank name").fill("Harare Savings Bank")
    await page.get_by_label("Branch code").fill("4102")
    await page.get_by_label("Account number").fill("4455667788993")
    await page.get_by_role("button", name="Add account").click()
    await page.locator("main").get_by_text(
        re.compile(r"Account \*+8993 \(BANK, USD\) added")).wait_for()
    bank = page.get_by_role("row").filter(has_text="****8993")
    await bank.wait_for()
    assert "Harare Savings Bank" in await bank.inner_text()
    assert "4455667788993" not in await page.content()  # masked everywhere

    # A wallet: its phone, not the bank's fields.
    await page.get_by_label("Type").select_option("ECOCASH")
    assert not await page.get_by_label("Bank name").is_visible()
    await page.get_by_label("Currency", exact=True).select_option("USD")
    await page.get_by_label("Account name").fill("Blue Widget Store")
    await page.get_by_label("Phone number").fill("0771234567")  # not 263...
    await page.get_by_role("button", name="Add account").click()
    await page.get_by_role("alert").filter(has_text="phoneNumber").wait_for()
    await page.get_by_label("Phone number").fill("263771239004")
    await page.get_by_role("button", name="Add account").click()
    wallet = page.get_by_role("row").filter(has_text="****9004")
    await wallet.wait_for()
    assert "ECOCASH" in await wallet.inner_text()
    assert "263771239004" not in await page.content()
    await shot(page, "settlement-accounts")

    # The wallet becomes the USD default: one default per currency.
    await wallet.get_by_role("button", name=re.compile("Make .* the default USD account")).click()
    await page.locator("main").get_by_text(re.compile("is now the default USD account")).wait_for()
    listed = (await api(stack, "GET", settings_path(merchant, "settlement-accounts"),
                        headers=merchant.admin_headers))["data"]
    defaults = [a for a in listed if a["currency"] == "USD" and a["isDefault"]]
    assert [a["last4"] for a in defaults] == ["9004"]
    await wallet.locator(".badge", has_text="default").wait_for()
    assert not await wallet.get_by_role("button", name=re.compile("Make .* default")).count()
    assert await bank.get_by_role("button", name=re.compile("Make .* default")).count() == 1

    # Delete the bank account, after a confirmation.
    await bank.get_by_role("button", name="Delete BANK account ****8993").click()
    await bank.get_by_role("button", name="Yes, delete").click()
    await page.locator("main").get_by_text("BANK account ****8993 deleted.").wait_for()
    # the console says so, then reloads the list: the row goes with the reload
    await page.get_by_role("row").filter(has_text="****8993").wait_for(state="detached")
    assert not await page.get_by_role("row").filter(has_text="****8993").count()
    listed = (await api(stack, "GET", settings_path(merchant, "settlement-accounts"),
                        headers=merchant.admin_headers))["data"]
    assert "8993" not in [a["last4"] for a in listed]


# --- payout schedule --------------------------------------------------------------------

async def test_payout_schedule_is_saved_and_shown_after_reload(
        stack, merchant, shop_user, page, shot):
    await sign_in(page, stack, *shop_user)
    await open_area(page, "Payout schedule")
    assert await focused_heading(page) == "H1:Payout schedule"
    await page.get_by_label("Interval").select_option("weekly")
    assert not await page.get_by_label("Day of the month").is_visible()
    await page.get_by_label("Day of the week").select_option("friday")
    await page.get_by_label("Delay (days)").fill("3")
    await page.get_by_label("Minimum amount").fill("5000")  # minor units: 50.00 USD
    await page.get_by_role("button", name="Save schedule").click()
    await page.locator("main").get_by_text(re.compile("Schedule saved: weekly")).wait_for()

    await page.reload()
    await page.get_by_role("heading", name="Current schedule").wait_for()
    facts = await page.locator("dl.facts").inner_text()
    assert "weekly" in facts and "friday" in facts and "3 days" in facts
    assert "5000 minor units (50.00" in facts
    assert await page.get_by_label("Interval").input_value() == "weekly"
    assert await page.get_by_label("Day of the week").input_value() == "friday"
    assert await page.get_by_label("Delay (days)").input_value() == "3"
    got = (await api(stack, "GET", settings_path(merchant, "payout-schedule"),
                     headers=merchant.admin_headers))["data"]
    assert (got["interval"], got["weeklyAnchor"], got["delayDays"], got["minimumAmount"]) == (
        "weekly", "friday", 3, "5000")
    assert got["nextRunAt"]  # an automatic schedule has its next run
    await shot(page, "payout-schedule")

    # Monthly: its own anchor; a day out of range is the API's 400 naming the field.
    await page.get_by_label("Interval").select_option("monthly")
    await page.get_by_label("Day of the month").fill("32")
    await page.get_by_role("button", name="Save schedule").click()
    await page.get_by_role("alert").filter(has_text="monthlyAnchor").wait_for()
    await page.get_by_label("Day of the month").fill("15")
    await page.get_by_role("button", name="Save schedule").click()
    await page.locator("main").get_by_text(re.compile("Schedule saved: monthly")).wait_for()
    await schedule(stack, merchant)  # back to manual for the other tests


# --- reconciliation ---------------------------------------------------------------------

async def test_reconciliation_sandbox_file_import_and_exceptions(
        stack, merchant, shop_user, page, shot):
    await paid_payment(stack, merchant, amount="990", currency="USD")  # a file of 2 or more
    paid = await paid_payment(stack, merchant, amount="1875", currency="USD")
    payment_id = paid["transactionId"]
    day = datetime.now(UTC).date().isoformat()

    async def in_sandbox_file():  # billing books the payment asynchronously
        async with aiohttp.ClientSession(headers=merchant.headers) as http:
            async with http.get(stack.gateway + "/api/v2/reconciliation/sandbox-files",
                                params={"rail": "VISA_MASTER", "date": day}) as resp:
                return resp.status == 200 and payment_id in await resp.text()
    await poll_until(in_sandbox_file, timeout=30, interval=0.5,
                     what="the payment in the sandbox settlement file")

    await sign_in(page, stack, *shop_user)
    await open_area(page, "Reconciliation")
    assert await focused_heading(page) == "H1:Reconciliation"
    # Today's settlement file of the card rail, downloaded with the session's token.
    await page.get_by_label("Sandbox file", exact=True).select_option("settlement")
    await page.get_by_label("Sandbox rail").select_option("VISA_MASTER")
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Download", exact=True).click()
    text = Path(await (await info.value).path()).read_text()
    assert payment_id in text
    await page.locator("main").get_by_text(re.compile(r"Downloaded settlement-\S+")).wait_for()

    async def import_file(name: str, body: str) -> str:
        await page.get_by_label("File", exact=True).set_input_files(
            files=[{"name": name, "mimeType": "text/csv", "buffer": body.encode()}])
        await page.get_by_label("Source").select_option("processor")
        await page.get_by_label("Format").select_option("sandbox")
        await page.get_by_label("Rail", exact=True).select_option("VISA_MASTER")
        await page.get_by_role("button", name="Import", exact=True).click()
        await page.get_by_role("heading", name="Exceptions").wait_for()
        return await page.locator("dl.facts").inner_text()

    # As the rail wrote it: every line matched, no exception.
    facts = await import_file("sandbox-visa.csv", text)
    lines = list(csv.reader(io.StringIO(text)))
    n = len(lines) - 1  # the header aside
    assert re.search(rf"Matched\s+{n} of {n} \(100 %\)", facts), facts
    await page.get_by_text("No exceptions:").wait_for()
    first = page.url
    await shot(page, "reconciliation-matched")

    # The same file again is the same import.
    await page.get_by_role("link", name="← All imports").click()
    await import_file("sandbox-visa-again.csv", text)
    await page.get_by_text("This file was imported before").wait_for()
    assert page.url.split("?")[0] == first.split("?")[0]

    # Without the payment's line: one exception, missing from the file, with the
    # ledger's amount of that line.
    await page.get_by_role("link", name="← All imports").click()
    cut = next(i for i, row in enumerate(lines) if payment_id in row)
    amount = lines[cut][lines[0].index("amount")]  # major units, as the file writes it
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines[:cut] + lines[cut + 1:])
    await import_file("sandbox-visa-edited.csv", out.getvalue())
    assert page.url.split("?")[0] != first.split("?")[0]
    assert not await page.get_by_text("This file was imported before").count()
    exceptions = page.get_by_role("table", name="Exceptions, by line of the file")
    row = exceptions.get_by_role("row").filter(has_text=payment_id)
    await row.wait_for()
    assert await exceptions.locator("tbody tr").count() == 1
    shown = await row.inner_text()
    assert "missing from the file" in shown
    assert f"{amount} USD" in shown, (amount, shown)
    await shot(page, "reconciliation-exceptions")

    # Resolved with a note, kept with who and when.
    await row.get_by_label("Note").fill("Settled in the next day's file")
    await row.get_by_role("button", name=re.compile("Resolve the exception")).click()
    await page.locator("main").get_by_text(re.compile(r"The exception .* is resolved\.")).wait_for()
    resolved = exceptions.get_by_role("row").filter(has_text="Settled in the next day's file")
    await resolved.wait_for()
    assert "RESOLVED" in (await resolved.inner_text()).upper()
    assert not await resolved.get_by_role("button", name=re.compile("Resolve")).count()

    # Both imports are listed, the edited one with its exception.
    await page.get_by_role("link", name="← All imports").click()
    edited = page.get_by_role("row").filter(has_text="sandbox-visa-edited.csv")
    await edited.wait_for()
    assert await cells(edited).nth(7).inner_text() == "1"  # exceptions, none open
    await page.get_by_role("row").filter(has_text="sandbox-visa.csv").wait_for()


# --- the webhook form and the phone -----------------------------------------------------

async def test_webhook_form_offers_the_payout_events(stack, merchant, shop_user, page, shot):
    await sign_in(page, stack, *shop_user)
    nav = page.get_by_role("navigation", name="Console")
    await nav.get_by_role("link", name="Webhooks", exact=True).click()
    await page.get_by_role("heading", name="Add an endpoint").wait_for()
    for event in ("payout.created", "payout.paid", "payout.failed", "payout.canceled"):
        await page.get_by_role("checkbox", name=event, exact=True).wait_for()
    await page.get_by_label("URL").fill("https://shop.example/payout-hooks")
    await page.get_by_role("checkbox", name="payout.paid", exact=True).check()
    await page.get_by_role("checkbox", name="payout.failed", exact=True).check()
    assert not await page.get_by_role("checkbox", name="Every event (*)").is_checked()
    await shot(page, "webhook-events")
    await page.get_by_role("button", name="Add endpoint").click()
    row = page.get_by_role("row").filter(has_text="https://shop.example/payout-hooks")
    await row.wait_for()
    assert "payout.failed, payout.paid" in await row.inner_text()


@pytest.mark.parametrize("viewport", [PHONE_VIEWPORT], ids=["phone"])
async def test_every_money_out_page_fits_a_phone(stack, merchant, shop_user, page, shot,
                                                 viewport):
    await sign_in(page, stack, *shop_user)
    for name in AREA_PAGES:
        await open_area(page, name)  # a page's data is in once main is no longer busy
        assert await page.evaluate(OVERFLOW) <= 0, name
        assert await page.evaluate(UNLABELLED) == [], name
        assert not await page.get_by_role("alert").count(), (
            name, await page.locator("main").inner_text())
        await shot(page, f"phone-{name}")
