"""The fee engine: hand-worked cases and properties (services/fees/domain.py)."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.fees.domain import PriceFees, Rule, price_item, quote
from shared.money import get_currency

USD, NOR, JPY = get_currency("USD"), get_currency("NOR"), get_currency("JPY")
T = "TRANSACTION"


def pct(rid, value, *, scope="SYSTEM", merchant=None, currency="USD", lo="0", hi=None,
        status="ACTIVE", category=T):
    return Rule(rid, scope, merchant, "PERCENTAGE", category, status, currency, D(value),
                D(lo), None if hi is None else D(hi))


def flat(rid, value, *, scope="SYSTEM", merchant=None, currency="USD", lo="0", hi=None,
         above=False, status="ACTIVE"):
    return Rule(rid, scope, merchant, "FLAT", T, status, currency, D(value), D(lo),
                None if hi is None else D(hi), above)


def q(rules, amount_minor, *, merchant=None, currency=USD, category=T):
    return quote(rules, merchant_id=merchant, currency=currency, category=category,
                 amount_minor=amount_minor)


CASES = [
    # (description, rules, amount minor, merchant, expected charges minor)
    ("seed: 2.5 % of 1000.00 USD", [pct(1, "2.5")], 100_000, None, 2_500),
    ("flat 1.00 plus 1.5 % of 200.00", [flat(1, "1.00"), pct(2, "1.5")], 20_000, None, 400),
    ("half-up rounding: 2.5 % of 0.10 = 0.0025 -> 0.00", [pct(1, "2.5")], 10, None, 0),
    ("half-up rounding: 2.5 % of 0.30 = 0.0075 -> 0.01", [pct(1, "2.5")], 30, None, 1),
    ("at min threshold exactly", [pct(1, "10", lo="100.00")], 10_000, None, 1_000),
    ("one cent under min threshold", [pct(1, "10", lo="100.00")], 9_999, None, 0),
    ("at max threshold exactly", [pct(1, "10", hi="100.00")], 10_000, None, 1_000),
    ("one cent over max threshold", [pct(1, "10", hi="100.00")], 10_001, None, 0),
    ("merchant rule replaces system rules", [pct(1, "2.5"), pct(2, "1.5", scope="MERCHANT",
                                                               merchant=7)], 100_000, 7, 1_500),
    ("another merchant's rule is not ours", [pct(1, "2.5"), pct(2, "1.5", scope="MERCHANT",
                                                                merchant=8)], 100_000, 7, 2_500),
    ("inactive rule ignored", [pct(1, "2.5"), pct(2, "9", status="INACTIVE")], 100_000, None,
     2_500),
    ("inactive merchant rule does not replace", [pct(1, "2.5"), pct(
        2, "1.5", scope="MERCHANT", merchant=7, status="INACTIVE")], 100_000, 7, 2_500),
    ("other currency ignored", [pct(1, "2.5"), pct(2, "5", currency="EUR")], 100_000, None,
     2_500),
    ("merchant rule outside its threshold still replaces system",
     [pct(1, "2.5"), pct(2, "1.5", scope="MERCHANT", merchant=7, lo="5000")], 100_000, 7, 0),
    ("flat above the amount is capped", [flat(1, "5.00")], 300, None, 300),
    ("flat above the amount when the rule allows it", [flat(1, "5.00", above=True)], 300, None,
     500),
]


@pytest.mark.parametrize("name,rules,amount,merchant,expected", CASES,
                         ids=[c[0] for c in CASES])
def test_hand_worked_cases(name, rules, amount, merchant, expected):
    result = q(rules, amount, merchant=merchant)
    assert result.charges_minor == expected
    assert result.net_minor == amount - expected


def test_nor_wei_amounts_with_18_decimals():
    one_nor = 10**18
    result = q([pct(1, "1.5", currency="NOR"), flat(2, "0.000000000000000001", currency="NOR")],
               one_nor, currency=NOR)
    assert [line.amount_minor for line in result.lines] == [1, 15 * 10**15]
    assert result.charges_minor == 15 * 10**15 + 1
    huge = 10**77  # near NUMERIC(78,0)
    assert q([pct(1, "2.5", currency="NOR")], huge, currency=NOR).charges_minor == \
        25 * 10**74


def test_category_must_match():
    assert q([pct(1, "2.5", category="SETTLEMENT")], 100_000).charges_minor == 0


def test_zero_decimal_currency_rounds_to_whole_yen():
    assert q([pct(1, "2.5", currency="JPY")], 1_010, currency=JPY).charges_minor == 25


def test_seed_price_item_to_the_cent():
    item = price_item(5_000, USD, PriceFees(D("2.9"), D("0.25"), D("3.9")))
    assert (item.amount_total, item.amount_platform, item.amount_app, item.amount_seller,
            item.amount_transaction_fee) == (5_175, 195, 4_805, 0, 0)


def test_marketplace_price_item_splits_app_and_seller():
    item = price_item(10_000, USD, PriceFees(D("2.9"), D("0.25"), D("3.9"), D("10"),
                                             "marketplace"), transaction_fee_minor=100)
    assert (item.amount_platform, item.amount_app, item.amount_seller) == (390, 1_000, 8_510)
    assert item.amount_platform + item.amount_app + item.amount_seller + 100 == 10_000


# Properties -------------------------------------------------------------------

values = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False)
flat_values = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)


@st.composite
def rule_sets(draw):
    rules = []
    for rid in range(1, draw(st.integers(0, 6)) + 1):
        scope = draw(st.sampled_from(["SYSTEM", "MERCHANT"]))
        merchant = 7 if scope == "MERCHANT" else None
        lo = draw(st.decimals(min_value=0, max_value=1000, places=2))
        hi = draw(st.none() | st.decimals(min_value=lo, max_value=100_000, places=2))
        status = draw(st.sampled_from(["ACTIVE", "ACTIVE", "INACTIVE"]))
        if draw(st.booleans()):
            rules.append(Rule(rid, scope, merchant, "PERCENTAGE", T, status, "USD",
                              draw(values), lo, hi))
        else:
            rules.append(Rule(rid, scope, merchant, "FLAT", T, status, "USD",
                              draw(flat_values), lo, hi, draw(st.booleans())))
    return rules


amounts = st.integers(min_value=1, max_value=10**12)


@settings(max_examples=300, deadline=None, database=None)
@given(rule_sets(), amounts, st.sampled_from([None, 7]), st.randoms())
def test_properties_of_every_quote(rules, amount, merchant, rnd: random.Random):
    result = q(rules, amount, merchant=merchant)
    assert all(line.amount_minor >= 0 for line in result.lines)
    assert result.net_minor + result.charges_minor == amount
    if result.charges_minor > amount:
        assert any(line.charge_type == "FLAT" for line in result.lines)
        assert any(r.allow_above_amount for r in rules
                   if r.id in {line.rule_id for line in result.lines})
    shuffled = list(rules)
    rnd.shuffle(shuffled)
    assert q(shuffled, amount, merchant=merchant) == result
