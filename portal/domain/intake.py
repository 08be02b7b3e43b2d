"""Validation and normalisation of incoming invoices, shared by the JSON API and the CSV import.

`validate_invoice(payload)` takes the API's JSON shape (already-decoded Python values)
and returns either an `InvoiceData` or a mapping of field path → error messages, so
both entry points report every problem at once in the same words.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache

from portal.domain.email_address import address_problem
from portal.domain.text import text_problem
from portal.domain.money import MAX_AMOUNT_TEXT, MAX_MINOR, AmountTooLarge, MoneyError, exponent, is_currency, parse_decimal, to_minor

_json_str = json.encoder.encode_basestring_ascii  # what json.dumps writes for a str (C implementation)

KINDS = ("person", "business")
LANGUAGES = ("de", "en")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_API_AMOUNT = re.compile(r"^\d+(\.\d+)?\Z", re.ASCII)  # ASCII digits only: "١٢٣" is no amount
_AMBIGUOUS_AMOUNT = re.compile(r"^[-+]?\d{1,3}[.,]\d{3}\Z", re.ASCII)


@dataclass(frozen=True, slots=True)
class DebtorData:
    external_ref: str
    kind: str
    name: str
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str | None = None
    date_of_birth: date | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class LineData:
    description: str
    quantity: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class InvoiceData:
    number: str
    issue_date: date
    due_date: date
    amount_minor: int
    currency: str
    debtor: DebtorData
    order_ref: str | None = None
    lines: tuple[LineData, ...] = field(default_factory=tuple)

    def fingerprint(self) -> str:
        """Identity of the invoice content: a repeat with the same fingerprint is the same submission.

        Debtor contact details are left out on purpose: a resubmission with a corrected
        address updates the debtor and is not a conflict about the invoice.
        """
        return hashlib.sha256(self.fingerprint_text().encode()).hexdigest()

    def fingerprint_text(self) -> str:
        """The hashed text: canonical JSON (sorted keys, no spaces, ASCII), written out by hand
        because bulk imports hash every row; a test holds it equal to `json.dumps`."""
        lines = (
            json.dumps([asdict(line) for line in self.lines], sort_keys=True, separators=(",", ":"))
            if self.lines
            else "[]"
        )
        order_ref = "null" if self.order_ref is None else _json_str(self.order_ref)
        return (
            f'{{"amount_minor":{self.amount_minor:d},"currency":{_json_str(self.currency)},'
            f'"debtor":{_json_str(self.debtor.external_ref)},"due_date":"{self.due_date.isoformat()}",'
            f'"issue_date":"{self.issue_date.isoformat()}","lines":{lines},'
            f'"number":{_json_str(self.number)},"order_ref":{order_ref}}}'
        )

    def lines_json(self) -> list[dict] | None:
        return [asdict(line) for line in self.lines] or None


class Errors(dict):
    """field path → list of messages."""

    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


def _text(value, path: str, errors: Errors, *, required: bool, max_len: int) -> str | None:
    if type(value) is str:
        text = value.strip()
        # Line breaks, tabs, odd blanks and runs of spaces never belong in these fields (the check is a fast path).
        if "  " in text or not text.isprintable():
            problem = text_problem(text)
            if problem:  # NUL bytes (a CSV cell) or lone surrogates: no database stores them
                errors.add(path, problem)
                return None
            text = " ".join(text.split())
        if not text:
            if required:
                errors.add(path, "is required")
            return None
    elif value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(path, "is required")
        return None
    elif not isinstance(value, (str, int)) or isinstance(value, bool):
        errors.add(path, "must be a string")
        return None
    else:
        text = " ".join(str(value).split())
    if len(text) > max_len:
        errors.add(path, f"must be at most {max_len} characters")
        return None
    return text


class DateFormatError(ValueError):
    """Text that is not written as a date at all (as opposed to an impossible date such as 31.02.)."""


_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def parse_date(value) -> date:
    """ISO dates (2025-12-15) and German ones (15.12.2025); DateFormatError or ValueError otherwise."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise DateFormatError("must be a date (YYYY-MM-DD)")
    return _parse_date_text(value.strip())


