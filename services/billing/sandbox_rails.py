"""The sandbox payout rails: test mode only, decided by the destination's number.

Test data (docs/payouts.md lists it for merchants):

  ZIMSWITCH (BANK accounts; pays USD, ZWG)
    account ending 0001   in transit, then failed at the callback: `account_closed`,
                          "Account closed" (the bank answers later, like an ACH return)
    account ending 0002   paid at the callback, then returned: once
                          NORGATE_SANDBOX_PAYOUT_RETURN_SECONDS have passed since it was
                          paid, failed with returned=true, `returned`, "Returned by the
                          receiving bank" (a payout.failed after payout.paid)
    any other account     paid at the callback
  ECOCASH, OMARI, INNBUCKS (mobile wallets, phone 263...; pay USD, ZWG)
    phone ending 0001     failed at once, at send: `wallet_rejected`, "EcoCash wallet
                          rejected the transfer" (O'mari, InnBucks likewise): the wallet
                          network refuses synchronously
    any other phone       paid at the callback
  Any rail, another currency (NOR, ZWL, EUR, ...): failed at once,
    `currency_not_supported`; `supports(currency)` says so before a payout is made.

Timing: `send` answers in_transit with the rail's reference ("ZS", "EC", "OM" or "IB"
and 16 hex digits of the payout id's SHA-256, so a resend has the same reference) and
callback_after = NORGATE_SANDBOX_PAYOUT_CALLBACK_SECONDS; `call_back` then POSTs the
payout id to billing. `status` is a pure function of the instruction, sent_at, paid_at
and now: in_transit while now - sent_at < callback_after, then the final answer. A
callback and the payouts tick's check of a late one both ask `status`, so they agree.
A paid answer for an account ending 0002 carries callback_after = the return delay:
the rail calls back once more, when it returns the payout.
The sandbox never pays live money: every method refuses a live instruction
(RuntimeError); live payouts are refused before a rail is chosen (rails.rail_for).
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime

import aiohttp

from services.billing.rails import PayoutInstruction, PayoutRail, RailAnswer
from shared import principal as principal_mod
from shared.logging import get_logger
from shared.secrets import MissingSecret
from shared.settings import Settings

log = get_logger(__name__)

PAYOUT_CALLBACK_PATH = "/internal/rails/payouts/callback"
CALLBACK_SUBJECT = "payout-rails-sandbox"  # the service principal the callback carries
# USD and ZiG are what Zimbabwe's banks and wallets settle in; ZWL is withdrawn and NOR
# is on-chain money no bank or wallet rail carries.
CURRENCIES: frozenset[str] = frozenset({"USD", "ZWG"})


def _sandbox_only(instruction: PayoutInstruction) -> None:
    """Live payouts are refused before a rail is chosen (rails.rail_for answers None);
    reaching the sandbox with one is a bug, never a payout."""
    if instruction.livemode:
        raise RuntimeError("the sandbox payout rails never pay a live payout")


class SandboxRail:
    """One sandbox rail; its subclasses say what fails at send and what at callback."""

    name: str = ""
    prefix: str = ""
    serves: str = ""  # the destination type this rail pays (rails.RAIL_OF)

    def __init__(self, settings: Settings) -> None:
        self.callback_after = settings.sandbox_payout_callback_seconds
        self.return_after = settings.sandbox_payout_return_seconds

    def supports(self, currency: str) -> bool:
        return currency.upper() in CURRENCIES

    def reference(self, payout_id: str) -> str:
        return self.prefix + hashlib.sha256(payout_id.encode()).hexdigest()[:16].upper()

    def _checked(self, instruction: PayoutInstruction) -> None:
        _sandbox_only(instruction)
        if instruction.destination.type != self.serves:
            raise RuntimeError(f"{self.name} does not pay {instruction.destination.type} "
                               "accounts (rails.RAIL_OF chooses the rail)")

    def _refused_at_send(self, instruction: PayoutInstruction) -> RailAnswer | None:
        """The failure the rail answers at once, if any."""
        if not self.supports(instruction.currency):
            return RailAnswer(
                status="failed", failure_code="currency_not_supported",
                failure_reason=f"{self.name} does not pay out {instruction.currency}; "
                               f"it pays {' and '.join(sorted(CURRENCIES))}")
        return None

    def _final(self, instruction: PayoutInstruction, reference: str,
               paid_at: datetime | None, now: datetime) -> RailAnswer:
        """The answer once the callback is due."""
        return RailAnswer(status="paid", rail_reference=reference)

    async def send(self, instruction: PayoutInstruction) -> RailAnswer:
        self._checked(instruction)
        refused = self._refused_at_send(instruction)
        if refused is not None:
            return refused
        return RailAnswer(status="in_transit", rail_reference=self.reference(
            instruction.payout_id), callback_after=self.callback_after)

    async def status(self, instruction: PayoutInstruction, *, rail_reference: str,
                     sent_at: datetime, paid_at: datetime | None,
                     now: datetime) -> RailAnswer:
        self._checked(instruction)
        refused = self._refused_at_send(instruction)
        if refused is not None:
            return refused
        waited = (now - sent_at).total_seconds()
        if waited < self.callback_after:
            return RailAnswer(status="in_transit", rail_reference=rail_reference,
                              callback_after=self.callback_after - waited)
        return self._final(instruction, rail_reference, paid_at, now)


class Zimswitch(SandboxRail):
    name, prefix, serves = "ZIMSWITCH", "ZS", "BANK"

    def _final(self, instruction: PayoutInstruction, reference: str,
               paid_at: datetime | None, now: datetime) -> RailAnswer:
        number = instruction.destination.number
        if number.endswith("0001"):
            return RailAnswer(status="failed", rail_reference=reference,
                              failure_code="account_closed", failure_reason="Account closed")
        if number.endswith("0002"):
            if paid_at is not None and (now - paid_at).total_seconds() >= self.return_after:
                return RailAnswer(status="failed", rail_reference=reference, returned=True,
                                  failure_code="returned",
                                  failure_reason="Returned by the receiving bank")
            # Paid, and coming back: the rail calls again when it returns it.
            left = self.return_after if paid_at is None else \
                self.return_after - (now - paid_at).total_seconds()
            return RailAnswer(status="paid", rail_reference=reference, callback_after=left)
        return RailAnswer(status="paid", rail_reference=reference)


class Wallet(SandboxRail):
    label: str = ""  # the network's name as its subscribers know it

    def _refused_at_send(self, instruction: PayoutInstruction) -> RailAnswer | None:
        refused = super()._refused_at_send(instruction)
        if refused is None and instruction.destination.number.endswith("0001"):
            return RailAnswer(status="failed", failure_code="wallet_rejected",
                              failure_reason=f"{self.label} wallet rejected the transfer")
        return refused


class Ecocash(Wallet):
    name, prefix, serves, label = "ECOCASH", "EC", "ECOCASH", "EcoCash"


class Omari(Wallet):
    name, prefix, serves, label = "OMARI", "OM", "OMARI", "O'mari"


class Innbucks(Wallet):
    name, prefix, serves, label = "INNBUCKS", "IB", "INNBUCKS", "InnBucks"


RAILS: dict[str, type[SandboxRail]] = {rail.name: rail for rail in
                                       (Zimswitch, Ecocash, Omari, Innbucks)}


def sandbox_rail(name: str, settings: Settings) -> PayoutRail | None:
    """The sandbox rail called `name` (ZIMSWITCH, ECOCASH, OMARI, INNBUCKS), or None."""
    rail = RAILS.get(name)
    return None if rail is None else rail(settings)


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
