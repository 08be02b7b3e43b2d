"""Problems with an e-invoice as a merchant reads them: the business term by number and name.

The parsers (`portal.domain.einvoice`) report "BT-9: is missing (…)" in English, which the
API and the command line pass on as they are. Here each known text becomes a sentence in
the reader's language that starts with the term, e.g. "BT-9 Fälligkeitsdatum fehlt".
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_babel import pgettext


def term_name(term: str) -> str:
    """The EN 16931 name of a business term (or group) as the merchant's accounting knows it."""
    names = {
        "BT-1": pgettext("business term", "Invoice number"),
        "BT-2": pgettext("business term", "Invoice issue date"),
        "BT-5": pgettext("business term", "Invoice currency"),
        "BT-9": pgettext("business term", "Payment due date"),
        "BT-10": pgettext("business term", "Buyer reference"),
        "BT-13": pgettext("business term", "Purchase order reference"),
        "BT-20": pgettext("business term", "Payment terms"),
        "BT-25": pgettext("business term", "Preceding invoice reference"),
        "BT-44": pgettext("business term", "Buyer name"),
        "BT-45": pgettext("business term", "Buyer trading name"),
        "BT-46": pgettext("business term", "Buyer identifier"),
        "BT-47": pgettext("business term", "Buyer legal registration identifier"),
        "BT-48": pgettext("business term", "Buyer VAT identifier"),
        "BT-49": pgettext("business term", "Buyer electronic address"),
        "BT-50": pgettext("business term", "Buyer address line"),
        "BT-52": pgettext("business term", "Buyer city"),
        "BT-53": pgettext("business term", "Buyer post code"),
        "BT-55": pgettext("business term", "Buyer country code"),
        "BT-57": pgettext("business term", "Buyer contact telephone number"),
        "BT-58": pgettext("business term", "Buyer contact email address"),
        "BT-84": pgettext("business term", "Payment account identifier (IBAN)"),
        "BT-106": pgettext("business term", "Sum of invoice line net amounts"),
        "BT-109": pgettext("business term", "Invoice total amount without VAT"),
        "BT-110": pgettext("business term", "Invoice total VAT amount"),
        "BT-112": pgettext("business term", "Invoice total amount with VAT"),
        "BT-113": pgettext("business term", "Paid amount"),
        "BT-115": pgettext("business term", "Amount due for payment"),
        "BT-129": pgettext("business term", "Invoiced quantity"),
        "BT-131": pgettext("business term", "Invoice line net amount"),
        "BT-153": pgettext("business term", "Item name"),
        "BG-3": pgettext("business term", "Preceding invoice reference"),
        "BG-7": pgettext("business term", "Buyer"),
        "BG-25": pgettext("business term", "Invoice line"),
    }
    return names.get(term, "")


# (pattern of the English text after "TERM: ", translated sentence that follows the term)
TERM_MESSAGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"is missing \((?:[^,()]+), (?P<path>[^()]+)\)"), _l("is missing (%(path)s)")),
    (re.compile(r"is missing \([^()]+\)"), _l("is missing")),
    (re.compile(r"is missing: Settle needs a customer number: .+"),
     _l("is missing: Settle needs a customer number: the buyer identifier (BT-46), buyer reference (BT-10), "
        "VAT ID (BT-48), legal registration identifier (BT-47) or email address (BT-49)")),
    (re.compile(r"is missing: a credit note must name the invoice it credits .+"),
     _l("is missing: a credit note must name the invoice it credits (BT-25)")),
    (re.compile(r"is required"), _l("is missing")),
    (re.compile(r"'(?P<raw>[^']*)' is not an ISO 4217 currency code"), _l("“%(raw)s” is not a currency code (ISO 4217)")),
    (re.compile(r"'(?P<raw>[^']*)' is not an amount \(XML amounts are written like 1234\.56\)"),
     _l("“%(raw)s” is not an amount (in XML, amounts are written like 1234.56)")),
    (re.compile(r"(?P<raw>\S+) is negative"), _l("%(raw)s is negative")),
    (re.compile(r"(?P<raw>\S+) has more than (?P<n>\d+) decimal places for (?P<cur>[A-Z]{3})"),
     _l("%(raw)s has more than %(n)s decimal places for %(cur)s")),
    (re.compile(r"'(?P<raw>[^']*)' is not a number"), _l("“%(raw)s” is not a number")),
    (re.compile(r"'(?P<raw>[^']*)' is not a date \((?P<expected>[^()]+)\)"), _l("“%(raw)s” is not a date (%(expected)s)")),
    (re.compile(r"must be at most (?P<n>\d+) characters"), _l("may be at most %(n)s characters long")),
    (re.compile(r"must be greater than zero.*"), _l("must be greater than zero: nothing is due for payment, so there is nothing to remind")),
    (re.compile(r"is (?P<amount>\S+ [A-Z]{3}): the (?P<what>.+) leaves nothing due for payment.*"),
     _l("is %(amount)s: nothing is left due for payment, so there is nothing to remind")),
    (re.compile(r"names several invoices \((?P<numbers>[^()]+)\); .+"),
     _l("names several invoices (%(numbers)s); Settle credits one invoice per credit note")),
    (re.compile(r"the credited invoice (?P<number>.+) is not in Settle"), _l("the credited invoice %(number)s is not in Settle")),
    (re.compile(r"the credit note is in (?P<a>[A-Z]{3}), the invoice (?P<number>.+) in (?P<b>[A-Z]{3})"),
     _l("the credit note is in %(a)s, the invoice %(number)s in %(b)s")),
    (re.compile(r"must not be before the issue date \(BT-2\)"), _l("must not be before the invoice issue date (BT-2)")),
    (re.compile(r"must be a two-letter ISO 3166 country code"), _l("must be a two-letter country code such as DE")),
    (re.compile(r"is not a valid email address"), _l("is not a valid email address")),
    (re.compile(r"is not a valid phone number.*"), _l("is not a valid phone number")),
    (re.compile(r"is required for business debtors"), _l("is required for business customers")),
]

