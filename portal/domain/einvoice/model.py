"""What Settle reads from an e-invoice, named after the EN 16931 business terms (BT-n / BG-n).

Both syntaxes (UBL 2.1 and UN/CEFACT CII, including ZUGFeRD 1.0's older CII) fill the same
`EInvoice`, so everything after the parser (mapping to an invoice, the HTML view) is
written once.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml.etree import _Element as Element

from portal.domain.money import MoneyError, exponent, is_currency, minor_to_str

# UNTDID 1001 codes that EN 16931 treats as credit notes (everything else is an invoice).
CREDIT_NOTE_TYPES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"})

_XML_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)", re.ASCII)
_XML_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?", re.ASCII)


@dataclass(frozen=True)
class Party:
    """Seller (BG-4) or buyer (BG-7)."""

    name: str | None = None  # BT-27 / BT-44
    trading_name: str | None = None  # BT-28 / BT-45
    identifier: str | None = None  # BT-29 / BT-46
    legal_id: str | None = None  # BT-30 / BT-47
    vat_id: str | None = None  # BT-31 / BT-48
    electronic_address: str | None = None  # BT-34 / BT-49
    electronic_scheme: str | None = None  # its scheme (EM = e-mail)
    street: str | None = None  # BT-35 / BT-50
    street2: str | None = None  # BT-36 / BT-51
    city: str | None = None  # BT-37 / BT-52
    postal_code: str | None = None  # BT-38 / BT-53
    country: str | None = None  # BT-40 / BT-55
    contact_name: str | None = None  # BT-41 / BT-56
    contact_phone: str | None = None  # BT-42 / BT-57
    contact_email: str | None = None  # BT-43 / BT-58


@dataclass(frozen=True)
class Line:
    """An invoice line (BG-25)."""

    line_id: str | None  # BT-126
    name: str | None  # BT-153
    quantity: Decimal | None  # BT-129
    unit: str | None  # BT-130
    net_minor: int | None  # BT-131 (net, before VAT)
    # Read for the debtor's view of the invoice only (never a reason to refuse a file):
    unit_price: Decimal | None = None  # BT-146 item net price (may have more decimals than the currency)
    price_base: Decimal | None = None  # BT-149 the quantity the price is for (1 when absent)
    vat_category: str | None = None  # BT-151
    vat_percent: Decimal | None = None  # BT-152
    description: str | None = None  # BT-154


@dataclass(frozen=True)
class TaxBreakdown:
    """One VAT breakdown (BG-23)."""

    category: str | None  # BT-118
    percent: Decimal | None  # BT-119
    basis_minor: int | None  # BT-116
    tax_minor: int | None  # BT-117
    exemption_reason: str | None = None  # BT-120


@dataclass(frozen=True)
class AllowanceCharge:
    """A document-level allowance (BG-20) or charge (BG-21)."""

    charge: bool
    amount_minor: int | None  # BT-92 / BT-99
    reason: str | None  # BT-97 / BT-104
    vat_category: str | None  # BT-95 / BT-102
    vat_percent: Decimal | None  # BT-96 / BT-103


@dataclass(frozen=True)
class PaymentAccount:
    """A credit transfer account of the seller (BG-17)."""

    iban: str  # BT-84
    name: str | None = None  # BT-85
    bic: str | None = None  # BT-86


@dataclass(frozen=True)
class EInvoice:
    syntax: str  # "UBL 2.1", "UN/CEFACT CII D16B", "ZUGFeRD 1.0"
    profile: str | None  # BT-24 specification identifier
    type_code: str | None  # BT-3
    is_credit_note: bool
    number: str  # BT-1
    issue_date: date  # BT-2
    due_date: date | None  # BT-9 (the first one given)
    currency: str  # BT-5
    payable_minor: int  # BT-115 amount due for payment
    total_minor: int | None = None  # BT-112 invoice total with VAT
    prepaid_minor: int | None = None  # BT-113 paid amount
    net_minor: int | None = None  # BT-109 total without VAT
    tax_minor: int | None = None  # BT-110 total VAT
    terms: tuple[str, ...] = ()  # BT-20 payment terms
    buyer_reference: str | None = None  # BT-10
    order_ref: str | None = None  # BT-13
    payment_reference: str | None = None  # BT-83
    preceding: tuple[tuple[str, date | None], ...] = ()  # BG-3: BT-25 number, BT-26 date
    seller: Party = field(default_factory=Party)
    buyer: Party = field(default_factory=Party)
    seller_ibans: tuple[str, ...] = ()  # BT-84
    lines: tuple[Line, ...] = ()
    taxes: tuple[TaxBreakdown, ...] = ()
    notes: tuple[str, ...] = ()  # BT-22
    # Read for the debtor's view of the invoice only:
    delivery_date: date | None = None  # BT-72
    period: tuple[date | None, date | None] | None = None  # BT-73, BT-74
    line_total_minor: int | None = None  # BT-106
    allowances: tuple["AllowanceCharge", ...] = ()  # BG-20, BG-21
    accounts: tuple["PaymentAccount", ...] = ()  # BG-17
    payment_means: str | None = None  # BT-81

    def money(self, minor: int | None) -> str:
        return "" if minor is None else minor_to_str(minor, self.currency)

    @property
    def payment_terms(self) -> str:
        return " ".join(self.terms)


def text(elem: Element | None) -> str | None:
    """Element text with inner runs of whitespace and line breaks collapsed; None when blank."""
    if elem is None:
        return None
    value = " ".join("".join(elem.itertext()).split())
    return value or None


class Reader:
    """Collects problems while the fields are read, so one answer names every bad term."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}
        self.currency: str | None = None

    def lenient(self) -> "Reader":
        """A reader for fields only the debtor's view shows: a bad value there reads as absent
        instead of refusing a file whose claim is in order."""
        other = Reader()
        other.currency = self.currency
        return other

    def add(self, term: str, message: str) -> None:
        self.errors.setdefault(term, []).append(message)

    def required(self, term: str, value, what: str):
        if value is None:
            self.add(term, f"is missing ({what})")
        return value

    def set_currency(self, raw: str | None) -> str | None:
        code = (raw or "").strip().upper()
        if not code:
            self.add("BT-5", "is missing (the invoice currency code)")
            return None
        if not is_currency(code):
            self.add("BT-5", f"{code!r} is not an ISO 4217 currency code")
            return None
        self.currency = code
        return code

    def amount(self, term: str, elem: Element | None, *, signed: bool = False) -> int | None:
        """Minor units of an XML decimal amount; malformed or too precise amounts are errors."""
        raw = text(elem)
        if raw is None:
            return None
        if not _XML_DECIMAL.fullmatch(raw):
            self.add(term, f"{raw!r} is not an amount (XML amounts are written like 1234.56)")
            return None
        value = Decimal(raw)
        if value < 0 and not signed:
            self.add(term, f"{raw} is negative")
            return None
        if self.currency is None:
            return None
        try:
            places = exponent(self.currency)
        except MoneyError:
            return None
        scaled = value.scaleb(places)
        if scaled != scaled.to_integral_value():
            self.add(term, f"{raw} has more than {places} decimal places for {self.currency}")
            return None
        return int(scaled)

    def decimal(self, term: str, elem: Element | None) -> Decimal | None:
        raw = text(elem)
        if raw is None:
            return None
        if not _XML_DECIMAL.fullmatch(raw):
            self.add(term, f"{raw!r} is not a number")
            return None
        try:
            return Decimal(raw)
        except InvalidOperation:  # pragma: no cover — the pattern rules it out
            self.add(term, f"{raw!r} is not a number")
            return None

    def iso_date(self, term: str, elem: Element | None) -> date | None:
        """xs:date (2020-11-27, optionally with a time zone, which a calendar date ignores)."""
        raw = text(elem)
        if raw is None:
            return None
        m = _XML_DATE.fullmatch(raw)
        if m is None:
            return self._bad_date(term, raw)
        try:
            return date.fromisoformat(m.group(1))
        except ValueError:
            return self._bad_date(term, raw)

    def cii_date(self, term: str, elem: Element | None) -> date | None:
        """udt:DateTimeString: format 102 (YYYYMMDD) is what EN 16931 allows for these dates."""
        raw = text(elem)
        if raw is None:
            return None
        fmt = elem.get("format") if elem is not None else None
        if fmt not in (None, "102") or not re.fullmatch(r"\d{8}", raw):
            return self._bad_date(term, raw, "format 102 (YYYYMMDD)")
        try:
            return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        except ValueError:
            return self._bad_date(term, raw)

    def _bad_date(self, term: str, raw: str, expected: str = "YYYY-MM-DD") -> None:
        self.add(term, f"{raw!r} is not a date ({expected})")
        return None
