"""The sandbox payout rails' documented test data (shared/rails/sandbox.py), through
billing's names for them (services/billing/rails.py, sandbox_rails.py): what send
answers, and what status answers at each moment, from explicit datetimes."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from services.billing import rails, sandbox_rails
from services.billing.rails import Destination, DestinationType, PayoutInstruction, RailAnswer
from shared.settings import Settings

CALLBACK, RETURN = 2.0, 5.0
SENT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
WALLETS = ("ECOCASH", "OMARI", "INNBUCKS")


@pytest.fixture
def settings() -> Settings:
    return Settings(secret_key=SecretStr(secrets.token_hex(32)),
                    sandbox_payout_callback_seconds=CALLBACK,
                    sandbox_payout_return_seconds=RETURN)


def instruction(kind: DestinationType = "BANK", number: str = "6200123456789", *,
                currency: str = "USD", livemode: bool = False,
                payout_id: str = "po_1a2b3c4d5e6f") -> PayoutInstruction:
    return PayoutInstruction(
        payout_id=payout_id, amount=12_500, currency=currency, livemode=livemode,
        destination=Destination(settlement_account_id="sa_1", type=kind, currency=currency,
                                number=number, account_name="Shop Ltd",
                                bank_name="CBZ" if kind == "BANK" else None))


def rail_of(kind: str, settings: Settings):
    rail = rails.rail_for(kind, livemode=False, settings=settings)
    assert rail is not None and rail.name == rails.RAIL_OF[kind]
    return rail


def at(seconds: float) -> datetime:
    return SENT + timedelta(seconds=seconds)


async def status(rail, order: PayoutInstruction, reference: str, now: float,
                 paid: float | None = None) -> RailAnswer:
    return await rail.status(order, rail_reference=reference, sent_at=SENT,
                             paid_at=None if paid is None else at(paid), now=at(now))


# What send answers --------------------------------------------------------------

@pytest.mark.parametrize("kind, number, prefix", [
    ("BANK", "6200123456789", "ZS"), ("BANK", "6200120000001", "ZS"),
    ("BANK", "6200120000002", "ZS"), ("ECOCASH", "263771234567", "EC"),
    ("OMARI", "263781234567", "OM"), ("INNBUCKS", "263711234567", "IB")])
async def test_send_is_in_transit_with_the_rails_reference(settings, kind, number, prefix):
    answer = await rail_of(kind, settings).send(instruction(kind, number))
    assert answer.status == "in_transit"
    assert answer.callback_after == CALLBACK
    assert answer.failure_code is None
    assert answer.rail_reference is not None and answer.rail_reference.startswith(prefix)
    assert len(answer.rail_reference) == len(prefix) + 16


async def test_the_reference_is_the_payout_ids_on_every_send(settings):
    rail = rail_of("BANK", settings)
    first = await rail.send(instruction(payout_id="po_aaaa"))
    again = await rail_of("BANK", settings).send(instruction(payout_id="po_aaaa"))
    other = await rail.send(instruction(payout_id="po_bbbb"))
    assert first.rail_reference == again.rail_reference
    assert other.rail_reference != first.rail_reference


@pytest.mark.parametrize("kind, label", [("ECOCASH", "EcoCash"), ("OMARI", "O'mari"),
                                         ("INNBUCKS", "InnBucks")])
async def test_a_wallet_ending_0001_refuses_at_send(settings, kind, label):
    rail = rail_of(kind, settings)
    order = instruction(kind, "263770000001")
    answer = await rail.send(order)
    assert (answer.status, answer.failure_code, answer.failure_reason, answer.returned) == \
        ("failed", "wallet_rejected", f"{label} wallet rejected the transfer", False)
    assert answer.callback_after is None  # nothing more comes
    # status agrees at any moment: the wallet never took it.
    for now in (0.0, CALLBACK + 1):
        assert (await status(rail, order, "", now)).failure_code == "wallet_rejected"


# What status answers, when ----------------------------------------------------------

async def test_an_ordinary_account_is_in_transit_until_the_callback_then_paid(settings):
    rail = rail_of("BANK", settings)
    order = instruction()
    reference = (await rail.send(order)).rail_reference or ""
    early = await status(rail, order, reference, CALLBACK - 0.5)
    assert (early.status, early.rail_reference) == ("in_transit", reference)
    assert early.callback_after == pytest.approx(0.5)
    due = await status(rail, order, reference, CALLBACK)  # at the callback exactly
    assert (due.status, due.rail_reference, due.callback_after) == ("paid", reference, None)
    much_later = await status(rail, order, reference, 86_400, paid=CALLBACK)
    assert much_later.status == "paid" and not much_later.returned


async def test_a_bank_account_ending_0001_is_closed_at_the_callback(settings):
    rail = rail_of("BANK", settings)
    order = instruction(number="6200120000001")
    reference = (await rail.send(order)).rail_reference or ""
    assert (await status(rail, order, reference, CALLBACK - 0.01)).status == "in_transit"
    answer = await status(rail, order, reference, CALLBACK)
    assert (answer.status, answer.failure_code, answer.failure_reason, answer.returned,
            answer.rail_reference) == ("failed", "account_closed", "Account closed", False,
                                       reference)


async def test_a_bank_account_ending_0002_is_paid_then_returned(settings):
    rail = rail_of("BANK", settings)
    order = instruction(number="6200120000002")
    reference = (await rail.send(order)).rail_reference or ""
    assert (await status(rail, order, reference, 1)).status == "in_transit"
    paid = await status(rail, order, reference, CALLBACK)
    # Paid, with word that the rail calls back again when the bank returns it.
    assert (paid.status, paid.returned, paid.callback_after) == ("paid", False, RETURN)
    paid_at = CALLBACK + 0.1  # when billing recorded it paid
    before = await status(rail, order, reference, paid_at + RETURN - 0.01, paid=paid_at)
    assert before.status == "paid" and before.callback_after == pytest.approx(0.01)
    returned = await status(rail, order, reference, paid_at + RETURN, paid=paid_at)
    assert (returned.status, returned.returned, returned.failure_code,
            returned.failure_reason, returned.rail_reference) == \
        ("failed", True, "returned", "Returned by the receiving bank", reference)


@pytest.mark.parametrize("kind", WALLETS)
async def test_any_other_wallet_is_paid_at_the_callback(settings, kind):
    rail = rail_of(kind, settings)
    order = instruction(kind, "263771234567")
    reference = (await rail.send(order)).rail_reference or ""
    assert (await status(rail, order, reference, 0)).status == "in_transit"
    answer = await status(rail, order, reference, CALLBACK + 30, paid=CALLBACK)
    assert (answer.status, answer.rail_reference, answer.returned) == ("paid", reference, False)


async def test_status_is_the_same_answer_asked_twice(settings):
    """A callback and the tick's late-callback check ask at different times: given the
    same facts, the same answer."""
    rail = rail_of("BANK", settings)
    order = instruction(number="6200120000002")
    reference = (await rail.send(order)).rail_reference or ""
    for now, paid in ((1.0, None), (CALLBACK, None), (20.0, 3.0), (20.0, 18.0)):
        first = await status(rail, order, reference, now, paid)
        assert await status(rail_of("BANK", settings), order, reference, now, paid) == first


async def test_a_zero_callback_delay_answers_at_once(settings):
    rail = rail_of("ECOCASH", settings.model_copy(
        update={"sandbox_payout_callback_seconds": 0.0}))
    order = instruction("ECOCASH", "263771234567")
    sent = await rail.send(order)
    assert sent.callback_after == 0.0
    assert (await status(rail, order, sent.rail_reference or "", 0)).status == "paid"


# Currencies --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ("BANK", *WALLETS))
async def test_the_rails_pay_usd_and_zwg_only(settings, kind):
    rail = rail_of(kind, settings)
    assert rail.supports("USD") and rail.supports("ZWG") and rail.supports("usd")
    for other in ("NOR", "ZWL", "EUR"):
        assert not rail.supports(other)


async def test_a_nor_payout_to_a_bank_account_is_refused_with_the_reason(settings):
    rail = rail_of("BANK", settings)
    order = instruction(currency="NOR")
    answer = await rail.send(order)
    assert (answer.status, answer.failure_code, answer.rail_reference) == \
        ("failed", "currency_not_supported", None)
    assert answer.failure_reason == "ZIMSWITCH does not pay out NOR; it pays USD and ZWG"
    assert (await status(rail, order, "", CALLBACK + 1)).status == "failed"


async def test_zwg_is_paid_like_usd(settings):
    rail = rail_of("BANK", settings)
    order = instruction(currency="ZWG")
    sent = await rail.send(order)
    assert sent.status == "in_transit"
    assert (await status(rail, order, sent.rail_reference or "", CALLBACK)).status == "paid"


# Live money never reaches the sandbox ---------------------------------------------

@pytest.mark.parametrize("kind", ("BANK", *WALLETS))
async def test_a_live_instruction_is_refused_by_every_method(settings, kind):
    rail = rail_of(kind, settings)
    live = instruction(kind, "263771234567" if kind != "BANK" else "6200123456789",
                       livemode=True)
    with pytest.raises(RuntimeError, match="live"):
        await rail.send(live)
    with pytest.raises(RuntimeError, match="live"):
        await rail.status(live, rail_reference="ZS0", sent_at=SENT, paid_at=None,
                          now=at(CALLBACK + 1))


def test_live_mode_has_no_rail_and_unknown_names_none(settings):
    assert rails.rail_for("BANK", livemode=True, settings=settings) is None
    assert sandbox_rails.sandbox_rail("VISA_MASTER", settings) is None
    assert sandbox_rails.sandbox_rail("zimswitch", settings) is None  # names are exact


async def test_a_rail_refuses_a_destination_of_another_type(settings):
    with pytest.raises(RuntimeError, match="does not pay ECOCASH"):
        await rail_of("BANK", settings).send(instruction("ECOCASH", "263771234567"))
