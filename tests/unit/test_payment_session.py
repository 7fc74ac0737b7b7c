"""The Payment aggregate's session rules (services/checkout/domain.py), no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.checkout import domain

NOW = datetime(2026, 3, 1, 12, 0, 0, 400000, tzinfo=UTC)
START = int(NOW.timestamp())


@pytest.mark.parametrize("ahead", [300, 600, 86400])
def test_a_session_end_from_5_minutes_to_24_hours_ahead_is_taken_as_asked(ahead):
    assert domain.session_end(START + ahead, NOW) == datetime.fromtimestamp(START + ahead, UTC)


@pytest.mark.parametrize("ahead", [-1, 0, 299, 86401, 10**30])
def test_a_session_end_outside_the_bounds_is_refused_naming_expires_at(ahead):
    with pytest.raises(domain.SessionEndOutOfRange, match="^expiresAt: must be between"):
        domain.session_end(START + ahead, NOW)


def _row(status: str, ends: timedelta, reason: str | None = None) -> dict:
    return {"status": status, "expires_at": NOW + ends, "cancellation_reason": reason}


@pytest.mark.parametrize(("row", "expired"), [
    (_row("pending", timedelta(seconds=1)), False),
    (_row("pending", timedelta(0)), True),
    (_row("canceled", timedelta(hours=-1), "expired"), True),  # the sweep canceled it
    (_row("canceled", timedelta(hours=-1)), False),  # a merchant's or payer's cancel
    (_row("processing", timedelta(hours=-1)), False),  # only pending sessions expire
    (_row("completed", timedelta(hours=-1)), False),
])
def test_a_session_is_over_when_pending_past_its_end_or_swept_for_it(row, expired):
    assert domain.expired(row, NOW) is expired
