"""Payout rails: billing's side of the rails (shared/rails).

A payout goes to a merchant's settlement account over the rail of the account's type
(RAIL_OF): BANK over ZIMSWITCH, a mobile wallet over its own network (ECOCASH, OMARI,
INNBUCKS). Each rail is one object for both directions (shared/rails/base.py: `Rail`,
whose docstring gives the life of a payout on it: send, the callback, status); its
pay-ins are checkout's (services/checkout/connectors.py). The sandbox rails and their
payout test data are in shared/rails/sandbox.py; billing's half of their callback is
sandbox_rails.call_back.

The sandbox rails serve test mode only. Live mode has only rails an operator configured
(shared/rails/registry.LIVE), and none ships with norgate: `rail_for(type,
livemode=True)` is None, so a live payout is refused before any money moves.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.rails import registry
from shared.rails.base import (
    RAIL_OF,
    Destination,
    DestinationType,
    PayoutInstruction,
    RailAnswer,
)
from shared.rails.base import Rail as PayoutRail

__all__ = ["LIVE", "RAIL_OF", "Destination", "DestinationType", "PayoutInstruction",
           "PayoutRail", "RailAnswer", "rail_for"]

# The operator-configured live rails that pay out, by rail name (a view of
# registry.LIVE): empty, as none ships with norgate.
LIVE: Mapping[str, PayoutRail] = registry.LIVE_PAYOUTS
# The rail that pays a destination of this type in this mode, or None.
rail_for = registry.payout_rail_for
