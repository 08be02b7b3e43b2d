"""Money as integer minor units plus an ISO 4217 currency; never floats.

Parsing accepts what shops and spreadsheets write ("119.00", "119,00", "1.234,56",
"1,234.56"); formatting for people happens at the edge (see `portal.i18n`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision, list_currencies

# ISO 4217 also lists codes that are no money a shop invoices in: precious metals (XAU, XAG, XPT, XPD),
# units of account and bond units (XDR, XBA…XBD, XSU, XUA), the test code XTS, "no currency" XXX and
# withdrawn ones (XEU, XFO, XFU, XRE, XAD). Only the X codes of real currencies stay.
_X_CURRENCIES = frozenset({"XAF", "XCD", "XCG", "XOF", "XPF"})
_CURRENCIES = frozenset(c for c in list_currencies() if not c.startswith("X") or c in _X_CURRENCIES)
# Largest amount in minor units that intake accepts (10 trillion EUR less a cent): balance columns
# are 64-bit integers, and thousands of such amounts, fees and interest still fit in a sum.
MAX_MINOR = 999_999_999_999_999


class MoneyError(ValueError):
    """An amount or currency that cannot be taken as money."""


class AmountTooLarge(MoneyError):
    """An amount beyond MAX_MINOR minor units (what 64-bit balance columns hold with room for sums)."""


def is_currency(code: str) -> bool:
    return code in _CURRENCIES


@lru_cache(maxsize=None)
def exponent(currency: str) -> int:
    """Digits after the decimal point for the currency (EUR 2, JPY 0, KWD 3)."""
    if not is_currency(currency):
        raise MoneyError(f"unknown currency {currency!r}")
    return get_currency_precision(currency)


# Only ASCII digits are amounts (re.ASCII: "١٢٣" or "１２３" are refused, not read as 123); no exponents,
# NaN or Infinity get through these patterns either.
_PLAIN = re.compile(r"^-?\d+(\.\d+)?\Z", re.ASCII)
_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(\.\d{3})*(,\d+)?\Z|^-?\d+(,\d+)?\Z", re.ASCII)
_DECIMAL_POINT_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?\Z", re.ASCII)
# Longer text is no amount anyone means (MAX_MINOR has 15 digits); refusing it early keeps a string of
# thousands of digits away from int() and Decimal.
MAX_AMOUNT_TEXT = 40


def parse_decimal(text: str) -> Decimal:
    """A decimal from "119.00", "119,00", "1.234,56" or "1,234.56"; raises MoneyError."""
    if not isinstance(text, str) or len(text) > MAX_AMOUNT_TEXT * 2:
        raise MoneyError("not an amount")
    s = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if len(s) > MAX_AMOUNT_TEXT:
        raise MoneyError("not an amount: too many digits")
    if s.startswith("+"):
        s = s[1:]
    if _PLAIN.match(s):
        normal = s
    elif _DECIMAL_POINT_GROUPED.match(s):
        normal = s.replace(",", "")
    elif _DECIMAL_COMMA.match(s):
        normal = s.replace(".", "").replace(",", ".")
    else:
        raise MoneyError(f"not an amount: {text!r}")
    try:
        return Decimal(normal)
    except InvalidOperation as exc:  # pragma: no cover — the patterns above rule it out
        raise MoneyError(f"not an amount: {text!r}") from exc


def to_minor(value: Decimal, currency: str) -> int:
    """Minor units; refuses amounts more precise than the currency allows."""
    exp = exponent(currency)
    scaled = value.scaleb(exp)
    if not scaled.is_finite():
        raise MoneyError("not an amount")
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{currency} amounts have at most {exp} decimal places")
    if abs(scaled) > MAX_MINOR:
        raise AmountTooLarge("is too large")
    return int(scaled)


def parse_minor(text: str, currency: str) -> int:
    return to_minor(parse_decimal(text), currency)


def minor_to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def minor_to_str(minor: int, currency: str) -> str:
    """The API's decimal string: 4990 EUR → "49.90", 500 JPY → "500"."""
    exp = exponent(currency)
    return f"{minor_to_decimal(minor, currency):.{exp}f}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units with its currency; arithmetic only within one currency."""

    minor: int
    currency: str

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.minor, self.currency)

    def _same(self, other: "Money") -> None:
        if self.currency != other.currency:
            raise MoneyError(f"cannot combine {self.currency} and {other.currency}")

    @property
    def decimal(self) -> Decimal:
        return minor_to_decimal(self.minor, self.currency)

    def __str__(self) -> str:
        return f"{minor_to_str(self.minor, self.currency)} {self.currency}"

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(0, currency)
