"""The sandbox payout rails' HTTP callback (sandbox_rails.call_back) against a real
aiohttp server: the payout id arrives at billing's callback path, signed by a service
principal only billing accepts; a refusal or an unreachable billing is logged, never
raised (the callback runs as a task)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from services.billing import sandbox_rails
from shared import principal as principal_mod
from tests.conftest import serve
from tests.support.net import free_port
from tests.support.poll import poll_until


class Billing:
    """Stands where billing's callback route will: keeps what each call brought."""

    def __init__(self, answer: int = 200) -> None:
        self.calls: list[tuple[dict, str | None]] = []
        self.answer = answer
        self.app = web.Application()
        self.app.router.add_post(sandbox_rails.PAYOUT_CALLBACK_PATH, self._callback)

    async def _callback(self, request: web.Request) -> web.Response:
        self.calls.append((await request.json(), request.headers.get(principal_mod.HEADER)))
        return web.json_response({"ok": True}, status=self.answer)


class Lines:
    """The module's logger, as the lines it wrote."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict]] = []

    def warning(self, event: str, **fields) -> None:
        self.lines.append((event, fields))


@pytest.fixture
def lines(monkeypatch) -> Lines:
    recorder = Lines()
    monkeypatch.setattr(sandbox_rails, "log", recorder)
    return recorder


def origin_of(client) -> str:
    return f"http://127.0.0.1:{client.port}"


async def test_the_callback_brings_the_payout_id_signed_for_billing(settings, lines):
    billing = Billing()
    async with serve(billing.app) as client:
        task = asyncio.create_task(sandbox_rails.call_back(
            settings, origin_of(client), "po_3f9a2c71e0b4", 0.05))
        await poll_until(lambda: billing.calls, what="the rail's callback")
        await task
    [(body, token)] = billing.calls
    assert body == {"payoutId": "po_3f9a2c71e0b4"}
    assert token is not None
    who = principal_mod.verify(token, settings, audience="billing")
    assert (who.kind, who.subject) == ("service", sandbox_rails.CALLBACK_SUBJECT)
    # Addressed to billing alone: another service refuses it.
    with pytest.raises(principal_mod.InvalidPrincipal):
        principal_mod.verify(token, settings, audience="checkout")
    assert lines.lines == []


async def test_a_refused_callback_is_logged_not_raised(settings, lines):
    billing = Billing(answer=503)
    async with serve(billing.app) as client:
        await sandbox_rails.call_back(settings, origin_of(client), "po_refused", 0)
    assert len(billing.calls) == 1
    assert lines.lines == [("payout_callback_refused",
                            {"status": 503, "payout_id": "po_refused"})]


async def test_an_unreachable_billing_is_logged_not_raised(settings, lines):
    await sandbox_rails.call_back(settings, f"http://127.0.0.1:{free_port()}", "po_lost", 0)
    [(event, fields)] = lines.lines
    assert (event, fields["payout_id"]) == ("payout_callback_failed", "po_lost")
