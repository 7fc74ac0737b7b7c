"""The sandbox payout rails, billing's side: their rules and test data are in
shared/rails/sandbox.py (one class per rail, money in and out; docs/payouts.md lists
the payout side for merchants); here is how they call billing back.

`send` answers in_transit with callback_after; `call_back` then POSTs the payout id to
billing, as a real rail does, and billing asks the rail's `status` what it says now.
"""

from __future__ import annotations

import asyncio

import aiohttp

from shared import principal as principal_mod
from shared.logging import get_logger
from shared.rails.registry import sandbox_payout_rail as sandbox_rail
from shared.secrets import MissingSecret
from shared.settings import Settings

__all__ = ["CALLBACK_SUBJECT", "PAYOUT_CALLBACK_PATH", "call_back", "sandbox_rail"]

log = get_logger(__name__)

PAYOUT_CALLBACK_PATH = "/internal/rails/payouts/callback"
CALLBACK_SUBJECT = "payout-rails-sandbox"  # the service principal the callback carries


async def call_back(settings: Settings, origin: str, payout_id: str, delay: float) -> None:
    """The sandbox rail's confirmation: `delay` seconds later it calls billing back over
    HTTP, as a real rail does. Failures are logged, never raised: it runs as a task,
    and the payouts tick asks the rail about a payout whose callback never came."""
    await asyncio.sleep(delay)
    try:
        headers = {principal_mod.HEADER: principal_mod.sign(
            principal_mod.Principal(kind="service", subject=CALLBACK_SUBJECT), settings,
            audience="billing")}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.post(origin + PAYOUT_CALLBACK_PATH, json={"payoutId": payout_id},
                                 headers=headers) as resp:
                if resp.status != 200:
                    log.warning("payout_callback_refused", status=resp.status,
                                payout_id=payout_id)
    except (aiohttp.ClientError, TimeoutError, MissingSecret) as exc:
        log.warning("payout_callback_failed", payout_id=payout_id, error=str(exc))
