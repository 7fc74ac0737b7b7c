"""The console's dashboard (/console/dashboard): revenue and payments per hour or day of a
period, this period's bars with the previous period's line, a currency at a time, and
the same figures in a table, for payments made through the API (completed and failed,
USD and ZAR, one moved to yesterday in billing's projection). Screens at 1280 and 320
px, each checked with axe-core."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp
import asyncpg
import pytest

from tests.browser.conftest import NARROW_VIEWPORT, UNLABELLED, create_payment, sideways_scroll
from tests.browser.test_console import CARD, open_page, paid_payment, shop_user, sign_in
from tests.support.poll import poll_until

pytestmark = pytest.mark.e2e
__all__ = ["shop_user"]  # the module-scoped fixture, reused

DECLINED = {**CARD, "number": "4000000000000002"}


async def _declined(stack, merchant, amount: str, currency: str) -> str:
    made = await create_payment(stack, merchant, amount=amount, currency=currency,
                                description="Console declined order")
    async with aiohttp.ClientSession(headers=merchant.headers) as http:
        async with http.post(stack.gateway + f"/api/v2/payments/{made['paymentId']}/confirm",
                             json={"paymentMethod": "VISA_MASTER", "card": DECLINED}) as resp:
            assert resp.status in (200, 402), await resp.text()
    return made["paymentId"]


async def _billing(stack, sql: str, *args):
    conn = await asyncpg.connect(stack.env["NORGATE_DATABASE_URL"])
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def payments(stack, merchant):
    """Today: 12.50 and 9.90 USD paid, 5.00 USD declined, 200.00 ZAR paid; 7.00 USD paid
    and moved to yesterday (the previous period of today). {name: created_at}."""
    ids = {
        "usd1": (await paid_payment(stack, merchant, amount="1250", currency="USD"))[
            "transactionId"],
        "usd2": (await paid_payment(stack, merchant, amount="990", currency="USD"))[
            "transactionId"],
        "failed": await _declined(stack, merchant, "500", "USD"),
        "zar": (await paid_payment(stack, merchant, amount="20000", currency="ZAR"))[
            "transactionId"],
        "yesterday": (await paid_payment(stack, merchant, amount="700", currency="USD"))[
            "transactionId"],
    }

    async def settled():
        rows = await _billing(stack, "SELECT payment_id, status, created_at FROM "
                              "billing.payment_projection WHERE payment_id = ANY($1)",
                              list(ids.values()))
        done = {r["payment_id"]: r for r in rows if r["status"] in ("completed", "failed")}
        return done if len(done) == len(ids) else None
    rows = await poll_until(settled, timeout=30, what="the payments in billing's projection")
    moved = await _billing(stack, "UPDATE billing.payment_projection SET created_at = "
                           "created_at - interval '1 day', completed_at = completed_at - "
                           "interval '1 day' WHERE payment_id = $1 RETURNING created_at",
                           ids["yesterday"])
    out = {name: rows[pid]["created_at"].astimezone(UTC) for name, pid in ids.items()}
    out["yesterday"] = moved[0]["created_at"].astimezone(UTC)
    return out


async def _row(page, label: str) -> dict[str, str]:
    """The row of the dashboard's figures table whose first cell is `label`, by its
    cells' column names."""
    rows = page.locator("table.data").first.locator("tbody tr")
    for i in range(await rows.count()):
        cells = rows.nth(i).locator("td")
        if (await cells.first.inner_text()).strip() == label:
            return {await cells.nth(j).get_attribute("data-label"):
                    (await cells.nth(j).inner_text()).strip()
                    for j in range(await cells.count())}
    raise AssertionError(f"no row {label!r}")


def _hour(at: datetime) -> str:
    return at.strftime("%H:00")


def _day(at: datetime) -> str:
    return at.strftime("%a %-d %b")


