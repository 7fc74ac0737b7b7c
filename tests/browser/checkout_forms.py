"""Driving the checkout pages' payment forms (the hosted page, the NORAH page and the
embedded one): each method is a panel of an exclusive accordion (a <details> named by
its title), so a form is filled after its panel is opened, as a shopper would."""

from __future__ import annotations

import re

from playwright.async_api import FrameLocator, Locator, Page, expect

CARD = "Card"  # the card panel's title
STEP_3DS = "Confirm with your bank (3-D Secure)"  # the 3-D Secure step's heading


def method(page: Page | FrameLocator, title: str) -> Locator:
    """The method's panel (a named group)."""
    return page.get_by_role("group", name=title, exact=True)


async def choose(page: Page | FrameLocator, title: str) -> Locator:
    """Open the method's panel (a click on its summary, unless it is open already)."""
    panel = method(page, title)
    if await panel.get_attribute("open") is None:
        await panel.locator("summary").click()
    await expect(panel).to_have_attribute("open", "")
    return panel


async def fill_card(page: Page | FrameLocator, number: str, expiry: str = "12 / 99",
                    cvc: str = "123") -> Locator:
    card = await choose(page, CARD)
    await card.get_by_label("Card number").fill(number)
    await card.get_by_label("Expiry date").fill(expiry)
    await card.get_by_label("Security code").fill(cvc)
    return card


def pay_button(panel: Locator) -> Locator:
    """The panel's pay button ("Pay 10.50 USD", "Pay 10.50 USD with OMARI", ...)."""
    return panel.get_by_role("button", name=re.compile("^Pay "))
