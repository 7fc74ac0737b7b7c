"""One schema per event type (shared/events/payloads.py): every type consumed or emitted
has one, emit refuses data that does not match it, and so does every consumer."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from services.billing.payout import EVENT_OF as PAYOUT_EVENT_OF
from services.checkout.domain import ATTEMPT_FAILED
from services.checkout.domain import EVENT_OF as PAYMENT_EVENT_OF
from services.gateway.authn import SESSION_EVENTS
from services.notifier.webhooks import domain as webhooks_domain
from shared import jsontext
from shared.events import Event, InvalidPayload, UnitOfWork, catalog, outbox_clause, payloads
from shared.events.envelope import (
    BUNDLE_CONTENT_TYPE,
    Unreadable,
    bundle_body,
    events_of,
    read_events,
)
from shared.events.payloads import PAYLOADS, PaymentPayload

REPO = Path(__file__).resolve().parents[2]
TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

PAYMENT = {"paymentId": "pay_1", "trace": "t", "origin": "api", "amount": "1000",
           "currency": "NOR", "status": "completed", "payer": None, "transactionHash": None,
           "paymentMethod": "VISA_MASTER", "metadata": {"orderId": "o1"}, "charges": "10",
           "netAmount": "990", "refundedAmount": "0", "livemode": False}


def test_every_type_of_the_catalog_has_a_schema() -> None:
    consumed = {t for types in catalog.QUEUES.values() for t in types}
    consumed |= set(catalog.CHARGE_EVENTS) | set(SESSION_EVENTS)
    consumed |= set(webhooks_domain.EVENT_TYPES) | set(webhooks_domain.MERCHANT_EVENTS)
    consumed |= set(webhooks_domain.COMPANY_EVENTS)
    assert sorted(consumed - PAYLOADS.keys()) == []


def _literal_types(node: ast.Call) -> list[str]:
    return [a.value for a in node.args
            if isinstance(a, ast.Constant) and isinstance(a.value, str) and TYPE.match(a.value)]


# Emit sites whose type is not a literal at the call, and where the types come from.
DYNAMIC: dict[tuple[str, str], set[str]] = {
    ("services/checkout/payment_writes.py", "add"): {"payment.created"},
    ("services/checkout/payment_writes.py", "transition"):
        set(PAYMENT_EVENT_OF.values()) | {ATTEMPT_FAILED},
    ("services/fees/charges_api.py", "_emit"): set(catalog.CHARGE_EVENTS),
    ("services/billing/payouts.py", "_emit"): set(PAYOUT_EVENT_OF.values()),
    ("services/billing/subscriptions.py", "_emit"):
        {"subscription.created", "subscription.updated", "subscription.canceled"},
    ("services/auth/merchants_api.py", "_set_status"):
        {"merchant.activated", "merchant.inactivated"},
}


def _emit_sites() -> tuple[set[str], set[tuple[str, str]]]:
    """The literal types passed to an emit (or to a helper that emits them), and the
    (file, function) of each emit whose type is not a literal."""
    literal: set[str] = set()
    dynamic: set[tuple[str, str]] = set()
    for path in sorted((REPO / "services").rglob("*.py")):
        name = str(path.relative_to(REPO))
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                callee = node.func
                called = callee.attr if isinstance(callee, ast.Attribute) else \
                    callee.id if isinstance(callee, ast.Name) else ""
                if called in ("emit", "_emit", "_set_status", "Event") \
                        or (called == "event" and name.endswith("record.py")):
                    literal.update(_literal_types(node))
                    for kw in node.keywords:
                        if kw.arg == "type" and isinstance(kw.value, ast.Constant):
                            literal.add(str(kw.value.value))
                if called == "emit" and node.args and not (
                        isinstance(node.args[0], ast.Constant)):
                    dynamic.add((name, func.name))
    return literal, dynamic


def test_every_emit_site_emits_a_type_with_a_schema() -> None:
    literal, dynamic = _emit_sites()
    assert {"payment.refunded", "email.requested", "session.revoked", "invoice.paid",
            "ledger.transaction_reversed", "app.deleted"} <= literal  # the scan finds them
    assert sorted(literal - PAYLOADS.keys()) == []
    # A new emit whose type is computed must say here which types it emits.
    assert dynamic == set(DYNAMIC)
    for types in DYNAMIC.values():
        assert sorted(types - PAYLOADS.keys()) == []
    # Subscriptions emit "subscription.{kind}": the kinds passed are those listed.
    text = (REPO / "services/billing/subscriptions.py").read_text()
    kinds = set(re.findall(r'_emit\(uow, "([a-z_]+)"', text))
    assert {f"subscription.{k}" for k in kinds} == DYNAMIC[
        ("services/billing/subscriptions.py", "_emit")]


def test_every_schema_is_of_a_well_formed_type() -> None:
    assert all(TYPE.match(t) for t in PAYLOADS)
    assert all(issubclass(m, payloads.Payload) for m in PAYLOADS.values())


def _uow() -> UnitOfWork:
    return UnitOfWork(None, producer="tests")  # type: ignore[arg-type]  # emit needs no pool


def test_emit_refuses_an_unknown_type_and_bad_data() -> None:
    uow = _uow()
    with pytest.raises(InvalidPayload, match="no payload schema"):
        uow.emit("payment.exploded", dict(PAYMENT))
    with pytest.raises(InvalidPayload, match="invalid payment.completed data"):
        uow.emit("payment.completed", {**PAYMENT, "amount": 1000})  # not a string
    with pytest.raises(InvalidPayload, match="livemode"):
        uow.emit("payment.completed", {**PAYMENT, "livemode": "yes"})
    with pytest.raises(InvalidPayload):
        uow.emit("email.requested", {"to": ["a@example.com"], "subject": "s"})  # no text
    with pytest.raises(InvalidPayload):
        uow.emit("session.revoked", {"userId": 1, "sessionId": "s", "reason": "bored",
                                     "tokensRevoked": 1})
    assert uow.events == []  # nothing collected, so nothing written


def test_emit_keeps_the_data_as_given_on_the_wire() -> None:
    """The model only checks: what merchants get (and sign) is the producer's dict."""
    data = {**PAYMENT, "cancellationReason": None, "somethingNew": {"x": [1, 2]}}
    event = _uow().emit("payment.canceled", data, merchant_id="7")
    assert event.data == data and list(event.data) == list(data)
    assert jsontext.loads(event.to_bytes())["data"] == data
    typed = event.payload(PaymentPayload)
    assert (typed.payment_id, typed.amount, typed.metadata) == ("pay_1", "1000",
                                                                {"orderId": "o1"})
    assert typed.model_extra == {"somethingNew": {"x": [1, 2]}}


