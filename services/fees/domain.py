"""The fee engine: which charge rules apply to a transaction, and what they cost.

Rules (docs/fees.md has worked examples):
  1. Candidates are ACTIVE rules of the transaction's currency and category.
  2. If the merchant has any such rule of its own, its rules replace the SYSTEM
     rules entirely; otherwise the SYSTEM rules apply.
  3. A rule applies when min_threshold <= amount <= max_threshold (both
     inclusive; no max means no upper bound).
  4. Each applicable rule costs: FLAT -> its value; PERCENTAGE -> amount x value
     / 100, rounded to the currency's minor unit, half up. Each rule is rounded
     on its own, then the rule amounts add up, so the order of rules never
     changes the result.
  5. The total never exceeds the amount unless an applicable FLAT rule has
     allow_above_amount. When it must be capped, the lines are reduced from the
     last in canonical order (FLAT before PERCENTAGE, then by rule id) until the
     total equals the amount.
  6. netAmount = amount - charges, always.
Arithmetic is on integer minor units; percentages use Decimal with enough
precision for 78-digit amounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cached_property
from typing import Literal

from shared.money import Currency

ChargeType = Literal["FLAT", "PERCENTAGE"]


@dataclass(frozen=True)
class Rule:
    id: int
    scope: Literal["SYSTEM", "MERCHANT"]
    merchant_id: int | None
    charge_type: ChargeType
    category: str
    status: Literal["ACTIVE", "INACTIVE"]
    currency: str
    value: Decimal
    min_threshold: Decimal = Decimal(0)
    max_threshold: Decimal | None = None
    allow_above_amount: bool = False

    # Derived once per rule (rules live in the cache), not once per quote.
    @cached_property
    def exponent(self) -> int:
        from shared.money import get_currency
        return get_currency(self.currency).exponent

    @cached_property
    def min_minor(self) -> int:
        return _exact_minor(self.min_threshold, self.exponent)

    @cached_property
    def max_minor(self) -> int | None:
        return None if self.max_threshold is None else _exact_minor(self.max_threshold,
                                                                     self.exponent)

    @cached_property
    def flat_minor(self) -> int:
        return _exact_minor(self.value, self.exponent)

    @cached_property
    def percent_fraction(self) -> tuple[int, int]:
        """value / 100 as numerator / denominator, for exact integer arithmetic."""
        sign, digits, exp = self.value.as_tuple()
        if not isinstance(exp, int):  # stored values are finite (numeric has no NaN here)
            raise ValueError(f"rule value is not a finite number: {self.value}")
        numerator = int("".join(map(str, digits)) or "0")
        return (numerator * 10**exp, 100) if exp >= 0 else (numerator, 100 * 10**-exp)


@dataclass(frozen=True)
class Line:
    rule_id: int
    charge_type: ChargeType
    value: Decimal
    amount_minor: int


@dataclass(frozen=True)
class Quote:
    currency: Currency
    category: str
    amount_minor: int
    lines: tuple[Line, ...]

    @property
    def charges_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    @property
    def net_minor(self) -> int:
        return self.amount_minor - self.charges_minor


def _exact_minor(major: Decimal, exponent: int) -> int:
    """Major units to minor, exactly, whatever the number of digits (NOR amounts run
    past Decimal's default 28-digit precision)."""
    with localcontext() as ctx:
        ctx.prec = 200
        return int(major.scaleb(exponent))


def to_minor(major: Decimal, currency: Currency) -> int:
    """Major units to minor, exactly (values are validated to fit the exponent)."""
    return _exact_minor(major, currency.exponent)


def applicable(rules: list[Rule], *, merchant_id: int | None, currency: Currency,
               category: str, amount_minor: int) -> list[Rule]:
    live = [r for r in rules if r.status == "ACTIVE" and r.currency == currency.code
            and r.category == category]
    own = [r for r in live if r.scope == "MERCHANT" and r.merchant_id == merchant_id]
    chosen = own if own else [r for r in live if r.scope == "SYSTEM"]
    return [r for r in chosen
            if r.min_minor <= amount_minor and (r.max_minor is None or amount_minor <= r.max_minor)]


def _cost(rule: Rule, amount_minor: int) -> int:
    if rule.charge_type == "FLAT":
        return rule.flat_minor
    # amount x n / d rounded half up, in integers: exact for any amount size.
    n, d = rule.percent_fraction
    return (2 * amount_minor * n + d) // (2 * d)


def _canonical(rule: Rule) -> tuple[int, int]:
    return (0 if rule.charge_type == "FLAT" else 1, rule.id)


def quote(rules: list[Rule], *, merchant_id: int | None, currency: Currency, category: str,
          amount_minor: int) -> Quote:
    chosen = sorted(applicable(rules, merchant_id=merchant_id, currency=currency,
                               category=category, amount_minor=amount_minor), key=_canonical)
    costs = [_cost(r, amount_minor) for r in chosen]
    may_exceed = any(r.charge_type == "FLAT" and r.allow_above_amount for r in chosen)
    excess = sum(costs) - amount_minor
    if excess > 0 and not may_exceed:
        for i in range(len(costs) - 1, -1, -1):
            cut = min(costs[i], excess)
            costs[i] -= cut
            excess -= cut
            if excess == 0:
                break
    lines = tuple(Line(r.id, r.charge_type, r.value, c) for r, c in zip(chosen, costs,
                                                                           strict=True))
    return Quote(currency, category, amount_minor, lines)


# Prices (price_item) ------------------------------------------------------------

@dataclass(frozen=True)
class PriceFees:
    """Platform settings and the app's own fee, percentages as Decimal (2.9 = 2.9 %)."""

    provider_processing_fee_percent: Decimal
    provider_min_amount_fee: Decimal  # major units of the price's currency
    platform_fee: Decimal
    app_fee: Decimal = Decimal(0)
    app_type: Literal["individual", "marketplace"] = "individual"


@dataclass(frozen=True)
class PriceItem:
    amount: int
    amount_total: int
    amount_platform: int
    amount_seller: int
    amount_app: int
    amount_transaction_fee: int


def _percent(amount_minor: int, percent: Decimal) -> int:
    with localcontext() as ctx:
        ctx.prec = 120
        return int((Decimal(amount_minor) * percent / 100).quantize(Decimal(1),
                                                                     rounding=ROUND_HALF_UP))


def price_item(amount_minor: int, currency: Currency, fees: PriceFees,
               transaction_fee_minor: int = 0) -> PriceItem:
    """The Prices seed's breakdown (all in minor units):

      amount_total    = (amount + provider_min_amount_fee) / (1 - provider %)
                        the buyer pays the card provider's fee on top, grossed up
                        so that what remains after the provider takes its cut is
                        the amount; rounded half up
      amount_platform = amount x platform %
      marketplace:  amount_app = amount x app %,
                    amount_seller = amount - platform - app - transaction fee
      individual:   amount_seller = 0,
                    amount_app = amount - platform - transaction fee
      amount_transaction_fee = the merchant's charge rules on the amount
    With 2.9 %, 0.25, 3.9 %, app fee 0, individual and 50: total 51.75,
    platform 1.95, app 48.05, as in the seed.
    """
    with localcontext() as ctx:
        ctx.prec = 120
        gross = (Decimal(amount_minor) + Decimal(to_minor(fees.provider_min_amount_fee,
                                                          currency))) \
            / (1 - fees.provider_processing_fee_percent / 100)
        total = int(gross.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    platform = _percent(amount_minor, fees.platform_fee)
    if fees.app_type == "marketplace":
        app = _percent(amount_minor, fees.app_fee)
        seller = amount_minor - platform - app - transaction_fee_minor
    else:
        seller = 0
        app = amount_minor - platform - transaction_fee_minor
    if app < 0 or seller < 0:
        raise ValueError("the fees exceed the amount: the app or seller share would be "
                         "negative")
    return PriceItem(amount_minor, total, platform, seller, app, transaction_fee_minor)