@lru_cache(maxsize=4096)  # a file of 100,000 invoices holds a few hundred distinct dates
def _parse_date_text(text: str) -> date:
    m = _GERMAN_DATE.fullmatch(text)
    if m:
        return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    if _ISO_DATE.fullmatch(text):
        return date.fromisoformat(text)
    raise DateFormatError("must be a date (YYYY-MM-DD)")


def _date(value, path: str, errors: Errors, *, required: bool) -> date | None:
    if value is None or value == "":
        if required:
            errors.add(path, "is required")
        return None
    try:
        return parse_date(value)
    except DateFormatError as exc:
        errors.add(path, str(exc))
    except ValueError:  # well-formed but impossible, e.g. 31.02.2025 or 2025-13-03
        errors.add(path, "is not a valid date")
    return None


def _amount(value, currency: str | None, path: str, errors: Errors, *, lenient: bool) -> int | None:
    if value is None or value == "":
        errors.add(path, "is required")
        return None
    if not isinstance(value, str):
        errors.add(path, 'must be a decimal string such as "49.90"')
        return None
    if len(value) > MAX_AMOUNT_TEXT:  # thousands of digits never reach int() (Python refuses > 4300)
        errors.add(path, "is too large")
        return None
    if not lenient and not _API_AMOUNT.match(value.strip()):
        errors.add(path, 'must be a decimal string such as "49.90"')
        return None
    if lenient and _AMBIGUOUS_AMOUNT.match(value.strip()):
        # "1,234" is 1234 to an English reader and 1.234 to a German one: never guess with money.
        errors.add(path, "is ambiguous: write 1234, 1.234,00 or 1,234.00")
        return None
    if currency is not None:
        minor = _simple_minor(value.strip(), currency)
        if minor is not None:
            if minor > MAX_MINOR:
                errors.add(path, "is too large")
                return None
            return minor
    try:
        dec = parse_decimal(value)
    except MoneyError:
        errors.add(path, "is not an amount")
        return None
    if currency is None:
        return None
    try:
        minor = to_minor(dec, currency)
    except AmountTooLarge:
        errors.add(path, "is too large")
        return None
    except MoneyError:
        errors.add(path, f"has more than {exponent(currency)} decimal places for {currency}")
        return None
    if minor > MAX_MINOR:
        errors.add(path, "is too large")
        return None
    return minor


# The forms almost every amount takes ("119.00", "119,00", "1.234,56", "1.234.567"), read without Decimal.
# Anything else, and anything more precise than the currency, takes the general path.
_PLAIN_AMOUNT = re.compile(r"(\d+)(?:[.,](\d+))?", re.ASCII)
_GERMAN_GROUPED_AMOUNT = re.compile(r"(\d{1,3}(?:\.\d{3})+)(?:,(\d+))?", re.ASCII)


def _simple_minor(text: str, currency: str) -> int | None:
    """Minor units of a plainly written amount, or None to leave it to parse_decimal/to_minor.

    Callers have already refused the ambiguous "1,234" and "1.234" forms (lenient input) or
    every comma (API input), so a single separator here is always the decimal separator.
    """
    m = _PLAIN_AMOUNT.fullmatch(text)
    if m is None:
        m = _GERMAN_GROUPED_AMOUNT.fullmatch(text)
        if m is None:
            return None
    units, fraction = m.group(1).replace(".", ""), m.group(2) or ""
    exp = exponent(currency)
    if len(fraction) > exp:
        return None
    return int(units) * 10**exp + (int(fraction) * 10 ** (exp - len(fraction)) if fraction else 0)


