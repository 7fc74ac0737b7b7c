"""The Payout model's transitions and what each does to the books (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.billing.payout import InvalidPayoutTransition, Payout
from services.billing.rails import RailAnswer

T = datetime(2027, 3, 1, tzinfo=UTC)


def payout(status: str = "pending") -> Payout:
    return Payout(payout_id="po_1", company_id=1, merchant_id=2, livemode=False, amount=500,
                  fee=25, currency="USD", status=status, automatic=False,
                  settlement_account_id="sa_1", rail="ZIMSWITCH",
                  destination={"type": "BANK", "last4": "5678"}, submit_after=T,
                  created_at=T, updated_at=T)


@pytest.mark.parametrize("start,answer,expected", [
    ("pending", RailAnswer(status="in_transit", rail_reference="ZS1", callback_after=2),
     ("in_transit", "none")),
    ("pending", RailAnswer(status="paid", rail_reference="EC1"), ("paid", "paid")),
    ("pending", RailAnswer(status="failed", failure_code="wallet_rejected"),
     ("failed", "reverse")),
    ("in_transit", RailAnswer(status="paid"), ("paid", "paid")),
    ("in_transit", RailAnswer(status="failed", failure_code="account_closed"),
     ("failed", "reverse")),
    ("paid", RailAnswer(status="failed", returned=True, failure_code="returned"),
     ("failed", "return")),
])
def test_a_rails_answer_moves_the_payout_and_says_what_to_post(start, answer, expected):
    after, effect = payout(start).after_answer(answer, at=T, check_grace=10)
    assert (after.status, effect) == expected


@pytest.mark.parametrize("start,answer", [
    ("in_transit", RailAnswer(status="in_transit")),          # asked too early
    ("paid", RailAnswer(status="paid")),                      # a repeated callback
    ("paid", RailAnswer(status="failed", failure_code="x")),  # not a return: no undoing
    ("failed", RailAnswer(status="paid")),                    # settled is settled
    ("canceled", RailAnswer(status="in_transit")),
])
def test_answers_that_change_nothing(start, answer):
    assert payout(start).after_answer(answer, at=T, check_grace=10) is None


def test_cancel_only_while_pending_and_it_gives_the_funds_back():
    after, effect = payout().moved("canceled", at=T)
    assert (after.status, after.canceled_at, effect) == ("canceled", T, "reverse")
    for status in ("in_transit", "paid", "failed", "canceled"):
        with pytest.raises(InvalidPayoutTransition):
            payout(status).moved("canceled", at=T)


def test_when_the_rail_is_asked_if_its_callback_does_not_come():
    sent, _ = payout().after_answer(RailAnswer(status="in_transit", callback_after=2), at=T,
                                    check_grace=10)
    assert sent.next_check_at == T + timedelta(seconds=12)
    paid, _ = sent.after_answer(RailAnswer(status="paid", callback_after=5), at=T,
                                check_grace=10)
    assert paid.next_check_at == T + timedelta(seconds=15)  # a return is still to come
    settled, _ = sent.after_answer(RailAnswer(status="paid"), at=T, check_grace=10)
    assert settled.next_check_at is None


def test_the_norpay_shape_has_minor_unit_strings_and_unix_seconds():
    shown = payout().norpay()
    assert (shown["amount"], shown["fee"], shown["createdAt"]) == (
        "500", "25", str(int(T.timestamp())))
    assert shown["status"] == "pending" and shown["payoutId"] == "po_1"
