"""How a report's time range is read from the rollups (docs/rollups.md): whole UTC days
from the day rollup, whole hours at the edges from the hour rollup, and only the edges'
minutes from the ledger itself — so a year is a few hundred rows, whatever the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Range = tuple[datetime, datetime]  # [start, end); start == end reads nothing


@dataclass(frozen=True)
class Segments:
    days: Range
    hours: tuple[Range, Range]
    raw: tuple[Range, Range]


def _floor(at: datetime, step: timedelta) -> datetime:
    at = at.astimezone(UTC)
    if step == DAY:
        return at.replace(hour=0, minute=0, second=0, microsecond=0)
    return at.replace(minute=0, second=0, microsecond=0)


def _ceil(at: datetime, step: timedelta) -> datetime:
    floor = _floor(at, step)
    return floor if floor == at else floor + step


def segments(start: datetime, end: datetime) -> Segments:
    """[start, end) as disjoint pieces whose union is exactly the range."""
    empty = (start, start)
    h0, h1 = _ceil(start, HOUR), _floor(end, HOUR)
    if h0 >= h1:  # within an hour or two partial ones: the ledger alone
        return Segments(empty, (empty, empty), ((start, end), empty))
    raw = ((start, h0), (h1, end))
    d0, d1 = _ceil(h0, DAY), _floor(h1, DAY)
    if d0 >= d1:
        return Segments(empty, ((h0, h1), empty), raw)
    return Segments((d0, d1), ((h0, d0), (d1, h1)), raw)
