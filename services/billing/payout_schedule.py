"""A merchant's payout schedule: how often the scheduler pays out its available balance,
how long a payment waits before it is available, and when the next run is. No I/O.

Settlement days. Day number n is floor(t / day_seconds) of a time t in Unix seconds, and
day n stands for the calendar date 1970-01-01 + n days: with the production
day_seconds=86400 a day is a UTC calendar day; a test setting shortens days to seconds
and the calendar still runs (weekdays, short months) at that speed. Shortened days reach
far past year 9999, so the calendar date of a day is taken modulo the Gregorian cycle of
400 years (146097 days, a whole number of weeks): the month, day and weekday repeat.
Arithmetic is exact (integer microseconds, day_seconds as the decimal it was written
as), so a run's start fed back in is on its own day, never the day before.
"""

from __future__ import annotations

import calendar
import math
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from shared.money import MAX_MINOR, MinorInput, MoneyError, parse_minor_string

Interval = Literal["manual", "daily", "weekly", "monthly"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                  "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)  # in date.weekday() order

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_CYCLE_DAYS = 146_097  # 400 Gregorian years
_LOOKAHEAD = 62  # days; every due day (the longest gap: 31) is within this of any day
_MICROSECOND = timedelta(microseconds=1)


def _day_us(day_seconds: float) -> Fraction:
    """A day in microseconds, exactly as written (0.01, not its binary neighbour)."""
    if not day_seconds > 0:
        raise ValueError("day_seconds must be positive")
    return Fraction(str(day_seconds)) * 1_000_000


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def day_number(at: datetime, *, day_seconds: float) -> int:
    """The settlement day `at` falls on."""
    return math.floor((_utc(at) - _EPOCH) // _MICROSECOND / _day_us(day_seconds))


def day_start(n: int, *, day_seconds: float) -> datetime:
    """The start of settlement day n (rounded up to the microsecond, so that it is on
    day n itself)."""
    return _EPOCH + timedelta(microseconds=math.ceil(n * _day_us(day_seconds)))


def calendar_date(n: int) -> date:
    """The calendar date day n stands for, modulo 400 years (same month, day, weekday)."""
    return _EPOCH_DATE + timedelta(days=n % _CYCLE_DAYS)


class PayoutSchedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    interval: Interval = "daily"
    weekly_anchor: Weekday | None = None
    monthly_anchor: int | None = Field(default=None, ge=1, le=31)
    delay_days: int = Field(default=2, ge=0, le=30)
    minimum_amount: int = Field(default=0, ge=0, le=MAX_MINOR)  # minor units

    @model_validator(mode="after")
    def _anchors(self) -> PayoutSchedule:
        problem = anchor_problem(self.interval, self.weekly_anchor, self.monthly_anchor)
        if problem is not None:
            raise ValueError(problem)
        return self

    def due_on(self, day: date) -> bool:
        """Whether the scheduler pays out on this calendar date."""
        if self.interval == "daily":
            return True
        if self.interval == "weekly":
            return WEEKDAYS[day.weekday()] == self.weekly_anchor
        if self.interval == "monthly" and self.monthly_anchor is not None:
            # An anchor past the month's end (31 in April) pays on its last day.
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day == min(self.monthly_anchor, last)
        return False

    def next_run(self, after: datetime, *, day_seconds: float) -> datetime | None:
        """The start of the first due settlement day strictly after `after`'s day;
        None for a manual schedule."""
        if self.interval == "manual":
            return None
        today = day_number(after, day_seconds=day_seconds)
        for n in range(today + 1, today + 1 + _LOOKAHEAD):
            if self.due_on(calendar_date(n)):
                return day_start(n, day_seconds=day_seconds)
        raise AssertionError(f"no due day within {_LOOKAHEAD} days")  # unreachable


def anchor_problem(interval: str, weekly: str | None, monthly: int | None) -> str | None:
    """What is wrong with the anchors of an interval ("field: why"), or None."""
    if interval == "weekly" and weekly is None:
        return "weeklyAnchor: required for a weekly schedule (monday to sunday)"
    if interval != "weekly" and weekly is not None:
        return "weeklyAnchor: only for a weekly schedule"
    if interval == "monthly" and monthly is None:
        return "monthlyAnchor: required for a monthly schedule (1 to 31)"
    if interval != "monthly" and monthly is not None:
        return "monthlyAnchor: only for a monthly schedule"
    return None


# The API's request and answer ------------------------------------------------------

class PayoutScheduleIn(BaseModel):
    """PUT /api/v1/admin/merchants/{merchantId}/payout-schedule."""
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    interval: Interval
    weekly_anchor: Weekday | None = Field(default=None, alias="weeklyAnchor")
    monthly_anchor: StrictInt | None = Field(default=None, alias="monthlyAnchor", ge=1, le=31)
    delay_days: StrictInt = Field(default=2, alias="delayDays", ge=0, le=30)
    minimum_amount: MinorInput = Field(default="0", alias="minimumAmount")

    @field_validator("weekly_anchor", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    def schedule(self) -> PayoutSchedule:
        """The schedule asked for; ValueError "field: why" when it is inconsistent."""
        problem = anchor_problem(self.interval, self.weekly_anchor, self.monthly_anchor)
        if problem is not None:
            raise ValueError(problem)
        try:
            # Minor units of whichever currency is paid out; the currency only types it.
            minimum = parse_minor_string(self.minimum_amount, "USD", "minimumAmount",
                                         allow_zero=True).minor
        except MoneyError as exc:
            raise ValueError(f"minimumAmount: {exc.message.removeprefix('minimumAmount ')}"
                             ) from None
        return PayoutSchedule(interval=self.interval, weekly_anchor=self.weekly_anchor,
                              monthly_anchor=self.monthly_anchor, delay_days=self.delay_days,
                              minimum_amount=minimum)


class PayoutScheduleOut(BaseModel):
    """A merchant's schedule as the API answers it."""
    model_config = ConfigDict(populate_by_name=True)

    merchant_id: int = Field(alias="merchantId")
    interval: Interval
    weekly_anchor: Weekday | None = Field(alias="weeklyAnchor")
    monthly_anchor: int | None = Field(alias="monthlyAnchor")
    delay_days: int = Field(alias="delayDays")
    minimum_amount: str = Field(alias="minimumAmount")  # minor units
    next_run_at: str | None = Field(alias="nextRunAt")  # ISO 8601; null: manual, or unset
    updated_at: str | None = Field(alias="updatedAt")

    @classmethod
    def of(cls, merchant_id: int, schedule: PayoutSchedule, *, next_run_at: datetime | None,
           updated_at: datetime | None) -> PayoutScheduleOut:
        return cls.model_validate({
            "merchant_id": merchant_id, "interval": schedule.interval,
            "weekly_anchor": schedule.weekly_anchor, "monthly_anchor": schedule.monthly_anchor,
            "delay_days": schedule.delay_days, "minimum_amount": str(schedule.minimum_amount),
            "next_run_at": next_run_at.isoformat() if next_run_at else None,
            "updated_at": updated_at.isoformat() if updated_at else None})
