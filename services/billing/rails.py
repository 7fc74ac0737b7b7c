"""Payout rails: the one interface every rail that pays money out implements.

A payout goes to a merchant's settlement account over the rail of the account's type:
BANK over ZIMSWITCH, a mobile wallet over its own network (ECOCASH, OMARI, INNBUCKS).
Pay-ins over the same rails are checkout's (services/checkout/connectors.py); a rail's
two directions share its name, its sandbox rules (an account or phone ending 0001 is
refused) and its test-mode-only rule.

The life of a payout on a rail:

    send(instruction)         the rail takes it: in_transit (with its reference), or
                              refuses it at once: failed
    ... the rail calls back   (callback_after seconds later, as the ECOCASH pay-in does)
    status(instruction, ...)  what the rail says now: in_transit, paid, or failed; a paid
                              payout the bank sends back later is `returned` (failed)

`status` is what a callback reports and what the payouts tick asks when a callback is
late, so a lost callback never leaves a payout in transit for ever.

The sandbox rails (sandbox_rails.py) serve test mode only. Live mode has only rails an
operator configured, and none ships with norgate: `rail_for(type, livemode=True)` is
None, so a live payout is refused before any money moves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import Settings

DestinationType = Literal["BANK", "ECOCASH", "OMARI", "INNBUCKS"]
# The rail each settlement account type is paid over.
RAIL_OF: dict[str, str] = {"BANK": "ZIMSWITCH", "ECOCASH": "ECOCASH", "OMARI": "OMARI",
                           "INNBUCKS": "INNBUCKS"}


class Destination(BaseModel):
    """Where a payout goes: a settlement account with its number in clear. Made only
    to hand to a rail; never logged, stored or rendered (masked() is)."""
    model_config = ConfigDict(frozen=True)

    settlement_account_id: str
    type: DestinationType
    currency: str
    number: str = Field(repr=False)  # account number, or the wallet's phone (263...)
    account_name: str | None = None
    bank_name: str | None = None
    branch_code: str | None = None

    def masked(self) -> dict[str, str | None]:
        """What a payout shows of its destination (last four only)."""
        return {"settlementAccountId": self.settlement_account_id, "type": self.type,
                "last4": self.number[-4:], "accountName": self.account_name,
                "bankName": self.bank_name}


class PayoutInstruction(BaseModel):
    """What a rail is asked to pay."""
    model_config = ConfigDict(frozen=True)

    payout_id: str
    amount: int = Field(gt=0)  # minor units
    currency: str
    livemode: bool
    destination: Destination


class RailAnswer(BaseModel):
    """A rail's word on a payout."""
    model_config = ConfigDict(frozen=True)

    status: Literal["in_transit", "paid", "failed"]
    rail_reference: str | None = None
    failure_code: str | None = None      # account_closed, returned, ...
    failure_reason: str | None = None    # for people: "Account closed"
    returned: bool = False               # failed after having been paid
    callback_after: float | None = None  # seconds until the rail calls back


class PayoutRail(Protocol):
    """`send` must be idempotent by payout id: a payout is sent again when the answer
    to the first send was lost (a restart before its transaction committed), and the
    rail must then answer about the payout it already has, never pay it twice.
    `send` may answer paid at once (an instant rail), in_transit, or failed."""
    name: str

    async def send(self, instruction: PayoutInstruction) -> RailAnswer: ...

    async def status(self, instruction: PayoutInstruction, *, rail_reference: str,
                     sent_at: datetime, paid_at: datetime | None,
                     now: datetime) -> RailAnswer: ...


def rail_for(destination_type: str, *, livemode: bool,
             settings: Settings) -> PayoutRail | None:
    """The rail that pays a destination of this type in this mode; None when none is
    configured (live mode, until an operator adds a real connector)."""
    if livemode:
        return LIVE.get(RAIL_OF[destination_type])
    from services.billing import sandbox_rails
    return sandbox_rails.sandbox_rail(RAIL_OF[destination_type], settings)


# Operator-configured rails for live mode, by rail name. None ships with norgate.
LIVE: dict[str, PayoutRail] = {}
