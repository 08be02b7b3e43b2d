"""From an e-invoice's business terms to Settle's intake shape (the JSON API's invoice).

The result goes through the same validator as the API and the CSV import
(`portal.domain.intake.validate_invoice`); `terms` maps the validator's field paths back
to business terms, so an error reads "BT-9: …" rather than "due_date: …".

Choices (documented in docs/intake.md):
- Amount of the claim: BT-115 amount due for payment, not BT-112 (prepaid amounts, BT-113,
  are already settled).
- Due date: BT-9; otherwise the net due date written in the payment terms (BT-20: the latest
  date they name, or "30 Tage netto"); otherwise the issue date plus the merchant's default term.
- Customer number: BT-46 buyer identifier or BT-10 buyer reference, whichever the merchant
  chose; the other one when the chosen one is absent; then BT-48, BT-47, BT-49.
- Business debtor unless the buyer has neither a VAT ID (BT-48) nor a company name (a trading
  name BT-45, a legal registration identifier BT-47, or a legal form in the name BT-44).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from portal.domain.einvoice.model import EInvoice
from portal.domain.intake import normalize_phone
from portal.domain.money import minor_to_str

CUSTOMER_REF_TERMS = ("BT-46", "BT-10")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LEGAL_FORM = re.compile(
    r"(?<![\w])(gmbh|mbh|ag|kg|kgaa|ohg|ug|gbr|e\.\s?v\.|e\.\s?k\.|eg|se|ltd|llc|inc|plc|s\.a\.|sarl|sas|b\.v\.|n\.v\.|"
    r"gesellschaft|amt|behörde|stadt|gemeinde|landkreis|universität|verein|stiftung)(?![\w])",
    re.IGNORECASE,
)
_DATE_DE = re.compile(r"(?<!\d)(\d{1,2})\.(\d{1,2})\.(\d{4})(?!\d)")
_DATE_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_NET_DAYS = re.compile(
    r"(\d{1,3})\s*(?:tage|tagen|days)\s*(?:rein\s*)?netto|netto\s*(?:innerhalb\s*(?:von\s*)?)?(\d{1,3})\s*tag|"
    r"(\d{1,3})\s*days\s*net|net\s*(\d{1,3})(?!\d)",
    re.IGNORECASE,
)


@dataclass
class Mapped:
    payload: dict
    terms: dict[str, str]  # validator field path → business term
    due_source: str  # "BT-9", "BT-20" or "default"
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (term, message)


def due_from_terms(terms: str, issue_date: date) -> date | None:
    """The net due date a payment-terms text (BT-20) states, or None.

    The latest date the text names wins: discount (Skonto) dates always come before the
    net date ("netto bis 15.12.2024, 3 % Skonto bis 25.11.2024"). Without a date, "30 Tage
    netto" counts from the issue date. A text that only grants a discount says nothing.
    XRechnung's structured "#SKONTO#TAGE=…#" lines are discount terms and are skipped.
    """
    text = " ".join(part for part in terms.split("\n") if not part.strip().startswith("#"))
    dates = []
    for m in _DATE_DE.finditer(text):
        try:
            dates.append(date(int(m.group(3)), int(m.group(2)), int(m.group(1))))
        except ValueError:
            continue
    for m in _DATE_ISO.finditer(text):
        try:
            dates.append(date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        except ValueError:
            continue
    dates = [d for d in dates if d >= issue_date]
    if dates:
        return max(dates)
    days = [int(next(g for g in m.groups() if g)) for m in _NET_DAYS.finditer(text)]
    if days:
        return issue_date + timedelta(days=max(days))
    return None


def is_business(invoice: EInvoice) -> bool:
    buyer = invoice.buyer
    return bool(buyer.vat_id or buyer.trading_name or buyer.legal_id or _LEGAL_FORM.search(buyer.name or ""))


def buyer_email(invoice: EInvoice) -> tuple[str | None, str]:
    """BT-49 when it is an e-mail address (scheme EM), else the contact's BT-58."""
    buyer = invoice.buyer
    if buyer.electronic_address and (buyer.electronic_scheme or "").upper() == "EM":
        return buyer.electronic_address, "BT-49"
    return buyer.contact_email, "BT-58"


def customer_ref(invoice: EInvoice, preferred: str) -> tuple[str | None, str]:
    """The customer number and the term it came from: the merchant's choice of BT-46 / BT-10, then
    the other one, then the buyer's VAT ID (BT-48), legal registration identifier (BT-47) or
    e-mail address (BT-49), all of which identify one buyer as well."""
    buyer = invoice.buyer
    email = buyer.electronic_address if (buyer.electronic_scheme or "").upper() == "EM" else None
    values = {"BT-46": buyer.identifier, "BT-10": invoice.buyer_reference, "BT-48": buyer.vat_id,
              "BT-47": buyer.legal_id, "BT-49": email.lower() if email else None}
    order = (preferred, *(t for t in CUSTOMER_REF_TERMS if t != preferred), "BT-48", "BT-47", "BT-49")
    for term in order:
        if values[term]:
            return values[term], term
    return None, preferred


