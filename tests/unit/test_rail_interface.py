"""One interface per rail, money in and money out (shared/rails): every registered
sandbox rail implements the protocol's methods for the directions it claims, refuses
the direction it does not, and refuses live money in both."""

from __future__ import annotations

import inspect
import secrets
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from services.checkout import domain
from shared.rails import registry, sandbox
from shared.rails.base import (
    PAY_IN_METHODS,
    PAY_OUT_METHODS,
    RAIL_OF,
    BadPaymentDetails,
    Destination,
    PayoutInstruction,
    Rail,
)
from shared.settings import Settings

NAMES = sorted(sandbox.RAILS)
PAYS_OUT = sorted(name for name, rail in sandbox.RAILS.items() if rail.pays_out)
PAYS_IN_ONLY = sorted(name for name, rail in sandbox.RAILS.items() if not rail.pays_out)
DESTINATION_OF = {rail: kind for kind, rail in RAIL_OF.items()}
# Details each rail's pay-in completes or starts with (the documented test data).
DETAILS = {
    "VISA_MASTER": {"paymentMethod": "VISA_MASTER", "card": {
        "number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2099, "cvc": "123"}},
    "OMARI": {"paymentMethod": "OMARI", "phoneNumber": "263781234567"},
    "ECOCASH": {"paymentMethod": "ECOCASH", "phoneNumber": "263771234567"},
    "ZIMSWITCH": {"paymentMethod": "ZIMSWITCH", "account": "6200123456789"},
    "INNBUCKS": {"paymentMethod": "INNBUCKS", "account": "6200123456789"},
    "NOR_WALLET": {"paymentMethod": "NOR_WALLET", "payer": "0x" + "ab" * 20},
}


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key=SecretStr(secrets.token_hex(32)))


def payment(*, livemode: bool = False, currency: str = "USD", **more) -> dict:
    return {"payment_id": "pay_0123456789abcdef", "livemode": livemode, "currency": currency,
            "amount": 1050, "pending_action": None, "phone_number": None,
            "payment_method": None, **more}


def instruction(rail: str, *, livemode: bool = False) -> PayoutInstruction:
    kind = DESTINATION_OF[rail]
    number = "6200123456789" if kind == "BANK" else "263771234567"
    return PayoutInstruction(
        payout_id="po_1a2b3c4d", amount=12_500, currency="USD", livemode=livemode,
        destination=Destination(settlement_account_id="sa_1", type=kind, currency="USD",
                                number=number))


def _shape(function) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()
            if p.name != "self"]


# The registry ---------------------------------------------------------------------------

def test_the_sandbox_has_one_rail_per_payment_method_and_every_payout_rail():
    assert set(NAMES) == set(domain.METHODS)
    assert registry.for_mode(False) == frozenset(domain.METHODS)
    assert set(PAYS_OUT) == set(RAIL_OF.values())
    assert set(PAYS_IN_ONLY) == {"VISA_MASTER", "NOR_WALLET"}


@pytest.mark.parametrize("name", NAMES)
def test_each_rail_is_one_object_for_both_directions(settings, name):
    pay_in = registry.pay_in_rail(name, livemode=False)
    assert pay_in is not None and pay_in.name == name and isinstance(pay_in, Rail)
    pay_out = registry.sandbox_payout_rail(name, settings)
    if name in PAYS_OUT:
        # The same class serves both directions (the payout one timed by the settings).
        assert type(pay_out) is type(pay_in)
    else:
        assert pay_out is None


# Each rail implements the protocol's methods for the directions it claims ---------------

@pytest.mark.parametrize("name", NAMES)
def test_the_methods_of_each_claimed_direction_have_the_protocols_shape(name):
    rail = sandbox.RAILS[name]()
    claimed = (PAY_IN_METHODS if rail.pays_in else ()) + \
        (PAY_OUT_METHODS if rail.pays_out else ())
    assert claimed, f"{name} claims no direction"
    for method in claimed:
        ours, protocol = getattr(rail, method), getattr(Rail, method)
        assert _shape(ours) == _shape(protocol), f"{name}.{method}"
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(protocol), \
            f"{name}.{method}"


