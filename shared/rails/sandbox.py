"""The sandbox rails: one class per rail, both directions, test mode only.

Test data (docs/payments.md lists the pay-in side for merchants, docs/payouts.md the
payout side):

  VISA_MASTER  pays in only
    4242 4242 4242 4242, 5555 5555 5555 4444   succeed
    4000 0000 0000 0002                          declined
    4000 0000 0000 9995                          insufficient funds
    4000 0025 0000 3155                          3-D Secure challenge (answer "pass" or
                                                 "fail")
    a number failing the Luhn check, an expired card: bad details (400)
  OMARI
    pay in      any phone; the OTP 123456 completes, any other fails
    pay out     wallet phone ending 0001 refused at send, any other paid at the callback
  ECOCASH
    pay in      phone ending 0001 fails, ending 0002 never answers (stays processing
                until it times out), any other completes a moment later through the
                rail's callback (callback_after = 0.5 s)
    pay out     wallet phone ending 0001 refused at send, any other paid at the callback
  ZIMSWITCH (BANK accounts)
    pay in      account ending 0001 is declined, any other succeeds
    pay out     account ending 0001: in transit, then failed at the callback:
                `account_closed`, "Account closed" (the bank answers later, like an
                ACH return); ending 0002: paid at the callback, then returned once
                NORGATE_SANDBOX_PAYOUT_RETURN_SECONDS have passed since it was paid
                (failed with returned=true, `returned`, "Returned by the receiving
                bank": a payout.failed after payout.paid); any other: paid at the
                callback
  INNBUCKS
    pay in      account ending 0001 is declined, any other succeeds
    pay out     wallet phone ending 0001 refused at send, any other paid at the callback
  NOR_WALLET   pays in only
    payer 0x + 40 hex, currency NOR; a sandbox balance of 1,000 NOR (debited), or none
    for addresses ending in "dead"; completes with a transaction hash

Payouts, every rail: USD and ZWG only; another currency (NOR, ZWL, EUR, ...) is failed
at once, `currency_not_supported`, and `supports(currency)` says so before a payout is
made. A wallet refused at send is `wallet_rejected`, "EcoCash wallet rejected the
transfer" (O'mari, InnBucks likewise): the wallet network refuses synchronously.

Payout timing: `send` answers in_transit with the rail's reference ("ZS", "EC", "OM" or
"IB" and 16 hex digits of the payout id's SHA-256, so a resend has the same reference)
and callback_after = NORGATE_SANDBOX_PAYOUT_CALLBACK_SECONDS; billing's
sandbox_rails.call_back then POSTs the payout id to billing. `status` is a pure function
of the instruction, sent_at, paid_at and now: in_transit while now - sent_at <
callback_after, then the final answer, so a callback and the payouts tick's check of a
late one agree. A paid answer for an account ending 0002 carries callback_after = the
return delay: the rail calls back once more, when it returns the payout.

The sandbox never moves live money: every method of both directions refuses a live
payment or payout (RuntimeError). The callers refuse them first (a 400): checkout's
confirm when the method is not in registry.for_mode(True), billing's payout create when
registry.payout_rail_for(..., livemode=True) is None; reaching here with one is a bug.
Card numbers never leave this module: only brand and last four are kept.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime

import asyncpg

from shared.rails import sandbox_store
from shared.rails.base import (
    INSUFFICIENT,
    BadPaymentDetails,
    DestinationType,
    Outcome,
    PayerAnswer,
    PayInDetails,
    PaymentRow,
    PayoutInstruction,
    RailAnswer,
)
from shared.settings import Settings

ONE_THOUSAND_NOR = 1000 * 10**18
ECOCASH_CALLBACK_AFTER = 0.5  # seconds until the ECOCASH pay-in sandbox calls back
# USD and ZiG are what Zimbabwe's banks and wallets settle in; ZWL is withdrawn and NOR
# is on-chain money no bank or wallet rail carries.
CURRENCIES: frozenset[str] = frozenset({"USD", "ZWG"})
# The payout timing when no settings are given (the pay-in registry's rails): the
# settings' own defaults, so there is one source for them.
_CALLBACK_DEFAULT = float(Settings.model_fields["sandbox_payout_callback_seconds"].default)
_RETURN_DEFAULT = float(Settings.model_fields["sandbox_payout_return_seconds"].default)


def _sandbox_only_payment(payment: PaymentRow) -> None:
    if payment["livemode"]:
        raise RuntimeError("the sandbox rails never decide a live payment")


def _sandbox_only_payout(instruction: PayoutInstruction) -> None:
    if instruction.livemode:
        raise RuntimeError("the sandbox payout rails never pay a live payout")


class SandboxRail(ABC):
    """A sandbox rail that pays in only; PayoutSandboxRail adds money out. Each rail
    gives `_decide` (and, when the rail has them, `start`, `act`, `called_back`)."""

    name: str = ""
    pays_in: bool = True
    pays_out: bool = False

    def __init__(self, settings: Settings | None = None) -> None:
        # Only payouts are timed by the settings; pay-ins need none.
        self.callback_after = _CALLBACK_DEFAULT if settings is None else \
            settings.sandbox_payout_callback_seconds
        self.return_after = _RETURN_DEFAULT if settings is None else \
            settings.sandbox_payout_return_seconds

    # Money in -----------------------------------------------------------------------

    def decided(self, payment: PaymentRow, details: PayInDetails) -> Outcome | None:
        _sandbox_only_payment(payment)
        return self._decide(details)

    @abstractmethod
    def _decide(self, details: PayInDetails) -> Outcome | None:
        """The outcome its test data decide at once, or None when the payer must act."""

    async def start(self, conn: asyncpg.Connection, payment: PaymentRow,
                    details: PayInDetails) -> Outcome:
        outcome = self.decided(payment, details)
        if outcome is None:
            raise RuntimeError(f"{self.name} decides nothing and charges nothing")
        return outcome

    def act(self, payment: PaymentRow, answer: PayerAnswer) -> Outcome:
        _sandbox_only_payment(payment)
        raise BadPaymentDetails("payment", "payment: no action is pending for this payment")

    def called_back(self, payment: PaymentRow) -> Outcome:
        _sandbox_only_payment(payment)
        raise RuntimeError(f"the {self.name} sandbox never calls back")

    # Money out: refused, this rail pays in only ---------------------------------------

    def supports(self, currency: str) -> bool:
        return False

    async def send(self, instruction: PayoutInstruction) -> RailAnswer:
        raise RuntimeError(f"{self.name} does not pay out")

    async def status(self, instruction: PayoutInstruction, *, rail_reference: str,
                     sent_at: datetime, paid_at: datetime | None,
                     now: datetime) -> RailAnswer:
        raise RuntimeError(f"{self.name} does not pay out")


class PayoutSandboxRail(SandboxRail):
    """A sandbox rail that also pays out; its subclasses say what fails at send and
    what at the callback."""

    pays_out = True
    prefix: str = ""
    serves: DestinationType = "BANK"  # the destination type this rail pays (RAIL_OF)

    def supports(self, currency: str) -> bool:
        return currency.upper() in CURRENCIES

    def reference(self, payout_id: str) -> str:
        return self.prefix + hashlib.sha256(payout_id.encode()).hexdigest()[:16].upper()

    def _checked(self, instruction: PayoutInstruction) -> None:
        _sandbox_only_payout(instruction)
        if instruction.destination.type != self.serves:
            raise RuntimeError(f"{self.name} does not pay {instruction.destination.type} "
                               "accounts (RAIL_OF chooses the rail)")

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


class WalletSandboxRail(PayoutSandboxRail):
    """A mobile wallet network: pays out to a phone, and refuses one ending 0001 at once."""

    label: str = ""  # the network's name as its subscribers know it

    def _refused_at_send(self, instruction: PayoutInstruction) -> RailAnswer | None:
        refused = super()._refused_at_send(instruction)
        if refused is None and instruction.destination.number.endswith("0001"):
            return RailAnswer(status="failed", failure_code="wallet_rejected",
                              failure_reason=f"{self.label} wallet rejected the transfer")
        return refused


# Pay-in rules shared by rails --------------------------------------------------------

def _phone(details: PayInDetails) -> str:
    if not details.phone_number:
        raise BadPaymentDetails("phoneNumber", "phoneNumber: required for this method")
    return details.phone_number


def _account(details: PayInDetails) -> Outcome:
    """A bank or InnBucks account pays in at once: declined when it ends 0001."""
    account = details.account
    if not account or not (account.isascii() and account.isdigit()):
        raise BadPaymentDetails("account", "account: an account number is required")
    if account.endswith("0001"):
        return Outcome("failed", "Account declined", facts={"payer": account[-4:]})
    return Outcome("completed", facts={"payer": account[-4:]})


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# The rails ---------------------------------------------------------------------------

class VisaMaster(SandboxRail):
    name = "VISA_MASTER"

    def _decide(self, details: PayInDetails) -> Outcome:
        card = details.card
        if card is None:
            raise BadPaymentDetails(
                "card", "card: required for VISA_MASTER: number, expMonth, expYear, cvc")
        number = re.sub(r"[ -]", "", card.number)
        if not (number.isascii() and number.isdigit()) or not _luhn(number):
            raise BadPaymentDetails("card.number", "card.number: is not a valid card number")
        now = datetime.now(UTC)
        if (card.exp_year, card.exp_month) < (now.year, now.month):
            raise BadPaymentDetails("card.expMonth", "card.expMonth: the card has expired")
        brand = "VISA" if number.startswith("4") else \
            "MASTERCARD" if number[0] in "25" else "CARD"
        facts = {"card_brand": brand, "card_last4": number[-4:]}
        if number == "4000000000000002":
            return Outcome("failed", "Card declined", facts=facts)
        if number == "4000000000009995":
            return Outcome("failed", INSUFFICIENT, facts=facts)
        if number == "4000002500003155":
            return Outcome("processing", action="3ds", facts=facts)
        return Outcome("completed", facts=facts)

    def act(self, payment: PaymentRow, answer: PayerAnswer) -> Outcome:
        _sandbox_only_payment(payment)
        if payment["pending_action"] != "3ds":
            return super().act(payment, answer)
        if answer.three_d_secure is None:
            raise BadPaymentDetails("threeDSecure", "threeDSecure: required (pass or fail)")
        return Outcome("completed") if answer.three_d_secure == "pass" else \
            Outcome("failed", "3-D Secure authentication failed")


class Omari(WalletSandboxRail):
    name, prefix, serves, label = "OMARI", "OM", "OMARI", "O'mari"

    def _decide(self, details: PayInDetails) -> Outcome:
        return Outcome("processing", action="otp",
                       facts={"phone_number": _phone(details)})

    def act(self, payment: PaymentRow, answer: PayerAnswer) -> Outcome:
        _sandbox_only_payment(payment)
        if payment["pending_action"] != "otp":
            return super().act(payment, answer)
        if answer.otp is None:
            raise BadPaymentDetails("otp", "otp: required to complete this payment")
        return Outcome("completed") if answer.otp == "123456" else Outcome("failed", "Wrong OTP")


class Ecocash(WalletSandboxRail):
    name, prefix, serves, label = "ECOCASH", "EC", "ECOCASH", "EcoCash"

    def _decide(self, details: PayInDetails) -> Outcome:
        # The subscriber gets a prompt on the phone; the rail calls back (called_back),
        # except for a phone ending 0002, which never answers.
        phone = _phone(details)
        facts = {"phone_number": phone}
        if phone.endswith("0002"):
            return Outcome("processing", action="phone_prompt", facts=facts)
        return Outcome("processing", action="phone_prompt", facts=facts,
                       callback_after=ECOCASH_CALLBACK_AFTER)

    def called_back(self, payment: PaymentRow) -> Outcome:
        _sandbox_only_payment(payment)
        if (payment["phone_number"] or "").endswith("0001"):
            return Outcome("failed", "Payment rejected by the subscriber")
        return Outcome("completed",
                       facts={"transaction_hash": "EC" + payment["payment_id"][4:16]})


class Zimswitch(PayoutSandboxRail):
    name, prefix, serves = "ZIMSWITCH", "ZS", "BANK"

    def _decide(self, details: PayInDetails) -> Outcome:
        return _account(details)

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


class Innbucks(WalletSandboxRail):
    """Pays in from an InnBucks account number, out to the wallet's phone."""
    name, prefix, serves, label = "INNBUCKS", "IB", "INNBUCKS", "InnBucks"

    def _decide(self, details: PayInDetails) -> Outcome:
        return _account(details)


