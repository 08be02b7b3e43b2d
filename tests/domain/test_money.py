"""Money: integer minor units per currency exponent, parsed from what shops and spreadsheets write."""
from decimal import Decimal

import pytest

from portal.domain.money import (
    Money,
    MoneyError,
    exponent,
    minor_to_str,
    parse_decimal,
    parse_minor,
    to_minor,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("119.00", Decimal("119.00")),
        ("119,00", Decimal("119.00")),
        ("1.234,56", Decimal("1234.56")),
        ("1,234.56", Decimal("1234.56")),
        ("1.234.567,89", Decimal("1234567.89")),
        (" 49,9 ", Decimal("49.9")),
        ("1 234,56", Decimal("1234.56")),
        ("0,05", Decimal("0.05")),
        ("+12", Decimal("12")),
    ],
)
def test_parse_decimal_reads_german_and_english_notation(text, expected):
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "1,2,3", "12.34.56", "1.2e5", "12,34,5", "€ 12", "NaN", "Infinity"])
def test_parse_decimal_refuses_what_is_not_an_amount(text):
    with pytest.raises(MoneyError):
        parse_decimal(text)


def test_parsing_never_goes_through_floats():
    # 0.1 + 0.2 style errors would show up as 30000000000000004 minor units.
    assert parse_minor("0,30", "EUR") == 30
    assert parse_minor("1.234.567,89", "EUR") == 123456789
    assert isinstance(parse_minor("19,99", "EUR"), int)


@pytest.mark.parametrize("currency, digits", [("EUR", 2), ("JPY", 0), ("KWD", 3), ("CHF", 2)])
def test_each_currency_has_its_own_exponent(currency, digits):
    assert exponent(currency) == digits


def test_an_unknown_currency_has_no_exponent():
    with pytest.raises(MoneyError):
        exponent("XXY")


def test_amounts_more_precise_than_the_currency_are_refused():
    assert to_minor(Decimal("500"), "JPY") == 500
    assert to_minor(Decimal("1.234"), "KWD") == 1234
    with pytest.raises(MoneyError):
        to_minor(Decimal("500.5"), "JPY")
    with pytest.raises(MoneyError):
        to_minor(Decimal("49.999"), "EUR")


@pytest.mark.parametrize(
    "minor, currency, text",
    [(4990, "EUR", "49.90"), (500, "JPY", "500"), (1234, "KWD", "1.234"), (-500, "EUR", "-5.00"), (0, "EUR", "0.00")],
)
def test_minor_units_format_as_the_apis_decimal_strings(minor, currency, text):
    assert minor_to_str(minor, currency) == text


def test_money_adds_within_one_currency_only():
    assert Money(4990, "EUR") + Money(10, "EUR") == Money(5000, "EUR")
    assert Money(4990, "EUR") - Money(5000, "EUR") == Money(-10, "EUR")
    assert str(-Money(4990, "EUR")) == "-49.90 EUR"
    with pytest.raises(MoneyError):
        Money(1, "EUR") + Money(1, "USD")
