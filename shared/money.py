"""Money as an integer count of minor units, and the edge formats of each API.

Amounts never live in a float: a float cannot hold 0.1 exactly and cannot hold
an 18-decimal NOR amount at all. Every amount is an `int` of minor units
(cents, wei) bounded by NUMERIC(78,0), the column type that stores it.

Each API family spells amounts differently; domain code only sees `Money`:
- NorPay (/api/v2): strings of integer minor units ("1050" is 10.50 USD).
  `parse_minor_string` / `to_minor_string`.
- NORAH (/api/v1): JSON numbers in major units (100.00, 2.5).
  `parse_major` / `to_major_decimal`, which returns a `Decimal`, never a float:
  the caller's JSON encoder must serialise it (orjson and json need `default=`).
- Prices (/prices): plain numbers in major units (50, 51.75), lower-case codes.
  `parse_major` / `to_major_number`.

No Decimal arithmetic: the default context keeps 28 digits and would round a
78-digit amount. Conversions use digit strings and `Decimal` tuples (exact).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pydantic import StrictInt, StrictStr

MAX_DIGITS = 78
MAX_MINOR: int = 10**MAX_DIGITS - 1
"""Largest amount that fits NUMERIC(78,0); anything beyond is rejected."""

_MAX_MAJOR_STRING = 256  # keeps int() of an exponent far below Python's digit limit
_DISPLAY_TRIM_ABOVE = 3  # exponents above this (NOR) drop trailing zeros on pages
_MINOR_RE = re.compile(r"[0-9]+")
_MAJOR_RE = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")
NOT_POSITIVE = "Amount must be greater than 0"


# Request-body types of amounts. JSON true/false are not amounts: pydantic's lax
# int would read true as 1, so the int is strict (and so is the string).
MinorInput = StrictStr | StrictInt  # minor units: "1000000000000000000" or 1050
MajorInput = Decimal | StrictInt | StrictStr  # major units: 100.00, "100.00", 5


class MoneyError(ValueError):
    """A client-supplied amount or currency is unusable; `field` names the input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int
    name: str


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("NOR", 18, "Nor"),
        Currency("USD", 2, "US dollar"),
        Currency("ZWG", 2, "Zimbabwe Gold"),
        Currency("ZWL", 2, "Zimbabwean dollar"),
        Currency("EUR", 2, "Euro"),
        Currency("GBP", 2, "Pound sterling"),
        Currency("ZAR", 2, "South African rand"),
        Currency("BWP", 2, "Botswana pula"),
        Currency("ZMW", 2, "Zambian kwacha"),
        Currency("KES", 2, "Kenyan shilling"),
        Currency("NGN", 2, "Nigerian naira"),
        Currency("GHS", 2, "Ghanaian cedi"),
        Currency("CAD", 2, "Canadian dollar"),
        Currency("AUD", 2, "Australian dollar"),
        Currency("CHF", 2, "Swiss franc"),
        Currency("CNY", 2, "Chinese yuan"),
        Currency("INR", 2, "Indian rupee"),
        Currency("JPY", 0, "Japanese yen"),
        Currency("KRW", 0, "South Korean won"),
        Currency("BHD", 3, "Bahraini dinar"),
        Currency("KWD", 3, "Kuwaiti dinar"),
    )
}


