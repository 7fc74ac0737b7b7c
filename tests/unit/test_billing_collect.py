"""What billing asks checkout for (POST /internal/payments): a payment in the mode of
the invoice it is for (docs/modes.md)."""

from __future__ import annotations

from services.billing.collect import payment_request


def test_a_live_invoices_payment_is_asked_for_in_live_mode():
    body = payment_request(merchant_id=7, livemode=True, amount=5000, currency="USD",
                           description="Invoice INV-2030-001", metadata={"invoiceId": "inv_1"},
                           expiresAt=1900000000)
    assert body == {"merchantId": 7, "amount": "5000", "currency": "USD",
                    "description": "Invoice INV-2030-001", "metadata": {"invoiceId": "inv_1"},
                    "expiresAt": 1900000000, "livemode": True}


def test_a_test_invoices_payment_is_asked_for_as_before_modes():
    # absent means test: the body checkout took before it knew of modes
    body = payment_request(merchant_id=7, livemode=False, amount=5000, currency="USD",
                           description="x", metadata={}, charge={"paymentMethod": "INNBUCKS"})
    assert "livemode" not in body and body["charge"] == {"paymentMethod": "INNBUCKS"}
