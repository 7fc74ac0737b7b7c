"""Which rail serves what, in each mode.

Test mode: the sandbox rails (sandbox.py), every one. Live mode: only the rails an
operator configured, in LIVE by rail name; none ships with norgate, so LIVE is empty, no
live payment completes and no live payout is made.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from shared.rails import sandbox
from shared.rails.base import RAIL_OF, Rail
from shared.settings import Settings

# Operator-configured rails for live mode, by rail name. None ships with norgate.
LIVE: dict[str, Rail] = {}

# The sandbox rails as pay-ins use them (their payout timing is the settings' defaults;
# payouts get rails made with the service's settings, payout_rail_for).
_SANDBOX_PAY_IN: dict[str, Rail] = {name: rail() for name, rail in sandbox.RAILS.items()
                                    if rail.pays_in}
SANDBOX_METHODS: frozenset[str] = frozenset(_SANDBOX_PAY_IN)


def for_mode(livemode: bool) -> frozenset[str]:
    """The payment methods (rail names) a payment of that mode can be paid with here."""
    if livemode:
        return frozenset(name for name, rail in LIVE.items() if rail.pays_in)
    return SANDBOX_METHODS


def pay_in_rail(method: str | None, *, livemode: bool) -> Rail | None:
    """The rail that takes a payment of this mode by `method`; None when none does."""
    if livemode:
        rail = LIVE.get(method or "")
        return rail if rail is not None and rail.pays_in else None
    return _SANDBOX_PAY_IN.get(method or "")


def sandbox_payout_rail(name: str, settings: Settings) -> Rail | None:
    """The sandbox rail called `name` if it pays out (ZIMSWITCH, ECOCASH, OMARI,
    INNBUCKS), timed by `settings`; None otherwise (VISA_MASTER, an unknown name)."""
    rail = sandbox.RAILS.get(name)
    return rail(settings) if rail is not None and rail.pays_out else None


def payout_rail_for(destination_type: str, *, livemode: bool,
                    settings: Settings) -> Rail | None:
    """The rail that pays a destination of this type (RAIL_OF) in this mode; None when
    none is configured (live mode, until an operator adds a real connector)."""
    if livemode:
        return LIVE_PAYOUTS.get(RAIL_OF[destination_type])
    return sandbox_payout_rail(RAIL_OF[destination_type], settings)


class _PayingOut(Mapping[str, Rail]):
    """LIVE's rails that pay out, read through as LIVE is now (a rail an operator adds
    later is seen): falsy while no live payout can be made."""

    def __getitem__(self, name: str) -> Rail:
        rail = LIVE[name]
        if not rail.pays_out:
            raise KeyError(name)
        return rail

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, rail in LIVE.items() if rail.pays_out])

    def __len__(self) -> int:
        return sum(1 for rail in LIVE.values() if rail.pays_out)


LIVE_PAYOUTS: Mapping[str, Rail] = _PayingOut()