def get_currency(code: str | Currency, field: str = "currency") -> Currency:
    """Look a code up case-insensitively (Prices sends "usd", the others "USD")."""
    if isinstance(code, Currency):
        return code
    if not isinstance(code, str):
        raise MoneyError(f"{field} must be a currency code", field)
    currency = CURRENCIES.get(code.upper())
    if currency is None:
        shown = code if len(code) <= 16 else code[:16] + "..."
        raise MoneyError(f"unsupported currency {shown!r}", field)
    return currency


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: `minor` units of `currency`. Negative only as a result of `-`."""

    minor: int
    currency: Currency

    def __post_init__(self) -> None:
        minor: object = self.minor  # untyped callers may pass a float or a Decimal
        if not isinstance(minor, int) or isinstance(minor, bool):
            raise TypeError(f"Money.minor must be int, not {type(minor).__name__}")
        if not isinstance(self.currency, Currency):
            raise TypeError("Money.currency must be a Currency")
        if abs(self.minor) > MAX_MINOR:
            raise MoneyError("amount is too large", "amount")

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(
                f"cannot combine {self.currency.code} and {other.currency.code}", "currency"
            )

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def _cmp(self, other: object, op: Callable[[int, int], bool]) -> bool:
        if not isinstance(other, Money):
            return NotImplemented  # type: ignore[no-any-return]  # the dunder returns it on
        self._same(other)
        return op(self.minor, other.minor)

    def __lt__(self, other: object) -> bool:
        return self._cmp(other, operator.lt)

    def __le__(self, other: object) -> bool:
        return self._cmp(other, operator.le)

    def __gt__(self, other: object) -> bool:
        return self._cmp(other, operator.gt)

    def __ge__(self, other: object) -> bool:
        return self._cmp(other, operator.ge)

    def __str__(self) -> str:
        """Full precision, no separators: "10.50 USD", "1.000000000000000000 NOR"."""
        whole, frac = _split(self)
        sign = "-" if self.minor < 0 else ""
        return f"{sign}{whole}{'.' + frac if frac else ''} {self.currency.code}"


def _split(money: Money) -> tuple[int, str]:
    """Whole major units and the zero-padded fraction digits of |money|."""
    exp = money.currency.exponent
    whole, frac = divmod(abs(money.minor), 10**exp)
    return whole, (str(frac).zfill(exp) if exp else "")


def _sign_error(field: str, allow_zero: bool) -> MoneyError:
    return MoneyError(f"{field} must not be negative" if allow_zero else NOT_POSITIVE, field)


def _checked(minor: int, currency: Currency, field: str, allow_zero: bool) -> Money:
    if minor < 0 or (minor == 0 and not allow_zero):
        raise _sign_error(field, allow_zero)
    if minor > MAX_MINOR:
        raise MoneyError(f"{field} is too large", field)
    return Money(minor, currency)


def parse_minor_string(
    value: object, currency: str | Currency, field: str = "amount", *, allow_zero: bool = False
) -> Money:
    """NorPay amount: a string of ASCII digits in minor units (an int is tolerated).

    No sign, whitespace, '.', exponent or non-ASCII digits: the wire format is
    integer minor units, so anything else is a client bug worth reporting.
    Leading zeros are accepted and normalised ("0100" is 100); they are
    unambiguous, and old NorPay clients left-pad.
    """
    cur = get_currency(currency)
    if isinstance(value, int) and not isinstance(value, bool):
        return _checked(value, cur, field, allow_zero)
    if not isinstance(value, str):
        raise MoneyError(f"{field} must be a string of digits in minor units", field)
    if value[:1] == "-" and _MINOR_RE.fullmatch(value[1:]):
        raise _sign_error(field, allow_zero)
    if not _MINOR_RE.fullmatch(value):
        raise MoneyError(f"{field} must be a string of digits in minor units", field)
    digits = value.lstrip("0") or "0"
    if len(digits) > MAX_DIGITS:  # before int(): cheap, and no digit-limit surprises
        raise MoneyError(f"{field} is too large", field)
    return _checked(int(digits), cur, field, allow_zero)


def parse_major(
    value: object, currency: str | Currency, field: str = "amount", *, allow_zero: bool = False
) -> Money:
    """NORAH/Prices amount: a number in major units, converted exactly to minor units.

    Floats go through `str()` (shortest round-trip repr), so 100.1 is 100.1, and
    0.1 + 0.2 is 0.30000000000000004 and rejected for USD rather than rounded.
    Strings follow JSON number syntax (digits on both sides of '.', exponent
    allowed when the result is exact, no '+' or whitespace).
    """
    cur = get_currency(currency)
    if isinstance(value, bool):
        raise MoneyError(f"{field} must be a number", field)
    if isinstance(value, int):
        if value < 0 or value > MAX_MINOR:  # sign/size known; skip str() of huge ints
            return _checked(value, cur, field, allow_zero)
        return _from_parts(False, str(value), 0, cur, field, allow_zero)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MoneyError(f"{field} must be a finite number", field)
        value = Decimal(str(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError(f"{field} must be a finite number", field)
        sign, digits, exponent = value.as_tuple()
        return _from_parts(
            sign == 1, "".join(map(str, digits)), int(exponent), cur, field, allow_zero
        )
    if isinstance(value, str):
        if len(value) > _MAX_MAJOR_STRING:
            raise MoneyError(f"{field} is too long", field)
        m = _MAJOR_RE.fullmatch(value)
        if m is None:
            raise MoneyError(f"{field} must be a number", field)
        neg, whole, frac, exp = m.groups()
        frac = frac or ""
        exponent = int(exp or 0) - len(frac)
        return _from_parts(neg == "-", whole + frac, exponent, cur, field, allow_zero)
    raise MoneyError(f"{field} must be a number", field)


def _from_parts(
    negative: bool, digits: str, exponent: int, cur: Currency, field: str, allow_zero: bool
) -> Money:
    """Exact value `(-1 if negative) * int(digits) * 10**exponent` as Money, or MoneyError.

    Sizes are checked on digit counts before any power of ten is computed, so
    hostile input like "1e999999" costs nothing.
    """
    digits = digits.lstrip("0")
    if not digits:
        return _checked(0, cur, field, allow_zero)
    if negative:
        raise _sign_error(field, allow_zero)
    significant = digits.rstrip("0")
    shift = exponent + (len(digits) - len(significant)) + cur.exponent
    if shift < 0:
        raise MoneyError(
            f"{field} has more decimal places than {cur.code} allows ({cur.exponent})", field
        )
    if len(significant) + shift > MAX_DIGITS:
        raise MoneyError(f"{field} is too large", field)
    return _checked(int(significant) * 10**shift, cur, field, allow_zero)


def to_minor_string(money: Money) -> str:
    """NorPay rendering: integer minor units as a string ("1050")."""
    return str(money.minor)


def _decimal(negative: bool, digits: str, exponent: int) -> Decimal:
    """Build a Decimal from parts; tuple construction is exact in any context."""
    return Decimal((1 if negative else 0, tuple(int(d) for d in digits), exponent))


def to_major_decimal(money: Money) -> Decimal:
    """NORAH rendering: major units with exactly the currency's decimals (Decimal('975.00')).

    Render-only value for the JSON encoder; never feed it back into arithmetic.
    """
    return _decimal(money.minor < 0, str(abs(money.minor)), -money.currency.exponent)


def to_major_number(money: Money) -> int | Decimal:
    """Prices rendering: an int when whole (50), else the shortest Decimal (51.75, 51.7)."""
    whole, frac = _split(money)
    if not frac.strip("0"):
        return -whole if money.minor < 0 else whole
    digits = str(abs(money.minor)).rstrip("0")
    trimmed = len(str(abs(money.minor))) - len(digits)
    return _decimal(money.minor < 0, digits, trimmed - money.currency.exponent)


def format_display(money: Money) -> str:
    """Human rendering for pages, locale-free: "1,234.50 USD", "1.00 NOR", "1,000 JPY".

    Currencies with more than three decimals (NOR) drop trailing zeros down to
    two, since eighteen digits of zeros help nobody; ISO currencies keep their
    fixed decimals (BHD shows "1.500").
    """
    whole, frac = _split(money)
    if money.currency.exponent > _DISPLAY_TRIM_ABOVE:
        frac = frac.rstrip("0").ljust(2, "0")
    sign = "-" if money.minor < 0 else ""
    return f"{sign}{whole:,}{'.' + frac if frac else ''} {money.currency.code}"
