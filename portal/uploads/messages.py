"""What a merchant reads about a rejected upload, in their language.

The validators (CSV intake, camt, e-invoices) report problems as short English texts, the
same ones the command line and the API give. Here each known text is matched and rewritten
as a translated sentence that names the column (or the business term) the way the merchant
knows it; a text nobody taught this module shows as it is, and the tests feed every message
the validators can produce through it to find those.
"""
from __future__ import annotations

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext

# The CSV columns (the header names stay as they are in the file, so the merchant finds them).
def column_label(column: str) -> str:
    labels = {
        "number": pgettext("csv column", "invoice number"),
        "issue_date": pgettext("csv column", "invoice date"),
        "due_date": pgettext("csv column", "due date"),
        "amount": pgettext("csv column", "amount"),
        "currency": pgettext("csv column", "currency"),
        "debtor_ref": pgettext("csv column", "customer number"),
        "external_ref": pgettext("csv column", "customer number"),
        "kind": pgettext("csv column", "kind of customer"),
        "name": pgettext("csv column", "name"),
        "company": pgettext("csv column", "company"),
        "email": pgettext("csv column", "email address"),
        "phone": pgettext("csv column", "phone number"),
        "language": pgettext("csv column", "language"),
        "date_of_birth": pgettext("csv column", "date of birth"),
        "street": pgettext("csv column", "street"),
        "postal_code": pgettext("csv column", "postal code"),
        "city": pgettext("csv column", "city"),
        "country": pgettext("csv column", "country"),
        "order_ref": pgettext("csv column", "order number"),
        "debtor": pgettext("csv column", "customer"),
        "address": pgettext("csv column", "address"),
    }
    return labels.get(column, column)


# Field problems: the text after "<column>: ".
FIELD_MESSAGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"is required"), _l("is missing")),
    (re.compile(r"must be a string"), _l("must be text")),
    (re.compile(r"must be at most (?P<n>\d+) characters"), _l("may be at most %(n)s characters long")),
    (re.compile(r"must be a date \(YYYY-MM-DD\)"), _l("is not a date; write it as 15.12.2025 or 2025-12-15")),
    (re.compile(r"is not a valid date"), _l("is not a date that exists in the calendar")),
    (re.compile(r'must be a decimal string such as "49\.90"'), _l("must be an amount such as 49.90")),
    (re.compile(r"is ambiguous: write 1234, 1\.234,00 or 1,234\.00"),
     _l("could be read in two ways: please write 1234, 1.234,00 or 1,234.00")),
    (re.compile(r"is too large"), _l("is too large")),
    (re.compile(r"is not an amount"), _l("is not an amount (write e.g. 119,00 or 1.234,56)")),
    (re.compile(r"has more than (?P<n>\d+) decimal places for (?P<cur>[A-Z]{3})"),
     _l("has more than %(n)s decimal places for %(cur)s")),
    (re.compile(r"must be person or business"), _l("must be “person” or “business”")),
    (re.compile(r"is required for business debtors"), _l("is required for business customers")),
    (re.compile(r"is not a valid email address"), _l("is not a valid email address")),
    (re.compile(r"must be an object"), _l("is not in the expected form")),
    (re.compile(r"must be a two-letter ISO 3166 country code"), _l("must be a two-letter country code such as DE")),
    (re.compile(r"is not a valid phone number \(use \+49…\)"), _l("is not a valid phone number (write it as +49…)")),
    (re.compile(r"must be one of (?P<values>.+)"), _l("must be one of %(values)s")),
    (re.compile(r"must be in the past"), _l("must lie in the past")),
    (re.compile(r"must be an ISO 4217 currency code such as EUR"), _l("must be a currency code such as EUR")),
    (re.compile(r"must not be before issue_date"), _l("must not be before the invoice date")),
    (re.compile(r"must be greater than zero"), _l("must be greater than zero")),
    (re.compile(r"(?P<number>.+) appears on line (?P<line>\d+) with different content"),
     _l("%(number)s appears on line %(line)s as well, with different content")),
    (re.compile(r"invoice (?P<number>.+) already exists with different content"),
     _l("invoice %(number)s already exists in Settle with different content")),
]

# Problems of a line or the whole file.
LINE_MESSAGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"(?P<n>\d+) fields but the header has (?P<m>\d+)"),
     _l("this line has %(n)s fields, the header only %(m)s")),
    (re.compile(r"unreadable CSV: (?P<detail>.+)"), _l("this line cannot be read as CSV (%(detail)s)")),
    (re.compile(r"unreadable header: (?P<detail>.+)"), _l("the header line cannot be read as CSV (%(detail)s)")),
    (re.compile(r"byte (?P<byte>0x[0-9a-f]{2}) is neither UTF-8 nor Windows-1252 text"),
     _l("the file is neither UTF-8 nor Windows-1252 text (byte %(byte)s); please save it as CSV UTF-8")),
    (re.compile(r"the file is empty"), _l("the file is empty")),
    (re.compile(r"missing column\(s\): (?P<columns>.+)"),
     _l("the header lacks the column(s) %(columns)s (see the list of columns below)")),
    (re.compile(r"missing_file"), _l("The uploaded file is no longer there; please upload it again.")),
    (re.compile(r"gave_up"), _l("The import was interrupted several times and has been given up; please upload the file again.")),
    (re.compile(r"internal"), _l("The import stopped because of an error on our side; nothing was booked. Please try again later "
                                 "or contact support.")),
]

_FIELD = re.compile(r"(?P<column>[a-z_.]+(?:\[\d+\]\.[a-z_]+)?): (?P<rest>.+)", re.S)


def _match(table, text: str) -> str | None:
    for pattern, template in table:
        m = pattern.fullmatch(text)
        if m is not None:
            return str(template) % m.groupdict() if m.groupdict() else str(template)
    return None


def explain(message: str, kind: str = "invoices") -> str:
    """One validator message as the merchant should read it."""
    if kind == "einvoice":
        from portal.uploads.einvoice_messages import explain as explain_einvoice

        return explain_einvoice(message)
    if kind == "bank_statement":
        from portal.uploads.camt_messages import explain as explain_camt

        return explain_camt(message)
    text = _match(LINE_MESSAGES, message)
    if text is not None:
        return text
    m = _FIELD.fullmatch(message)
    if m is not None:
        column = m.group("column").rsplit(".", 1)[-1]
        rest = _match(FIELD_MESSAGES, m.group("rest"))
        if rest is not None:
            return _("Column %(column)s (%(label)s): %(problem)s", column=column, label=column_label(column), problem=rest)
    return message


def refusal(reason: str, kind: str, **params) -> str:
    """Why an upload was not even queued."""
    wanted = {
        "invoices": _l("a CSV file with one invoice per line"),
        "bank_statement": _l("a camt.053 or camt.054 bank statement (XML, or a ZIP of several)"),
        "einvoice": _l("an e-invoice: XRechnung or another EN 16931 XML, a ZUGFeRD / Factur-X PDF, or a ZIP of them"),
    }[kind]
    if reason == "missing":
        return _("Please choose a file: %(wanted)s.", wanted=wanted)
    if reason == "empty":
        return _("The file is empty. Please choose %(wanted)s.", wanted=wanted)
    if reason == "too_large":
        return _("The file is larger than %(mb)s MB. Please split it into smaller files.", mb=params.get("megabytes"))
    return _("This file is not %(wanted)s (its content was checked, not its name). Nothing was imported.", wanted=wanted)
