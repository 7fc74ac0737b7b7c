"""Billing rules without servers: periods, tax, invoice numbers, ledger postings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.billing import domain, ledger


def test_monthly_periods_keep_the_anchor_day_through_short_months():
    anchor = datetime(2025, 1, 31, 12, tzinfo=UTC)
    ends = [domain.period_boundary(anchor, "month", 1, n).date().isoformat()
            for n in range(1, 4)]
    assert ends == ["2025-02-28", "2025-03-31", "2025-04-30"]
    assert domain.period_boundary(anchor, "year", 1, 1) == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert domain.period_boundary(anchor, "week", 2, 1).date().isoformat() == "2025-02-14"


def test_tax_is_rounded_half_up_per_line_in_minor_units():
    assert domain.percent_to_ppm("15") == 150_000
    assert domain.percent_to_ppm("7.5") == 75_000
    assert domain.tax_of(999, 75_000) == 75      # 74.925 -> 75
    assert domain.tax_of(10, 150_000) == 2       # 1.5 -> 2
    assert domain.tax_of(50 * 10**18, 150_000) == 75 * 10**17
    for bad in ("101", "-1", "1.00001", "abc"):
        with pytest.raises(ValueError):
            domain.percent_to_ppm(bad)


def test_invoice_numbers_are_padded_to_three_digits_and_grow_past_them():
    assert domain.invoice_number(2024, 1) == "INV-2024-001"
    assert domain.invoice_number(2024, 1234) == "INV-2024-1234"


def test_a_completed_payment_posts_the_seeds_pair_and_its_fee():
    data = {"paymentId": "pay_1", "amount": str(10**18), "currency": "NOR",
            "charges": "1000", "metadata": {}}
    payment, fee = ledger.payment_completed(data)
    assert payment.balanced() and fee.balanced()
    assert [ledger.describe(ln.direction, ln.account.name, ln.amount, "NOR")
            for ln in payment.lines] == ["Dr Customer NOR Wallet 1.00 NOR",
                                         "Cr Revenue - Product Sales 1.00 NOR"]
    assert (fee.reference_type, fee.lines[0].account.code) == ("fee", "fees")


def test_refund_postings_add_up_to_what_was_refunded_in_any_order():
    base = {"paymentId": "pay_1", "amount": "100", "currency": "USD"}
    assert ledger.payment_refunded({**base, "refundedAmount": "30"}, 0)[0].lines[0].amount == 30
    assert ledger.payment_refunded({**base, "refundedAmount": "100"}, 30)[0].lines[0].amount == 70
    # the partial refund's event arriving after the full one posts nothing more
    assert ledger.payment_refunded({**base, "refundedAmount": "30"}, 100) == []


def test_subscription_states_follow_the_documented_transitions():
    domain.check_subscription("trialing", "active")
    domain.check_subscription("past_due", "active")
    with pytest.raises(domain.InvalidTransition):
        domain.check_subscription("canceled", "active")
    with pytest.raises(domain.InvalidTransition):
        domain.check_invoice("paid", "void")