def normalize_phone(raw: str, country: str | None) -> str | None:
    """E.164 ("+491701234567") from what people type; None when it cannot be a phone number."""
    digits = _PHONE_PUNCTUATION.sub("", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0") and (country or "DE") in _TRUNK_PREFIX:
        digits = _TRUNK_PREFIX[country or "DE"] + digits[1:]
    if not _E164.fullmatch(digits):
        return None
    return digits


_PHONE_PUNCTUATION = re.compile(r"[\s\-/().]")
_E164 = re.compile(r"\+[1-9]\d{6,14}", re.ASCII)
_TRUNK_PREFIX = {"DE": "+49", "AT": "+43", "CH": "+41", "NL": "+31", "BE": "+32", "FR": "+33", "GB": "+44"}


def _debtor(payload, errors: Errors, *, today: date | None) -> DebtorData | None:
    if not isinstance(payload, dict):
        errors.add("debtor", "is required" if payload is None else "must be an object")
        return None
    p = "debtor."
    ref = _text(payload.get("external_ref"), p + "external_ref", errors, required=True, max_len=64)
    kind = payload.get("kind") or "person"
    if isinstance(kind, str):
        kind = kind.strip().lower() or "person"
    if kind not in KINDS:
        errors.add(p + "kind", "must be person or business")
    name = _text(payload.get("name"), p + "name", errors, required=True, max_len=200)
    company = _text(payload.get("company"), p + "company", errors, required=False, max_len=200)
    if kind == "business" and not company:
        errors.add(p + "company", "is required for business debtors")
    email = _text(payload.get("email"), p + "email", errors, required=False, max_len=254)
    if email and (not _EMAIL.match(email) or address_problem(email)):
        errors.add(p + "email", "is not a valid email address")
    address = payload.get("address") or {}
    if not isinstance(address, dict):
        errors.add(p + "address", "must be an object")
        address = {}
    country = _text(address.get("country"), p + "address.country", errors, required=False, max_len=2)
    if country:
        country = country.upper()
        if not _COUNTRY.match(country):
            errors.add(p + "address.country", "must be a two-letter ISO 3166 country code")
    phone = _text(payload.get("phone"), p + "phone", errors, required=False, max_len=40)
    if phone:
        normalized = normalize_phone(phone, country)
        if normalized is None:
            errors.add(p + "phone", "is not a valid phone number (use +49…)")
        phone = normalized
    language = _text(payload.get("language"), p + "language", errors, required=False, max_len=5)
    if language:
        language = language.lower().split("-")[0].split("_")[0]
        if language not in LANGUAGES:
            errors.add(p + "language", f"must be one of {', '.join(LANGUAGES)}")
    dob = _date(payload.get("date_of_birth"), p + "date_of_birth", errors, required=False)
    if dob and today and dob >= today:
        errors.add(p + "date_of_birth", "must be in the past")
    if ref is None or name is None or kind not in KINDS:
        return None
    return DebtorData(
        external_ref=ref,
        kind=kind,
        name=name,
        company=company,
        email=email.lower() if email else None,
        phone=phone,
        language=language,
        date_of_birth=dob,
        street=_text(address.get("street"), p + "address.street", errors, required=False, max_len=200),
        postal_code=_text(address.get("postal_code"), p + "address.postal_code", errors, required=False, max_len=20),
        city=_text(address.get("city"), p + "address.city", errors, required=False, max_len=100),
        country=country,
    )


def validate_debtor(payload, *, today: date | None = None) -> tuple[DebtorData | None, Errors]:
    """Check the `debtor` part of a submission on its own (error paths start with "debtor.")."""
    errors = Errors()
    return _debtor(payload, errors, today=today), errors


def validate_invoice(
    payload,
    *,
    today: date | None = None,
    lenient: bool = False,
    debtor: tuple[DebtorData | None, Errors] | None = None,
    signed_lines: bool = False,
) -> tuple[InvoiceData | None, Errors]:
    """Check an invoice submission; `lenient` accepts spreadsheet amounts ("1.234,56").

    `signed_lines` lets line quantities and amounts be negative or zero, as e-invoice lines
    may be (returned exchange parts, allowances); the invoice amount must still be positive.

    `debtor` is the result of `validate_debtor` for this submission's debtor part, when
    the caller has it already (a bulk import checks each distinct debtor once); the
    payload's "debtor" is then not looked at.
    """
    errors = Errors()
    if not isinstance(payload, dict):
        errors.add("", "the body must be a JSON object")
        return None, errors
    number = _text(payload.get("number"), "number", errors, required=True, max_len=64)
    currency = payload.get("currency") or "EUR"
    if not isinstance(currency, str) or not is_currency(currency.strip().upper()):
        errors.add("currency", "must be an ISO 4217 currency code such as EUR")
        currency = None
    else:
        currency = currency.strip().upper()
    issue_date = _date(payload.get("issue_date"), "issue_date", errors, required=True)
    due_date = _date(payload.get("due_date"), "due_date", errors, required=True)
    if issue_date and due_date and due_date < issue_date:
        errors.add("due_date", "must not be before issue_date")
    amount = _amount(payload.get("amount"), currency, "amount", errors, lenient=lenient)
    if amount is not None and amount <= 0:
        errors.add("amount", "must be greater than zero")
    order_ref = _text(payload.get("order_ref"), "order_ref", errors, required=False, max_len=64)
    lines: list[LineData] = []
    raw_lines = payload.get("lines") or []
    if not isinstance(raw_lines, list):
        errors.add("lines", "must be a list")
        raw_lines = []
    for i, line in enumerate(raw_lines):
        path = f"lines[{i}]"
        if not isinstance(line, dict):
            errors.add(path, "must be an object")
            continue
        description = _text(line.get("description"), path + ".description", errors, required=True, max_len=500)
        quantity = line.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float, str)):
            errors.add(path + ".quantity", "must be a number")
            quantity = None
        else:
            try:
                qty = parse_decimal(str(quantity))
                if qty <= 0 and not signed_lines:
                    raise MoneyError("not positive")
                quantity = str(qty.normalize()) if qty == qty.to_integral_value() else str(qty)
            except MoneyError:
                errors.add(path + ".quantity", "must be a positive number")
                quantity = None
        raw_amount = line.get("amount")
        negative = signed_lines and isinstance(raw_amount, str) and raw_amount.startswith("-")
        line_amount = _amount(raw_amount[1:] if negative else raw_amount, currency, path + ".amount", errors, lenient=lenient)
        if negative and line_amount is not None:
            line_amount = -line_amount
        if description and quantity is not None and line_amount is not None:
            lines.append(LineData(description, quantity, line_amount))
    if debtor is None:
        debtor_data = _debtor(payload.get("debtor"), errors, today=today)
    else:
        debtor_data, debtor_errors = debtor
        for path, messages in debtor_errors.items():
            errors.setdefault(path, []).extend(messages)
    if errors:
        return None, errors
    assert number and issue_date and due_date and amount is not None and currency and debtor_data
    return (
        InvoiceData(
            number=number,
            issue_date=issue_date,
            due_date=due_date,
            amount_minor=amount,
            currency=currency,
            debtor=debtor_data,
            order_ref=order_ref,
            lines=tuple(lines),
        ),
        errors,
    )


@dataclass(frozen=True, slots=True)
class PaymentData:
    amount_minor: int
    reference: str
    received_on: date


def validate_payment(payload, currency: str, *, today: date) -> tuple[PaymentData | None, Errors]:
    errors = Errors()
    if not isinstance(payload, dict):
        errors.add("", "the body must be a JSON object")
        return None, errors
    amount = _amount(payload.get("amount"), currency, "amount", errors, lenient=False)
    if amount is not None and amount <= 0:
        errors.add("amount", "must be greater than zero")
    reference = _text(payload.get("reference"), "reference", errors, required=True, max_len=120)
    received_on = _date(payload.get("received_on"), "received_on", errors, required=False) or today
    if received_on > today:
        errors.add("received_on", "must not be in the future")
    if errors:
        return None, errors
    assert amount is not None and reference
    return PaymentData(amount, reference, received_on), errors
