"""What the billing handlers, consumers and scheduler share: the internal client,
the clock (injectable, so tests can run a year of renewals in seconds) and units
of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiohttp import web

from shared.events import UnitOfWork
from shared.http.app import POOL, RELAY
from shared.http.client import InternalClient
from shared.http.middleware import SETTINGS


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock a test moves by hand."""

    def __init__(self, start: datetime):
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, value: datetime) -> None:
        self._now = value

    def advance(self, **delta) -> datetime:
        self._now += timedelta(**delta)
        return self._now


CLIENT = web.AppKey("billing_client", InternalClient)
class Clock(Protocol):
    def now(self) -> datetime: ...


CLOCK = web.AppKey("billing_clock", Clock)


async def client_ctx(app: web.Application) -> AsyncIterator[None]:
    app[CLIENT] = InternalClient(app[SETTINGS], caller="billing", timeout=10, retries=1)
    yield
    await app[CLIENT].close()


def uow(app: web.Application) -> UnitOfWork:
    return UnitOfWork(app[POOL], producer="billing", relay=app.get(RELAY))


def now(app: web.Application) -> datetime:
    return app[CLOCK].now()


_MAX_EPOCH = 2**37  # year 6325: fromtimestamp() of more overflows (a 500)


def set_clock(app: web.Application, at: object) -> None:
    """An internal tick's `{"now": unix}`: moves a settable clock (tests) there."""
    from shared.http.errors import ApiError, Errors

    setter = getattr(app[CLOCK], "set", None)
    if not isinstance(at, int) or not 0 <= at <= _MAX_EPOCH or setter is None:
        raise ApiError(Errors.VALIDATION, field="now",
                       detail="now: Unix seconds, only with a settable clock")
    setter(datetime.fromtimestamp(at, UTC))