def test_a_statement_writing_events_it_did_not_emit_checks_them() -> None:
    bad = Event(type="payment.created", producer="checkout", data={"paymentId": "p"})
    with pytest.raises(InvalidPayload):
        outbox_clause("WITH {outbox} x AS (SELECT 1) SELECT 1", (), [bad])
    good = Event(type="payment.created", producer="checkout", data=dict(PAYMENT))
    sql, args = outbox_clause("WITH {outbox} x AS (SELECT 1) SELECT 1", (), [good])
    assert "outbox_rows" in sql and args[0] == [good.id]


def _envelope(event_type: str, data: dict[str, Any]) -> bytes:
    return Event(type=event_type, producer="tests", data=data).to_bytes()


def test_a_consumer_refuses_a_lone_event_whose_data_does_not_match() -> None:
    body = _envelope("payment.completed", {"paymentId": "pay_1"})
    [item] = read_events(body, "application/json", lambda t: True)
    assert isinstance(item, Unreadable) and "invalid payment.completed data" in item.error
    assert item.body == body  # dead-lettered as it came
    with pytest.raises(ValueError):
        events_of(body, "application/json", lambda t: True)


def test_a_consumer_refuses_the_bad_event_of_a_bundle_alone() -> None:
    good = _envelope("payment.completed", dict(PAYMENT))
    bad = _envelope("invoice.paid", {"invoiceId": "inv_1"})
    items = read_events(bundle_body([good, bad]), BUNDLE_CONTENT_TYPE, lambda t: True)
    assert isinstance(items[0], Event) and isinstance(items[1], Unreadable)
    assert items[0].payload(PaymentPayload).payment_id == "pay_1"
    assert "invalid invoice.paid data" in items[1].error


def test_a_consumer_hands_its_handler_the_typed_payload() -> None:
    [event] = events_of(_envelope("payment.completed", dict(PAYMENT)), "application/json",
                        lambda t: True)
    assert isinstance(event, Event)
    assert event.payload(PaymentPayload).livemode is False
    with pytest.raises(InvalidPayload, match="not a SessionRevoked"):
        event.payload(payloads.SessionRevoked)


def test_types_without_a_schema_are_carried_as_they_are() -> None:
    """Plumbing's own types (the tests'): read as before; only emit refuses them."""
    [event] = events_of(_envelope("test.happened", {"n": 1}), "application/json",
                        lambda t: True)
    assert isinstance(event, Event) and event.data == {"n": 1}


def test_the_webhook_event_types_are_the_merchant_facing_schemas() -> None:
    for event_type in webhooks_domain.EVENT_TYPES:
        assert PAYLOADS[event_type].model_config.get("extra") == "allow", event_type
