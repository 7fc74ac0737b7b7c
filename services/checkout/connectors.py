"""Payment-method connectors: one interface, a sandbox behind each method.

Sandbox test data (docs/payments.md lists it for merchants):
  VISA_MASTER  4242 4242 4242 4242, 5555 5555 5555 4444   succeed
               4000 0000 0000 0002                          declined
               4000 0000 0000 9995                          insufficient funds
               4000 0025 0000 3155                          3-D Secure challenge
                                                            (answer "pass" or "fail")
  OMARI        any phone; the OTP 123456 completes, any other fails
  ECOCASH      phone ending 0001 fails, ending 0002 never answers (stays
               processing until it times out), any other completes a moment
               later through the rail's callback
  ZIMSWITCH, INNBUCKS   account ending 0001 is declined, any other succeeds
  NOR_WALLET   payer 0x + 40 hex; a sandbox balance of 1,000 NOR, or none for
               addresses ending in "dead"; completes with a transaction hash
The sandbox serves test mode only (docs/modes.md): `for_mode` names the methods a
payment of each mode may be confirmed with, and a live payment's confirm with any
other is refused before a rail is reached (payments._check_confirmable). A real
connector implements the same `start`/`act` pair (its `decided` answers None: it
charges under the lock), is configured by the operator and listed in LIVE; none ships,
so LIVE is empty and no live payment completes.
Card numbers never leave this module: only brand and last four are kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from services.checkout.domain import METHODS, ConfirmPayment, PaymentAction

ONE_THOUSAND_NOR = 1000 * 10**18
INSUFFICIENT = "Insufficient balance"

# The methods each mode's connectors serve: the sandbox every method, in test mode only;
# live mode what an operator-configured connector serves (none ships with norgate).
SANDBOX: frozenset[str] = frozenset(METHODS)
LIVE: frozenset[str] = frozenset()


def for_mode(livemode: bool) -> frozenset[str]:
    """The methods a payment of that mode can be paid with here."""
    return LIVE if livemode else SANDBOX


def _sandbox_only(payment) -> None:
    """Every function below is the sandbox. The confirm paths refuse a live payment
    before they get here (a 400); reaching here with one is a bug, never a charge."""
    if payment["livemode"]:
        raise RuntimeError("the sandbox rails never decide a live payment")


class BadPaymentDetails(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Outcome:
    status: str  # completed | failed | processing
    reason: str | None = None
    action: str | None = None  # what the payer must still do: 3ds | otp | phone_prompt
    facts: dict = field(default_factory=dict)  # payer, transaction_hash, card_brand, ...
    callback_after: float | None = None  # an asynchronous rail will call back


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(body: ConfirmPayment) -> Outcome:
    if body.card is None:
        raise BadPaymentDetails("card", "card: required for VISA_MASTER")
    number = re.sub(r"[ -]", "", body.card.number)
    if not (number.isascii() and number.isdigit()) or not _luhn(number):
        raise BadPaymentDetails("card.number", "card.number: is not a valid card number")
    now = datetime.now(UTC)
    if (body.card.exp_year, body.card.exp_month) < (now.year, now.month):
        raise BadPaymentDetails("card.expMonth", "card.expMonth: the card has expired")
    brand = "VISA" if number.startswith("4") else "MASTERCARD" if number[0] in "25" else "CARD"
    facts = {"card_brand": brand, "card_last4": number[-4:]}
    if number == "4000000000000002":
        return Outcome("failed", "Card declined", facts=facts)
    if number == "4000000000009995":
        return Outcome("failed", INSUFFICIENT, facts=facts)
    if number == "4000002500003155":
        return Outcome("processing", action="3ds", facts=facts)
    return Outcome("completed", facts=facts)


def _phone(body: ConfirmPayment) -> str:
    if not body.phone_number:
        raise BadPaymentDetails("phoneNumber", "phoneNumber: required for this method")
    return body.phone_number


def _account(body: ConfirmPayment) -> Outcome:
    if not body.account or not (body.account.isascii() and body.account.isdigit()):
        raise BadPaymentDetails("account", "account: an account number is required")
    if body.account.endswith("0001"):
        return Outcome("failed", "Account declined", facts={"payer": body.account[-4:]})
    return Outcome("completed", facts={"payer": body.account[-4:]})


async def _nor_wallet(conn: asyncpg.Connection, payment, body: ConfirmPayment) -> Outcome:
    if payment["currency"] != "NOR":
        raise BadPaymentDetails("paymentMethod", "paymentMethod: NOR_WALLET pays NOR only")
    payer = (body.payer or "").lower()
    if not re.fullmatch(r"0x[0-9a-f]{40}", payer):
        raise BadPaymentDetails("payer", "payer: must be a wallet address (0x + 40 hex)")
    start = 0 if payer.endswith("dead") else ONE_THOUSAND_NOR
    await conn.execute("INSERT INTO sandbox_wallets (address, balance) VALUES ($1, $2) "
                       "ON CONFLICT DO NOTHING", payer, start)
    debited = await conn.fetchval(
        "UPDATE sandbox_wallets SET balance = balance - $2 WHERE address = $1 "
        "AND balance >= $2 RETURNING balance", payer, payment["amount"])
    if debited is None:
        return Outcome("failed", INSUFFICIENT, facts={"payer": payer})
    tx = "0x" + hashlib.sha256(f"{payment['payment_id']}:{payer}".encode()).hexdigest()
    return Outcome("completed", facts={"payer": payer, "transaction_hash": tx})


async def start(conn: asyncpg.Connection, payment, body: ConfirmPayment) -> Outcome:
    """Begin paying `payment` with the method and details in `body`."""
    outcome = decided(payment, body)
    return outcome if outcome is not None else await _nor_wallet(conn, payment, body)


def decided(payment, body: ConfirmPayment) -> Outcome | None:
    """start's outcome when the rail decides from the details alone, with no effect
    anywhere (every sandbox rail but the NOR wallet, whose balance is in the database);
    None otherwise. It runs before the payment is locked, once per concurrent confirm
    (payments.PaymentConfirms), so it must never reach outside this process: a connector
    that calls a real network returns None here and charges in `start`, under the lock."""
    _sandbox_only(payment)
    method = body.payment_method
    if method == "VISA_MASTER":
        return _card(body)
    if method == "NOR_WALLET":
        return None
    if method in ("ZIMSWITCH", "INNBUCKS"):
        return _account(body)
    phone = _phone(body)
    facts = {"phone_number": phone}
    if method == "OMARI":
        return Outcome("processing", action="otp", facts=facts)
    # ECOCASH: the subscriber gets a prompt on the phone; the rail calls back.
    if phone.endswith("0001"):
        return Outcome("processing", action="phone_prompt", facts=facts, callback_after=0.5)
    if phone.endswith("0002"):
        return Outcome("processing", action="phone_prompt", facts=facts)  # never answers
    return Outcome("processing", action="phone_prompt", facts=facts, callback_after=0.5)


def act(payment, body: PaymentAction) -> Outcome:
    """The payer's answer to a pending action (OTP, 3-D Secure)."""
    _sandbox_only(payment)
    if payment["pending_action"] == "otp":
        if body.otp is None:
            raise BadPaymentDetails("otp", "otp: required to complete this payment")
        return Outcome("completed") if body.otp == "123456" else Outcome("failed", "Wrong OTP")
    if payment["pending_action"] == "3ds":
        if body.three_d_secure is None:
            raise BadPaymentDetails("threeDSecure", "threeDSecure: required (pass or fail)")
        return Outcome("completed") if body.three_d_secure == "pass" else \
            Outcome("failed", "3-D Secure authentication failed")
    raise BadPaymentDetails("payment", "payment: no action is pending for this payment")


def ecocash_callback(payment) -> Outcome:
    """What the sandbox rail reports when it calls back."""
    _sandbox_only(payment)
    if (payment["phone_number"] or "").endswith("0001"):
        return Outcome("failed", "Payment rejected by the subscriber")
    return Outcome("completed", facts={"transaction_hash": "EC" + payment["payment_id"][4:16]})