# Problems of a file as a whole (no business term).
FILE_MESSAGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"the file is empty"), _l("The file is empty.")),
    (re.compile(r"refused: the XML declares a DTD or entities.*"),
     _l("Refused: the XML declares a DTD or entities, which an e-invoice must not contain.")),
    (re.compile(r"not well-formed XML: (?P<detail>.+)"), _l("This is not well-formed XML (%(detail)s).")),
    (re.compile(r"the file contains no XML element"), _l("The file contains no XML element.")),
    (re.compile(r"the (?:XML|PDF) is (?P<size>[\d.]+) MB; e-invoices are accepted up to (?P<max>\d+) MB"),
     _l("The file has %(size)s MB; e-invoices are accepted up to %(max)s MB.")),
    (re.compile(r"wrong namespace: the root element (?P<root>\S+) is in .+"),
     _l("Wrong namespace: the root element %(root)s is not in the namespace of a UBL or CII e-invoice.")),
    (re.compile(r"not an e-invoice: the root element is '(?P<root>[^']+)'.*"),
     _l("This is not an e-invoice: the root element is “%(root)s” (expected a UBL Invoice or CreditNote, or a CII "
        "CrossIndustryInvoice).")),
    (re.compile(r"not a (?P<syntax>.+) invoice: (?P<missing>.+) missing \(wrong namespace or structure\?\)"),
     _l("This is not a valid %(syntax)s invoice: %(missing)s missing (wrong namespace or structure?).")),
    (re.compile(r"not a readable PDF \((?P<detail>[^()]+)\)"), _l("The PDF cannot be read (%(detail)s).")),
    (re.compile(r"the PDF contains no embedded e-invoice.*"),
     _l("The PDF contains no embedded e-invoice: a ZUGFeRD / Factur-X PDF carries factur-x.xml or ZUGFeRD-invoice.xml as "
        "an attachment.")),
    (re.compile(r"the PDF has several candidate invoice attachments \((?P<names>[^()]+)\).*"),
     _l("The PDF has several attachments that could be the invoice (%(names)s); Settle will not guess which one it is.")),
    (re.compile(r"the attachment (?P<name>\S+) cannot be read \((?P<detail>[^()]+)\)"),
     _l("The attachment %(name)s cannot be read (%(detail)s).")),
    (re.compile(r"the attachment (?P<name>\S+) is larger than (?P<max>\d+) MB"),
     _l("The attachment %(name)s is larger than %(max)s MB.")),
    (re.compile(r"not a readable ZIP file.*"), _l("This is not a readable ZIP file.")),
    (re.compile(r"the ZIP holds (?P<n>\d+) files; at most (?P<max>\d+) are read in one import"),
     _l("The ZIP holds %(n)s files; at most %(max)s are read in one import.")),
    (re.compile(r"the ZIP contains no files"), _l("The ZIP contains no files.")),
    (re.compile(r"is not an \.xml or \.pdf file"), _l("This is not an .xml or .pdf file.")),
    (re.compile(r"is encrypted"), _l("This file is encrypted.")),
    (re.compile(r"is damaged and cannot be unpacked.*", re.S), _l("This file is damaged and cannot be unpacked; please pack the ZIP again.")),
    (re.compile(r"is larger than (?P<max>\d+) MB"), _l("This file is larger than %(max)s MB.")),
    (re.compile(r"no e-invoice found"), _l("No e-invoice was found in the upload.")),
    (re.compile(r"invoice (?P<number>.+) already exists with different content"),
     _l("Invoice %(number)s already exists in Settle with different content.")),
]

_TERM = re.compile(r"(?P<term>B[TG]-\d+): (?P<rest>.+)", re.S)


def _match(table, text: str) -> str | None:
    from portal.uploads.messages import _match as match

    return match(table, text)


def explain(message: str) -> str:
    """One parser or mapping message, translated, led by the business term and its name."""
    m = _TERM.fullmatch(message)
    if m is not None:
        term, rest = m.group("term"), m.group("rest")
        text = _match(TERM_MESSAGES, rest)
        name = term_name(term)
        head = f"{term} {name}" if name else term
        return f"{head} {text}" if text is not None else f"{head}: {rest}"
    text = _match(FILE_MESSAGES, message)
    if text is None:
        from portal.uploads.messages import LINE_MESSAGES

        text = _match(LINE_MESSAGES, message)
    return text if text is not None else message
