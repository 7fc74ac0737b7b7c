"""The payout schedule's next run (services/billing/payout_schedule.py): settlement days
of any length, weekly and monthly anchors, short months, and the request's checks."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.billing.payout_schedule import (
    WEEKDAYS,
    PayoutSchedule,
    PayoutScheduleIn,
    calendar_date,
    day_number,
    day_start,
)

DAY = 86_400.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run(schedule: PayoutSchedule, after: datetime, day_seconds: float = DAY):
    return schedule.next_run(after, day_seconds=day_seconds)


DAILY = PayoutSchedule()


def weekly(anchor: str) -> PayoutSchedule:
    return PayoutSchedule(interval="weekly", weekly_anchor=anchor)


def monthly(anchor: int) -> PayoutSchedule:
    return PayoutSchedule(interval="monthly", monthly_anchor=anchor)


# Real days -------------------------------------------------------------------------------

def test_the_defaults_are_daily_with_a_two_day_delay_and_no_minimum():
    assert (DAILY.interval, DAILY.delay_days, DAILY.minimum_amount) == ("daily", 2, 0)
    assert DAILY.weekly_anchor is None and DAILY.monthly_anchor is None


def test_daily_runs_at_the_next_utc_midnight():
    assert run(DAILY, at(2024, 3, 10, 15, 30)) == at(2024, 3, 11)
    assert run(DAILY, at(2024, 12, 31, 23, 59, 59)) == at(2025, 1, 1)


def test_a_run_is_strictly_after_the_day_of_after_even_at_its_very_start():
    assert run(DAILY, at(2024, 3, 11)) == at(2024, 3, 12)
    assert run(DAILY, at(2024, 3, 11) - timedelta(microseconds=1)) == at(2024, 3, 11)


def test_another_time_zone_is_read_as_the_instant_it_is():
    from datetime import timezone
    harare = timezone(timedelta(hours=2))
    # 01:00 in Harare on the 11th is 23:00 UTC on the 10th: the next UTC day is the 11th.
    assert run(DAILY, datetime(2024, 3, 11, 1, 0, tzinfo=harare)) == at(2024, 3, 11)
    assert run(DAILY, datetime(2024, 3, 10, 15, 30)) == at(2024, 3, 11)  # naive is UTC


def test_manual_never_runs():
    assert run(PayoutSchedule(interval="manual"), at(2024, 3, 10)) is None
    assert run(PayoutSchedule(interval="manual"), at(2024, 3, 10), 2) is None


def test_weekly_runs_on_the_anchor_weekday():
    # 2024-03-10 is a Sunday.
    assert run(weekly("monday"), at(2024, 3, 10, 12)) == at(2024, 3, 11)
    assert run(weekly("sunday"), at(2024, 3, 10, 12)) == at(2024, 3, 17)  # not today
    assert run(weekly("saturday"), at(2024, 3, 10, 12)) == at(2024, 3, 16)
    assert run(weekly("monday"), at(2024, 3, 11, 0, 0, 1)) == at(2024, 3, 18)


def test_weekly_every_anchor_from_every_day_of_a_fortnight():
    for anchor in WEEKDAYS:
        for offset in range(14):
            after = at(2024, 3, 1) + timedelta(days=offset, hours=7)
            got = run(weekly(anchor), after)
            assert got is not None
            assert WEEKDAYS[got.weekday()] == anchor
            assert after.date() < got.date() <= after.date() + timedelta(days=7)
            assert got.time() == datetime.min.time()


def test_monthly_runs_on_the_anchor_day():
    assert run(monthly(15), at(2024, 3, 10)) == at(2024, 3, 15)
    assert run(monthly(15), at(2024, 3, 15, 9)) == at(2024, 4, 15)
    assert run(monthly(1), at(2024, 1, 1)) == at(2024, 2, 1)
    assert run(monthly(1), at(2024, 12, 5)) == at(2025, 1, 1)


def test_monthly_anchors_past_a_short_months_end_run_on_its_last_day():
    assert run(monthly(31), at(2024, 4, 5)) == at(2024, 4, 30)
    assert run(monthly(31), at(2024, 4, 30)) == at(2024, 5, 31)
    assert run(monthly(31), at(2024, 1, 31)) == at(2024, 2, 29)  # leap year
    assert run(monthly(31), at(2023, 1, 31)) == at(2023, 2, 28)
    assert run(monthly(30), at(2023, 2, 1)) == at(2023, 2, 28)
    assert run(monthly(29), at(2023, 2, 1)) == at(2023, 2, 28)
    assert run(monthly(29), at(2024, 2, 1)) == at(2024, 2, 29)
    # After the short month, the anchor day itself again.
    assert run(monthly(31), at(2023, 2, 28)) == at(2023, 3, 31)
    assert run(monthly(30), at(2024, 2, 29)) == at(2024, 3, 30)
    assert run(monthly(30), at(1900, 2, 1)) == at(1900, 2, 28)  # 1900: no leap day


def test_monthly_every_anchor_runs_once_in_every_month_of_a_leap_year():
    for anchor in range(1, 32):
        runs, after = [], at(2023, 12, 31, 12)
        while (nxt := run(monthly(anchor), after)) is not None and nxt.year == 2024:
            runs.append(nxt.date())
            after = nxt
        expected = [date(2024, m, min(anchor, calendar.monthrange(2024, m)[1]))
                    for m in range(1, 13)]
        assert runs == expected, anchor


# Short days ------------------------------------------------------------------------------

def test_two_second_days_start_at_the_epoch_as_calendar_days_do():
    # t = 0.5 s is day 0, Thursday 1970-01-01.
    after = EPOCH + timedelta(seconds=0.5)
    assert run(DAILY, after, 2) == EPOCH + timedelta(seconds=2)
    assert run(weekly("monday"), after, 2) == EPOCH + timedelta(seconds=8)  # day 4
    assert run(weekly("thursday"), after, 2) == EPOCH + timedelta(seconds=14)  # day 7
    assert run(monthly(31), after, 2) == EPOCH + timedelta(seconds=60)  # 1970-01-31
    # From day 30 (January 31st), February 1970 has 28 days: day 58.
    assert run(monthly(31), EPOCH + timedelta(seconds=61), 2) == \
        EPOCH + timedelta(seconds=116)


def test_two_second_days_now_keep_the_calendar_far_past_year_9999():
    # Today with 2 s days is day ~870 million: its calendar is taken modulo 400 years.
    now = at(2025, 6, 1, 12, 0, 0)
    n = day_number(now, day_seconds=2)
    assert n > 3_000_000  # date(1970, 1, 1) + n days would overflow
    got = run(weekly("friday"), now, 2)
    assert got is not None and now < got <= now + timedelta(seconds=14)
    assert WEEKDAYS[calendar_date(day_number(got, day_seconds=2)).weekday()] == "friday"
    got = run(monthly(31), now, 2)
    assert got is not None and now < got <= now + timedelta(seconds=62)
    day = calendar_date(day_number(got, day_seconds=2))
    assert day.day == calendar.monthrange(day.year, day.month)[1]
    assert run(DAILY, now, 2) == day_start(n + 1, day_seconds=2)


def test_the_gregorian_cycle_keeps_weekdays_and_month_days():
    for n in (0, 59, 789, 146_096):
        assert calendar_date(n) == date(1970, 1, 1) + timedelta(days=n)
        assert calendar_date(n + 146_097) == calendar_date(n)
        assert calendar_date(n + 7 * 146_097) == calendar_date(n)


@pytest.mark.parametrize("day_seconds", [0.01, 0.1, 0.3, 1.5, 2, 7, 3600, DAY])
def test_a_days_start_is_on_that_day_and_a_run_fed_back_moves_on(day_seconds):
    today = day_number(at(2025, 6, 1), day_seconds=day_seconds)
    for n in (0, 1, 2, 13, today - 1, today, today + 1):
        start = day_start(n, day_seconds=day_seconds)
        assert day_number(start, day_seconds=day_seconds) == n
        assert day_number(start - timedelta(microseconds=1), day_seconds=day_seconds) == n - 1
    # A scheduler that reschedules from the run's own start never runs a day twice.
    first = run(DAILY, at(2025, 6, 1), day_seconds)
    assert first is not None
    second = run(DAILY, first, day_seconds)
    assert second is not None
    assert day_number(second, day_seconds=day_seconds) == \
        day_number(first, day_seconds=day_seconds) + 1


def test_day_seconds_must_be_positive():
    with pytest.raises(ValueError):
        run(DAILY, at(2024, 1, 1), 0)


# The model's and the request's checks ------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    ({"interval": "weekly"}, "weeklyAnchor"),
    ({"interval": "monthly"}, "monthlyAnchor"),
    ({"interval": "daily", "weekly_anchor": "monday"}, "weeklyAnchor"),
    ({"interval": "weekly", "weekly_anchor": "monday", "monthly_anchor": 3}, "monthlyAnchor"),
])
def test_anchors_must_match_the_interval(kwargs, field):
    with pytest.raises(ValidationError, match=field):
        PayoutSchedule(**kwargs)
    body = PayoutScheduleIn.model_validate({
        "interval": kwargs["interval"], "weeklyAnchor": kwargs.get("weekly_anchor"),
        "monthlyAnchor": kwargs.get("monthly_anchor")})
    with pytest.raises(ValueError, match=f"^{field}: "):
        body.schedule()


def test_the_request_reads_the_nora_fields():
    body = PayoutScheduleIn.model_validate({
        "interval": "weekly", "weeklyAnchor": "Friday", "delayDays": 0,
        "minimumAmount": "000150"})
    assert body.schedule() == PayoutSchedule(interval="weekly", weekly_anchor="friday",
                                             delay_days=0, minimum_amount=150)
    body = PayoutScheduleIn.model_validate({"interval": "monthly", "monthlyAnchor": 31,
                                            "minimumAmount": 10**30})
    assert body.schedule().minimum_amount == 10**30
    assert PayoutScheduleIn.model_validate({"interval": "daily"}).schedule() == DAILY


@pytest.mark.parametrize("extra, field", [
    ({"monthlyAnchor": 32, "interval": "monthly"}, "monthlyAnchor"),
    ({"monthlyAnchor": 0, "interval": "monthly"}, "monthlyAnchor"),
    ({"monthlyAnchor": "5", "interval": "monthly"}, "monthlyAnchor"),
    ({"weeklyAnchor": "funday", "interval": "weekly"}, "weeklyAnchor"),
    ({"delayDays": 31}, "delayDays"),
    ({"delayDays": -1}, "delayDays"),
    ({"delayDays": True}, "delayDays"),
    ({"interval": "hourly"}, "interval"),
    ({"minimumAmount": 1.5}, "minimumAmount"),
    ({"nextRunAt": "0"}, "nextRunAt"),
])
def test_bad_fields_are_named(extra, field):
    with pytest.raises(ValidationError) as caught:
        PayoutScheduleIn.model_validate({"interval": "daily", **extra})
    assert caught.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize("amount", ["-1", "1.50", "", "12a", "9" * 79, -5])
def test_a_bad_minimum_amount_is_named(amount):
    body = PayoutScheduleIn.model_validate({"interval": "daily", "minimumAmount": amount})
    with pytest.raises(ValueError, match="^minimumAmount: "):
        body.schedule()
