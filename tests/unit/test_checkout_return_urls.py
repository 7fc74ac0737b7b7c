"""The merchant's success and cancel URLs carry the payment (pages.with_payment)."""

import uuid

from services.checkout.pages import with_payment

TRACE = uuid.UUID("019af232-b27b-7295-b828-c924c6cb4169")
NORPAY = {"payment_id": "pay_0Vd8zJ655aKDKNWXIrtKwKrt", "origin": "norpay", "trace": TRACE}
NORAH = {**NORPAY, "origin": "norah"}


def test_the_shops_own_query_and_fragment_are_kept():
    assert with_payment("https://shop.example/done?order=7#top", NORPAY) == \
        "https://shop.example/done?order=7&paymentId=pay_0Vd8zJ655aKDKNWXIrtKwKrt#top"


def test_a_norah_payment_adds_its_trace():
    assert with_payment("https://shop.example/back", NORAH) == (
        "https://shop.example/back?paymentId=pay_0Vd8zJ655aKDKNWXIrtKwKrt"
        f"&trace={TRACE}")


def test_adding_twice_or_over_a_forged_value_leaves_one_true_value():
    once = with_payment("https://shop.example/back?paymentId=pay_forged&x=1", NORAH)
    assert with_payment(once, NORAH) == once
    assert once.count("paymentId=") == 1 and "pay_forged" not in once
