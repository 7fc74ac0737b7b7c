"""shared.money: exact minor-unit amounts and the three APIs' edge formats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.money import (
    CURRENCIES,
    MAX_MINOR,
    Currency,
    Money,
    MoneyError,
    format_display,
    get_currency,
    parse_major,
    parse_minor_string,
    to_major_decimal,
    to_major_number,
    to_minor_string,
)

USD = CURRENCIES["USD"]
NOR = CURRENCIES["NOR"]
JPY = CURRENCIES["JPY"]
BHD = CURRENCIES["BHD"]
WEI = 10**18


def usd(minor: int) -> Money:
    return Money(minor, USD)


# --- currency table ---------------------------------------------------------------


def test_currency_table_has_expected_exponents() -> None:
    expected = {"NOR": 18, "JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
    two = ("USD", "ZWG", "ZWL", "EUR", "GBP", "ZAR", "BWP", "ZMW")
    two += ("KES", "NGN", "GHS", "CAD", "AUD", "CHF", "CNY", "INR")
    expected |= dict.fromkeys(two, 2)
    assert {code: c.exponent for code, c in CURRENCIES.items()} == expected
    assert all(code == c.code for code, c in CURRENCIES.items())


@pytest.mark.parametrize("code", ["USD", "usd", "Usd", "uSD"])
def test_currency_lookup_is_case_insensitive(code: str) -> None:
    assert get_currency(code) is USD


def test_currency_lookup_passes_currency_objects_through() -> None:
    assert get_currency(NOR) is NOR


def test_unknown_currency_is_rejected_with_its_code() -> None:
    with pytest.raises(MoneyError) as exc:
        get_currency("XYZ")
    assert exc.value.message == "unsupported currency 'XYZ'"
    assert str(exc.value) == "unsupported currency 'XYZ'"
    assert exc.value.field == "currency"
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("code", ["", " USD", "US", None, 840])
def test_malformed_currency_codes_are_rejected(code: object) -> None:
    with pytest.raises(MoneyError):
        get_currency(code)  # type: ignore[arg-type]


def test_unknown_currency_is_rejected_by_parsers() -> None:
    with pytest.raises(MoneyError, match="unsupported currency 'ABC'"):
        parse_minor_string("100", "ABC")
    with pytest.raises(MoneyError, match="unsupported currency 'abc'"):
        parse_major(1, "abc")


def test_currency_is_immutable() -> None:
    with pytest.raises(AttributeError):
        USD.exponent = 3  # type: ignore[misc]


# --- Money value type -------------------------------------------------------------


def test_money_adds_and_subtracts_within_one_currency() -> None:
    assert usd(1050) + usd(25) == usd(1075)
    assert usd(1050) - usd(50) == usd(1000)
    assert usd(10) - usd(25) == usd(-15)


def test_money_refuses_cross_currency_arithmetic() -> None:
    eur = Money(100, CURRENCIES["EUR"])
    with pytest.raises(MoneyError, match="cannot combine USD and EUR"):
        usd(100) + eur
    with pytest.raises(MoneyError, match="cannot combine USD and EUR"):
        usd(100) - eur


def test_money_refuses_cross_currency_comparison() -> None:
    with pytest.raises(MoneyError):
        assert usd(100) < Money(200, JPY)


def test_money_does_not_add_plain_numbers() -> None:
    with pytest.raises(TypeError):
        usd(100) + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        assert usd(100) < 5  # type: ignore[operator]


def test_money_compares_within_one_currency() -> None:
    assert usd(1) < usd(2) <= usd(2) < usd(3)
    assert usd(3) > usd(2) >= usd(2)
    assert max(usd(5), usd(50), usd(7)) == usd(50)
    assert usd(100) != Money(100, CURRENCIES["EUR"])


def test_money_is_hashable_and_immutable() -> None:
    assert len({usd(1), usd(1), usd(2)}) == 2
    with pytest.raises(AttributeError):
        usd(1).minor = 2  # type: ignore[misc]


@pytest.mark.parametrize("minor", [1.0, True, Decimal(1), "1"])
def test_money_refuses_non_int_minor(minor: object) -> None:
    with pytest.raises(TypeError):
        Money(minor, USD)  # type: ignore[arg-type]


def test_money_refuses_string_currency() -> None:
    with pytest.raises(TypeError):
        Money(1, "USD")  # type: ignore[arg-type]


def test_money_beyond_numeric_78_is_rejected_even_from_arithmetic() -> None:
    assert Money(MAX_MINOR, USD).minor == 10**78 - 1
    assert Money(-MAX_MINOR, USD).minor == -(10**78 - 1)
    with pytest.raises(MoneyError, match="too large"):
        Money(10**78, USD)
    with pytest.raises(MoneyError, match="too large"):
        Money(MAX_MINOR, USD) + usd(1)


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (usd(1050), "10.50 USD"),
        (usd(5), "0.05 USD"),
        (usd(-5), "-0.05 USD"),
        (Money(WEI, NOR), "1.000000000000000000 NOR"),
        (Money(1500, JPY), "1500 JPY"),
        (Money(1500, BHD), "1.500 BHD"),
    ],
)
def test_money_str_shows_full_precision_and_code(money: Money, text: str) -> None:
    assert str(money) == text


# --- NorPay: parse_minor_string ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("1000000000000000000", "NOR", WEI),
        ("1050", "USD", 1050),
        ("1", "usd", 1),
        (1050, "USD", 1050),
        ("0100", "USD", 100),
        ("1500", "JPY", 1500),
    ],
)
def test_minor_string_accepts_integer_minor_units(value: object, currency: str, minor: int) -> None:
    money = parse_minor_string(value, currency)
    assert money.minor == minor
    assert money.currency is get_currency(currency)


def test_minor_string_normalises_leading_zeros() -> None:
    assert to_minor_string(parse_minor_string("000000001050", "USD")) == "1050"


@pytest.mark.parametrize(
    "value",
    ["", "1.5", "1e18", " 1", "1 ", "+1", "1_000", "1,000", "0x10", "abc", "1\n", "١٢", "²"],
)
def test_minor_string_rejects_anything_but_ascii_digits(value: str) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_minor_string(value, "USD")
    assert exc.value.message == "amount must be a string of digits in minor units"
    assert exc.value.field == "amount"


@pytest.mark.parametrize("value", [True, False, 1.0, 1.5, None, [1], {"v": 1}, Decimal(1)])
def test_minor_string_rejects_bool_float_and_other_types(value: object) -> None:
    with pytest.raises(MoneyError, match="must be a string of digits"):
        parse_minor_string(value, "NOR")


@pytest.mark.parametrize("value", ["0", "000", 0, "-1", "-100", -1])
def test_minor_string_rejects_zero_and_negative_amounts(value: object) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_minor_string(value, "NOR")
    assert exc.value.message == "Amount must be greater than 0"
    assert exc.value.field == "amount"


def test_minor_string_allows_zero_when_asked() -> None:
    assert parse_minor_string("0", "USD", "fee", allow_zero=True) == usd(0)
    assert parse_minor_string(0, "USD", "fee", allow_zero=True) == usd(0)
    with pytest.raises(MoneyError, match="fee must not be negative") as exc:
        parse_minor_string("-1", "USD", "fee", allow_zero=True)
    assert exc.value.field == "fee"


def test_minor_string_accepts_the_numeric_78_maximum() -> None:
    assert parse_minor_string(str(10**78 - 1), "NOR").minor == MAX_MINOR
    assert parse_minor_string("0" + str(10**78 - 1), "NOR").minor == MAX_MINOR
    assert parse_minor_string(10**78 - 1, "NOR").minor == MAX_MINOR


@pytest.mark.parametrize(
    "value",
    [str(10**78), 10**78, "9" * 5000, 10**5000],
    ids=["str-1e78", "int-1e78", "str-5000-digits", "int-5000-digits"],
)
def test_minor_string_rejects_amounts_beyond_numeric_78(value: object) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_minor_string(value, "NOR", "price")
    assert exc.value.message == "price is too large"
    assert exc.value.field == "price"


def test_minor_string_names_the_field_in_errors() -> None:
    with pytest.raises(MoneyError, match="^fee must be a string") as exc:
        parse_minor_string("1.5", "USD", "fee")
    assert exc.value.field == "fee"


# --- NORAH / Prices: parse_major --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        (100, "USD", 10000),
        (100.0, "USD", 10000),
        (2.5, "USD", 250),
        (100.1, "USD", 10010),
        (51.75, "usd", 5175),
        (0.07, "USD", 7),
        ("100.00", "USD", 10000),
        ("975", "USD", 97500),
        ("1.500", "USD", 150),
        (Decimal("975.00"), "USD", 97500),
        (Decimal("1E+2"), "USD", 10000),
        ("1e2", "USD", 10000),
        ("1.5E1", "USD", 1500),
        ("105e-1", "USD", 1050),
        ("1", "NOR", WEI),
        (1, "NOR", WEI),
        ("0.000000000000000001", "NOR", 1),
        ("1e-18", "NOR", 1),
        (1e-18, "NOR", 1),
        (1500, "JPY", 1500),
        (1500.0, "JPY", 1500),
        ("1.234", "BHD", 1234),
        ("007.50", "USD", 750),
    ],
)
def test_major_accepts_exact_amounts_in_major_units(
    value: object, currency: str, minor: int
) -> None:
    assert parse_major(value, currency).minor == minor


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        (10.001, "USD"),
        ("10.001", "USD"),
        (Decimal("10.001"), "USD"),
        (0.1 + 0.2, "USD"),
        ("0.30000000000000004", "USD"),
        ("1e-3", "USD"),
        ("1e-999999", "USD"),
    ],
)
def test_rejects_float_with_more_decimals_than_currency(value: object, currency: str) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_major(value, currency)
    assert exc.value.message == "amount has more decimal places than USD allows (2)"
    assert exc.value.field == "amount"


@pytest.mark.parametrize("value", [1.5, "1.5", Decimal("0.5"), "1e-1"])
def test_jpy_with_zero_decimals_rejects_fractions(value: object) -> None:
    with pytest.raises(MoneyError, match=r"more decimal places than JPY allows \(0\)"):
        parse_major(value, "JPY")


def test_nor_rejects_more_than_18_decimals() -> None:
    with pytest.raises(MoneyError, match=r"NOR allows \(18\)"):
        parse_major("0.0000000000000000001", "NOR")


@pytest.mark.parametrize("value", [True, False])
def test_major_rejects_bool(value: bool) -> None:
    with pytest.raises(MoneyError, match="amount must be a number"):
        parse_major(value, "USD")


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf"), Decimal("NaN"), Decimal("sNaN"), Decimal("-Inf")],
)
def test_major_rejects_nan_and_infinity(value: object) -> None:
    with pytest.raises(MoneyError, match="amount must be a finite number"):
        parse_major(value, "USD")


@pytest.mark.parametrize(
    "value",
    [
        "",
        " 1",
        "1 ",
        "+1",
        "1.",
        ".5",
        "1,5",
        "1_000",
        "NaN",
        "Infinity",
        "inf",
        "0x10",
        "1e",
        "e5",
        "١",
        "1.5.5",
        "--1",
        None,
        [1],
        {"amount": 1},
    ],
)
def test_major_rejects_non_numbers(value: object) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_major(value, "USD", "price")
    assert exc.value.message == "price must be a number"
    assert exc.value.field == "price"


@pytest.mark.parametrize(
    "value", [0, 0.0, -0.0, "0", "0.00", "-0", "0e5", Decimal("-0"), -1, -0.01, "-2.5", "-1e9"]
)
def test_major_rejects_zero_and_negative_amounts(value: object) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_major(value, "USD")
    assert exc.value.message == "Amount must be greater than 0"


def test_major_rejects_negative_before_huge_magnitude() -> None:
    with pytest.raises(MoneyError, match="Amount must be greater than 0"):
        parse_major(-(10**100), "USD")


def test_major_allows_zero_when_asked() -> None:
    for value in (0, 0.0, "0.00", Decimal(0)):
        assert parse_major(value, "USD", "fee", allow_zero=True) == usd(0)
    with pytest.raises(MoneyError, match="fee must not be negative"):
        parse_major(-1.5, "USD", "fee", allow_zero=True)


def test_major_accepts_the_numeric_78_maximum() -> None:
    assert parse_major(10**78 - 1, "JPY").minor == MAX_MINOR
    assert parse_major(str(10**78 - 1), "JPY").minor == MAX_MINOR
    top_nor = str(10**60 - 1) + "." + "9" * 18
    assert parse_major(top_nor, "NOR").minor == MAX_MINOR
    assert parse_major(Decimal(top_nor), "NOR").minor == MAX_MINOR


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        (10**78, "JPY"),
        (str(10**78), "JPY"),
        (10**76, "USD"),
        (str(10**60), "NOR"),
        (Decimal(10**60), "NOR"),
        ("1e78", "JPY"),
        ("1e999999", "USD"),
        (Decimal("1e999999"), "USD"),
        (1e300, "USD"),
        pytest.param(10**5000, "USD", id="int-5000-digits"),
    ],
)
def test_major_rejects_amounts_beyond_numeric_78(value: object, currency: str) -> None:
    with pytest.raises(MoneyError) as exc:
        parse_major(value, currency)
    assert exc.value.message == "amount is too large"


def test_major_rejects_absurdly_long_strings() -> None:
    with pytest.raises(MoneyError, match="amount is too long"):
        parse_major("1" + "0" * 300, "USD")
    with pytest.raises(MoneyError, match="amount is too long"):
        parse_major("1e" + "9" * 5000, "USD")


def test_major_is_exact_for_78_digit_values_despite_decimal_context() -> None:
    # 28-digit default Decimal precision must not round this.
    value = "123456789012345678901234567890123456789012345678901234567890.123456789012345678"
    assert parse_major(value, "NOR").minor == int(value.replace(".", ""))


# --- formatters -------------------------------------------------------------------


def test_minor_string_rendering() -> None:
    assert to_minor_string(Money(WEI, NOR)) == "1000000000000000000"
    assert to_minor_string(usd(1050)) == "1050"


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (usd(97500), "975.00"),
        (usd(5), "0.05"),
        (usd(0), "0.00"),
        (usd(-250), "-2.50"),
        (Money(1500, JPY), "1500"),
        (Money(1500, BHD), "1.500"),
        (Money(WEI, NOR), "1.000000000000000000"),
        (Money(MAX_MINOR, NOR), str(10**60 - 1) + "." + "9" * 18),
    ],
)
def test_major_decimal_keeps_currency_decimals(money: Money, expected: str) -> None:
    rendered = to_major_decimal(money)
    assert isinstance(rendered, Decimal)
    assert rendered == Decimal(expected)
    assert rendered.as_tuple().exponent == -money.currency.exponent
    assert f"{rendered:f}" == expected


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (usd(5000), 50),
        (usd(5175), Decimal("51.75")),
        (usd(5170), Decimal("51.7")),
        (usd(-5170), Decimal("-51.7")),
        (usd(-5000), -50),
        (Money(1500, JPY), 1500),
        (Money(WEI, NOR), 1),
        (Money(1, NOR), Decimal("1E-18")),
        (Money(MAX_MINOR, JPY), MAX_MINOR),
    ],
)
def test_major_number_is_int_when_whole_else_shortest_decimal(
    money: Money, expected: int | Decimal
) -> None:
    rendered = to_major_number(money)
    assert type(rendered) is type(expected)
    assert rendered == expected
    if isinstance(rendered, Decimal):
        assert str(rendered) == str(expected)


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (usd(97500), "975.00 USD"),
        (usd(123450), "1,234.50 USD"),
        (usd(123456789), "1,234,567.89 USD"),
        (usd(-123450), "-1,234.50 USD"),
        (usd(5), "0.05 USD"),
        (Money(WEI, NOR), "1.00 NOR"),
        (Money(WEI + WEI // 2, NOR), "1.50 NOR"),
        (Money(1, NOR), "0.000000000000000001 NOR"),
        (Money(1234 * WEI + 125 * 10**15, NOR), "1,234.125 NOR"),
        (Money(1000000, JPY), "1,000,000 JPY"),
        (Money(1500, BHD), "1.500 BHD"),
    ],
)
def test_display_uses_separators_and_trims_nor_zeros(money: Money, text: str) -> None:
    assert format_display(money) == text


# --- round trips ------------------------------------------------------------------

currencies = st.sampled_from(list(CURRENCIES.values()))
positive_minor = st.integers(min_value=1, max_value=MAX_MINOR)
roundtrip = settings(max_examples=300, database=None)


@roundtrip
@given(currencies, positive_minor)
def test_minor_string_round_trips(currency: Currency, minor: int) -> None:
    money = Money(minor, currency)
    assert parse_minor_string(to_minor_string(money), currency.code) == money


@roundtrip
@given(currencies, positive_minor)
def test_major_decimal_round_trips_as_decimal_and_string(currency: Currency, minor: int) -> None:
    money = Money(minor, currency)
    rendered = to_major_decimal(money)
    assert parse_major(rendered, currency.code) == money
    assert parse_major(str(rendered), currency.code.lower()) == money


@roundtrip
@given(currencies, positive_minor)
def test_major_number_round_trips(currency: Currency, minor: int) -> None:
    money = Money(minor, currency)
    rendered = to_major_number(money)
    assert parse_major(rendered, currency.code) == money
    assert parse_major(str(rendered), currency.code) == money


@roundtrip
@given(currencies, positive_minor)
def test_display_round_trips_once_separators_are_removed(currency: Currency, minor: int) -> None:
    money = Money(minor, currency)
    number, code = format_display(money).split(" ")
    assert code == currency.code
    assert parse_major(number.replace(",", ""), code) == money


@roundtrip
@given(
    st.sampled_from([c for c in CURRENCIES.values() if c.exponent == 2]),
    st.integers(min_value=1, max_value=10**15 - 1),
)
def test_float_major_amounts_round_trip_within_double_precision(
    currency: Currency, minor: int
) -> None:
    money = Money(minor, currency)
    as_float = float(to_major_decimal(money))
    assert parse_major(as_float, currency.code) == money


@roundtrip
@given(currencies, positive_minor, positive_minor)
def test_addition_matches_integer_addition(currency: Currency, a: int, b: int) -> None:
    if a + b > MAX_MINOR:
        with pytest.raises(MoneyError):
            Money(a, currency) + Money(b, currency)
    else:
        assert (Money(a, currency) + Money(b, currency)).minor == a + b
        assert (Money(a, currency) + Money(b, currency)) - Money(b, currency) == Money(a, currency)