async def test_the_dashboard_shows_this_and_the_previous_period(
        stack, merchant, shop_user, payments, page, shot, axe):
    if datetime.now(UTC).hour == 23 and datetime.now(UTC).minute >= 58:
        pytest.skip("today ends within two minutes: the payments' day would change")
    await sign_in(page, stack, *shop_user)
    await open_page(page, "Dashboard")
    await page.get_by_label("Period", exact=True).select_option("today")
    await page.get_by_role("button", name="Show").click()
    heading = page.get_by_role("heading", name="Today: revenue and payments (USD)")
    await heading.wait_for()  # USD: the busiest currency of the period
    main = page.locator("main")

    # The period's figures beside the previous period's.
    stats = " ".join((await page.locator(".stats").inner_text()).split())
    assert "22.40 USD" in stats and "Previous: 7.00 USD" in stats
    assert "Completed payments 2 Previous: 1 (+100 %)" in stats
    assert "Failed payments 1 Previous: 0 (new this period)" in stats

    # Two charts, one bar per hour since midnight; the previous day's line beside them.
    hours = datetime.now(UTC).hour + 1
    charts = page.locator("svg.series-chart")
    assert await charts.count() == 2
    assert await charts.nth(0).locator("rect.bar-current").count() == hours
    assert await charts.nth(0).locator("rect.prev-marker").count() == hours
    assert "Revenue per hour in USD" in await charts.nth(0).locator("title").text_content()
    assert "This period 22.40 USD, the previous one 7.00 USD" in \
        await charts.nth(0).locator("desc").text_content()
    legend = await page.locator("ul.legend").first.inner_text()
    assert "This period" in legend and "Previous period (yesterday)" in legend
    assert "Failed, this period" in await page.locator("ul.legend").nth(1).inner_text()

    # The table: a row per hour with a payment in either day; each payment's hour has
    # its figures and the same hour yesterday the moved one.
    expected: dict[str, list[int]] = {}
    for name, cents, done, failed in (("usd1", 1250, 1, 0), ("usd2", 990, 1, 0),
                                      ("failed", 0, 0, 1)):
        cell = expected.setdefault(_hour(payments[name]), [0, 0, 0])
        cell[0], cell[1], cell[2] = cell[0] + cents, cell[1] + done, cell[2] + failed
    rows = page.locator("table.data").first.locator("tbody tr")
    assert await rows.count() == len(set(expected) | {_hour(payments["yesterday"])})
    for hour, (cents, done, failed) in expected.items():
        got = await _row(page, hour)
        assert (got["Revenue"], got["Completed"], got["Failed"]) == (
            f"{cents / 100:.2f} USD", str(done), str(failed)), got
    before = await _row(page, _hour(payments["yesterday"]))
    assert (before["Previous revenue"], before["Previous completed"]) == ("7.00 USD", "1")
    assert before["Previous hour"] == payments["yesterday"].strftime("%a %-d %b, %H:00"), before
    caption = await page.locator("table.data caption").first.inner_text()
    assert caption == ("Revenue and payments per hour in USD, this period and the previous "
                       "one (hours with no payment in either are left out)")
    text = await main.inner_text()
    assert "null" not in text and "undefined" not in text and "NaN" not in text
    assert await axe(page) == []
    assert await sideways_scroll(page) == {}
    await shot(page, "today-usd-1280")

    # The currency switch: ZAR's own figures.
    await page.get_by_label("Currency", exact=True).select_option("ZAR")
    await page.get_by_role("button", name="Show").click()
    await page.get_by_role("heading", name="Today: revenue and payments (ZAR)").wait_for()
    assert "200.00 ZAR" in await page.locator(".stats").inner_text()
    zar = await _row(page, _hour(payments["zar"]))
    assert (zar["Revenue"], zar["Completed"]) == ("200.00 ZAR", "1")
    assert "USD" not in await page.locator("table.data").first.inner_text()
    assert await axe(page) == []
    await shot(page, "today-zar-1280")

    # This month, by the day: today's bar and row, yesterday's too when it is this month.
    await page.get_by_label("Period", exact=True).select_option("month")
    await page.get_by_label("Currency", exact=True).select_option("USD")
    await page.get_by_role("button", name="Show").click()
    await page.get_by_role("heading", name="This month: revenue and payments (USD)").wait_for()
    today = datetime.now(UTC)
    assert await charts.nth(0).locator("rect.bar-current").count() == today.day
    assert (await _row(page, _day(today)))["Revenue"] == "22.40 USD"
    if today.day > 1:  # yesterday is this month too
        assert (await _row(page, _day(payments["yesterday"])))["Revenue"] == "7.00 USD"
    assert "Top products" in await main.inner_text()
    # The counts' axis has whole numbers only (3 payments: 0, 2, 4).
    ticks = await charts.nth(1).locator("text.axis-label").all_text_contents()
    assert ticks[:3] == ["0", "2", "4"], ticks
    assert await axe(page) == []
    await shot(page, "month-usd-1280")

    # This year: a bar per day since 1 January; the table lists the days with payments.
    await page.get_by_label("Period", exact=True).select_option("year")
    await page.get_by_role("button", name="Show").click()
    await page.get_by_role("heading", name="This year: revenue and payments (USD)").wait_for()
    day_of_year = today.timetuple().tm_yday
    assert await charts.nth(0).locator("rect.bar-current").count() == day_of_year
    assert (await _row(page, _day(today)))["Revenue"] == "22.40 USD"
    assert await sideways_scroll(page) == {}
    assert await axe(page) == []
    await shot(page, "year-usd-1280")


@pytest.mark.parametrize("viewport", [NARROW_VIEWPORT], ids=["320"])
async def test_the_dashboard_reads_at_320_px(stack, merchant, shop_user, payments, page,
                                             shot, axe, viewport):
    await sign_in(page, stack, *shop_user)
    await page.goto(stack.gateway + "/console/dashboard?period=today&currency=USD")
    await page.get_by_role("heading", name="Today: revenue and payments (USD)").wait_for()
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    assert await sideways_scroll(page) == {}
    assert await page.evaluate(UNLABELLED) == []
    # Drawn to the card's width, not shrunk: the axis text keeps its size.
    box = await page.locator("svg.series-chart").first.bounding_box()
    assert box and box["width"] <= 320
    size = await page.locator("svg.series-chart .axis-label").first.evaluate(
        "el => el.getBoundingClientRect().height")
    assert size >= 11, size
    assert "22.40 USD" in await page.locator(".stats").inner_text()
    assert await axe(page) == []
    await shot(page, "today-usd-320")
    await page.get_by_label("Period", exact=True).select_option("week")
    await page.get_by_role("button", name="Show").click()
    await page.get_by_role("heading", name="This week: revenue and payments (USD)").wait_for()
    await page.wait_for_function("() => !document.querySelector('main[aria-busy]')")
    assert await sideways_scroll(page) == {}
    assert await axe(page) == []
    await shot(page, "week-usd-320")