def to_payload(invoice: EInvoice, *, customer_ref_term: str = "BT-46", default_term_days: int = 14) -> Mapped:
    """The invoice in the API's shape, with the term each field came from and any warnings."""
    warnings: list[tuple[str, str]] = []
    terms = {"number": "BT-1", "issue_date": "BT-2", "due_date": "BT-9", "amount": "BT-115", "currency": "BT-5",
             "order_ref": "BT-13"}
    due, due_source = invoice.due_date, "BT-9"
    if due is None:
        due, due_source = due_from_terms(invoice.payment_terms, invoice.issue_date), "BT-20"
        if due is None:
            due, due_source = invoice.issue_date + timedelta(days=default_term_days), "default"
    terms["due_date"] = "BT-9" if due_source == "BT-9" else ("BT-20" if due_source == "BT-20" else "BT-9")

    buyer = invoice.buyer
    ref, ref_term = customer_ref(invoice, customer_ref_term)
    business = is_business(invoice)
    if business:
        company, name = buyer.name, buyer.contact_name or buyer.trading_name or buyer.name
        name_term = "BT-56" if buyer.contact_name else ("BT-45" if buyer.trading_name else "BT-44")
    else:
        company, name, name_term = None, buyer.name, "BT-44"
    email, email_term = buyer_email(invoice)
    if email and not _EMAIL.match(email):
        warnings.append((email_term, f"{email!r} is not an e-mail address; the debtor's e-mail was left as it was"))
        email = None
    phone = buyer.contact_phone
    if phone and normalize_phone(phone, (buyer.country or "").upper() or None) is None:
        warnings.append(("BT-57", f"{phone!r} is not a phone number Settle can send to; it was left out"))
        phone = None
    street = ", ".join(p for p in (buyer.street, buyer.street2) if p) or None
    terms.update({
        "debtor.external_ref": ref_term, "debtor.name": name_term, "debtor.company": "BT-44",
        "debtor.email": email_term, "debtor.phone": "BT-57", "debtor.address.street": "BT-50",
        "debtor.address.postal_code": "BT-53", "debtor.address.city": "BT-52", "debtor.address.country": "BT-55",
        "debtor.kind": "BT-48",
    })
    lines = []
    for i, line in enumerate(invoice.lines):
        terms[f"lines[{i}].description"] = "BT-153"
        terms[f"lines[{i}].quantity"] = "BT-129"
        terms[f"lines[{i}].amount"] = "BT-131"
        lines.append({
            "description": line.name or f"Position {line.line_id or i + 1}",
            "quantity": "1" if line.quantity is None else _plain(line.quantity),
            "amount": None if line.net_minor is None else minor_to_str(line.net_minor, invoice.currency),
        })
    payload = {
        "number": invoice.number,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": due.isoformat(),
        "amount": minor_to_str(invoice.payable_minor, invoice.currency),
        "currency": invoice.currency,
        "order_ref": invoice.order_ref,
        "lines": lines,
        "debtor": {
            "external_ref": ref,
            "kind": "business" if business else "person",
            "name": name,
            "company": company,
            "email": email,
            "phone": phone,
            "address": {
                "street": street, "postal_code": buyer.postal_code, "city": buyer.city,
                "country": (buyer.country or "").upper() or None,
            },
        },
    }
    return Mapped(payload, terms, due_source, warnings)


def _plain(value) -> str:
    text = format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    return text


def term_errors(errors: dict[str, list[str]], terms: dict[str, str]) -> dict[str, list[str]]:
    """The validator's errors keyed by business term (unknown paths keep their name)."""
    out: dict[str, list[str]] = {}
    for path, messages in errors.items():
        key = terms.get(path, path)
        if path == "debtor.external_ref":
            messages = [m if m != "is required" else
                        "is missing: Settle needs a customer number: the buyer identifier (BT-46), buyer reference (BT-10), "
                        "VAT ID (BT-48), legal registration identifier (BT-47) or e-mail address (BT-49)"
                        for m in messages]
        elif path == "amount" and messages:
            messages = [m if m != "must be greater than zero" else
                        "must be greater than zero: nothing is due for payment, so there is nothing to remind"
                        for m in messages]
        elif path == "due_date":
            messages = [m.replace("issue_date", "the issue date (BT-2)") for m in messages]
        out.setdefault(key, []).extend(messages)
    return out