class NorWallet(SandboxRail):
    """Decides nothing from the details alone: the payer's balance is in the database,
    so it charges in `start`, under the payment's lock."""
    name = "NOR_WALLET"

    def _decide(self, details: PayInDetails) -> None:
        return None

    async def start(self, conn: asyncpg.Connection, payment: PaymentRow,
                    details: PayInDetails) -> Outcome:
        _sandbox_only_payment(payment)
        if payment["currency"] != "NOR":
            raise BadPaymentDetails("paymentMethod", "paymentMethod: NOR_WALLET pays NOR only")
        payer = (details.payer or "").lower()
        if not re.fullmatch(r"0x[0-9a-f]{40}", payer):
            raise BadPaymentDetails("payer", "payer: must be a wallet address (0x + 40 hex)")
        opening = 0 if payer.endswith("dead") else ONE_THOUSAND_NOR
        if not await sandbox_store.debit_wallet(conn, payer, int(payment["amount"]),
                                                opening=opening):
            return Outcome("failed", INSUFFICIENT, facts={"payer": payer})
        tx = "0x" + hashlib.sha256(f"{payment['payment_id']}:{payer}".encode()).hexdigest()
        return Outcome("completed", facts={"payer": payer, "transaction_hash": tx})


RAILS: dict[str, type[SandboxRail]] = {rail.name: rail for rail in (
    VisaMaster, Omari, Ecocash, Zimswitch, Innbucks, NorWallet)}