@pytest.mark.parametrize("name", PAYS_OUT)
async def test_a_payout_rail_pays_out_with_its_own_methods(settings, name):
    rail = registry.sandbox_payout_rail(name, settings)
    assert rail is not None and rail.pays_out
    for method in PAY_OUT_METHODS:  # not the pay-in-only rail's refusals
        assert getattr(type(rail), method) is not getattr(sandbox.SandboxRail, method)
    assert rail.supports("USD")
    sent = await rail.send(instruction(name))
    assert sent.status == "in_transit" and sent.rail_reference
    now = datetime.now(UTC)
    later = await rail.status(instruction(name), rail_reference=sent.rail_reference,
                              sent_at=now, paid_at=None, now=now)
    assert later.status == "in_transit"


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"NOR_WALLET"}))
async def test_a_pay_in_rail_decides_from_the_details_and_starts_alike(name):
    rail = registry.pay_in_rail(name, livemode=False)
    assert rail is not None
    body = domain.ConfirmPayment.model_validate(DETAILS[name])
    outcome = rail.decided(payment(), body)
    assert outcome is not None and outcome.status in ("completed", "processing")
    # Decided rails charge nothing in start: the same outcome, no connection needed.
    assert await rail.start(None, payment(), body) == outcome  # type: ignore[arg-type]


async def test_the_nor_wallet_charges_in_start_only():
    rail = registry.pay_in_rail("NOR_WALLET", livemode=False)
    assert rail is not None
    body = domain.ConfirmPayment.model_validate(DETAILS["NOR_WALLET"])
    assert rail.decided(payment(currency="NOR"), body) is None
    with pytest.raises(BadPaymentDetails) as refused:  # checked before the database
        await rail.start(None, payment(currency="USD"), body)  # type: ignore[arg-type]
    assert refused.value.field == "paymentMethod"


@pytest.mark.parametrize("name, action, answer", [
    ("VISA_MASTER", "3ds", {"threeDSecure": "pass"}), ("OMARI", "otp", {"otp": "123456"})])
def test_the_rail_that_asked_for_an_action_takes_the_answer(name, action, answer):
    rail = registry.pay_in_rail(name, livemode=False)
    assert rail is not None
    asked = payment(payment_method=name, pending_action=action)
    assert rail.act(asked, domain.PaymentAction.model_validate(answer)).status == "completed"


@pytest.mark.parametrize("name", sorted(set(NAMES) - {"VISA_MASTER", "OMARI"}))
def test_a_rail_that_asks_for_no_action_has_none_pending(name):
    rail = registry.pay_in_rail(name, livemode=False)
    assert rail is not None
    with pytest.raises(BadPaymentDetails, match="no action is pending"):
        rail.act(payment(payment_method=name, pending_action="otp"),
                 domain.PaymentAction.model_validate({"otp": "123456"}))


def test_only_ecocash_calls_back_on_a_pay_in():
    ecocash = registry.pay_in_rail("ECOCASH", livemode=False)
    assert ecocash is not None
    assert ecocash.called_back(payment(phone_number="263771234567")).status == "completed"
    for name in sorted(set(NAMES) - {"ECOCASH"}):
        rail = registry.pay_in_rail(name, livemode=False)
        assert rail is not None
        with pytest.raises(RuntimeError, match="never calls back"):
            rail.called_back(payment())


# The direction a rail does not claim is refused ------------------------------------------

@pytest.mark.parametrize("name", PAYS_IN_ONLY)
async def test_a_pay_in_only_rail_refuses_every_payout(name):
    rail = registry.pay_in_rail(name, livemode=False)
    assert rail is not None and not rail.pays_out
    assert not rail.supports("USD")
    order = instruction("ZIMSWITCH")
    with pytest.raises(RuntimeError, match=f"{name} does not pay out"):
        await rail.send(order)
    with pytest.raises(RuntimeError, match=f"{name} does not pay out"):
        now = datetime.now(UTC)
        await rail.status(order, rail_reference="x", sent_at=now, paid_at=None, now=now)


# Live money, both directions --------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
async def test_the_sandbox_refuses_live_money_both_ways(settings, name):
    assert registry.pay_in_rail(name, livemode=True) is None
    assert not registry.for_mode(True)
    rail = sandbox.RAILS[name](settings)
    body = domain.ConfirmPayment.model_validate(DETAILS[name])
    live = payment(livemode=True, currency="NOR" if name == "NOR_WALLET" else "USD")
    with pytest.raises(RuntimeError, match="live"):
        rail.decided(live, body)
    with pytest.raises(RuntimeError, match="live"):
        await rail.start(None, live, body)  # type: ignore[arg-type]
    if rail.pays_out:
        with pytest.raises(RuntimeError, match="live"):
            await rail.send(instruction(name, livemode=True))


@pytest.mark.parametrize("kind", sorted(RAIL_OF))
def test_no_live_payout_rail_ships(settings, kind):
    assert registry.payout_rail_for(kind, livemode=True, settings=settings) is None
    assert not registry.LIVE_PAYOUTS and not registry.LIVE
