"""Billing's housekeeping (docs/housekeeping.md), pruned on a schedule by
shared/housekeeping.py: invoice e-mails older than the send caps' window."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.billing import invoices, store
from services.billing.context import CLOCK
from shared.housekeeping import Prune, housekeeping_ctx


def prunes(app: web.Application) -> list[Prune]:
    async def invoice_sends(conn: asyncpg.Connection, limit: int) -> int:
        # The app's clock, as the caps count by it (tests run billing at other times).
        return await store.prune_invoice_sends(
            conn, limit, before=app[CLOCK].now() - invoices.SEND_WINDOW)

    return [Prune("invoice_sends", invoice_sends)]


ctx = housekeeping_ctx(prunes)
