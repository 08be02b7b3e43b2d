"""The original e-invoice, as the debtor reads it: an XRechnung (UBL or CII) turned into a page.

The stored file is parsed again with the same safe readers as the intake
(`portal.domain.einvoice`: no DTD, no entities, no network) and presented here: amounts,
dates and numbers per locale, and the standards' codes (UN/ECE units, VAT categories,
payment means, document types) as words. Nothing from the XML reaches the page except
through Jinja's autoescaping. A ZUGFeRD / Factur-X PDF is offered as the PDF itself.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from babel.numbers import format_currency, format_decimal
from flask import current_app
from flask_babel import get_locale, gettext as _
from flask_babel import lazy_pgettext
from werkzeug.security import safe_join

from portal.domain import einvoice
from portal.domain.einvoice import Document
from portal.domain.iban import group
from portal.domain.money import Money
from portal.i18n import format_money
from portal.models import Invoice

# UN/ECE Recommendation 20 and 21 units (BT-130) as a person names them; singular, as a unit column reads.
UNITS = {
    "C62": lazy_pgettext("unit", "piece"), "H87": lazy_pgettext("unit", "piece"), "XPP": lazy_pgettext("unit", "piece"),
    "EA": lazy_pgettext("unit", "piece"), "HUR": lazy_pgettext("unit", "hour"), "MIN": lazy_pgettext("unit", "minute"),
    "SEC": lazy_pgettext("unit", "second"), "DAY": lazy_pgettext("unit", "day"), "WEE": lazy_pgettext("unit", "week"),
    "MON": lazy_pgettext("unit", "month"), "ANN": lazy_pgettext("unit", "year"), "LTR": lazy_pgettext("unit", "litre"),
    "MLT": lazy_pgettext("unit", "millilitre"), "KGM": lazy_pgettext("unit", "kilogram"), "GRM": lazy_pgettext("unit", "gram"),
    "TNE": lazy_pgettext("unit", "tonne"), "MTR": lazy_pgettext("unit", "metre"), "KMT": lazy_pgettext("unit", "kilometre"),
    "CMT": lazy_pgettext("unit", "centimetre"), "MMT": lazy_pgettext("unit", "millimetre"),
    "MTK": lazy_pgettext("unit", "square metre"), "MTQ": lazy_pgettext("unit", "cubic metre"),
    "KWH": lazy_pgettext("unit", "kilowatt hour"), "SET": lazy_pgettext("unit", "set"), "PR": lazy_pgettext("unit", "pair"),
    "LS": lazy_pgettext("unit", "lump sum"), "XBX": lazy_pgettext("unit", "box"), "XCT": lazy_pgettext("unit", "carton"),
    "XPX": lazy_pgettext("unit", "pallet"), "XBO": lazy_pgettext("unit", "bottle"), "XBC": lazy_pgettext("unit", "bottle crate"),
    "XPK": lazy_pgettext("unit", "package"), "XPA": lazy_pgettext("unit", "packet"), "XSA": lazy_pgettext("unit", "sack"),
    "P1": lazy_pgettext("unit", "percent"),
}

# VAT category codes of EN 16931 (UNTDID 5305 subset, BT-118 / BT-151).
VAT_CATEGORIES = {
    "S": lazy_pgettext("vat category", "VAT"),
    "Z": lazy_pgettext("vat category", "zero-rated"),
    "E": lazy_pgettext("vat category", "exempt from VAT"),
    "AE": lazy_pgettext("vat category", "reverse charge: the recipient owes the VAT"),
    "K": lazy_pgettext("vat category", "intra-community supply, exempt from VAT"),
    "G": lazy_pgettext("vat category", "export outside the EU, exempt from VAT"),
    "O": lazy_pgettext("vat category", "not subject to VAT"),
    "L": lazy_pgettext("vat category", "Canary Islands general indirect tax"),
    "M": lazy_pgettext("vat category", "tax for Ceuta and Melilla"),
}

# Payment means (UNTDID 4461, BT-81) that invoices carry.
PAYMENT_MEANS = {
    "10": lazy_pgettext("payment means", "cash"),
    "30": lazy_pgettext("payment means", "bank transfer"),
    "31": lazy_pgettext("payment means", "bank transfer"),
    "42": lazy_pgettext("payment means", "payment to a bank account"),
    "48": lazy_pgettext("payment means", "bank card"),
    "49": lazy_pgettext("payment means", "direct debit"),
    "54": lazy_pgettext("payment means", "credit card"),
    "57": lazy_pgettext("payment means", "standing order"),
    "58": lazy_pgettext("payment means", "SEPA bank transfer"),
    "59": lazy_pgettext("payment means", "SEPA direct debit"),
    "97": lazy_pgettext("payment means", "offsetting between the parties"),
}

# Document types (UNTDID 1001, BT-3).
DOCUMENT_TYPES = {
    "380": lazy_pgettext("document type", "Invoice"),
    "381": lazy_pgettext("document type", "Credit note"),
    "384": lazy_pgettext("document type", "Corrected invoice"),
    "389": lazy_pgettext("document type", "Self-billed invoice"),
    "326": lazy_pgettext("document type", "Partial invoice"),
    "386": lazy_pgettext("document type", "Prepayment invoice"),
    "875": lazy_pgettext("document type", "Partial construction invoice"),
    "876": lazy_pgettext("document type", "Partial final construction invoice"),
    "877": lazy_pgettext("document type", "Final construction invoice"),
}

_SUBJECT_CODE = re.compile(r"^#[A-Z]{3}#\s*")  # XRechnung notes may start with a UNTDID 4451 subject code
_SKONTO = re.compile(r"#SKONTO#TAGE=(?P<days>\d+)#PROZENT=(?P<percent>\d+(?:\.\d+)?)#(?:BASISBETRAG=(?P<base>-?\d+(?:\.\d+)?)#)?")


class NotAvailable(Exception):
    """No readable original for this invoice (none stored, the file is gone, or it no longer reads)."""


def _locale() -> str:
    return str(get_locale() or "de")


def number(value: Decimal | None) -> str:
    """1.234,5 in German, 1,234.5 in English; the digits the document gave, without trailing zeros."""
    if value is None:
        return ""
    normal = value.normalize()
    if normal == normal.to_integral_value():
        normal = normal.quantize(Decimal(1))
    return format_decimal(normal, format="#,##0.####################", locale=_locale()).replace("-", "\u2212")


def percent(value: Decimal | None) -> str:
    if value is None:
        return ""
    return _("%(rate)s%%", rate=number(value))


def price(value: Decimal | None, currency: str) -> str:
    """A unit price: at least the currency's decimals, more when the document has them (0,079 €)."""
    if value is None:
        return ""
    normal = value.normalize()
    return format_currency(normal, currency, locale=_locale(), decimal_quantization=False).replace("-", "\u2212")


def unit_name(code: str | None) -> str:
    if not code:
        return ""
    label = UNITS.get(code.upper())
    return str(label) if label is not None else _("unit %(code)s", code=code)


def vat_label(category: str | None, rate: Decimal | None) -> str:
    """"19 %" for the ordinary VAT, the category in words otherwise ("reverse charge …")."""
    if (category or "S").upper() == "S":
        return percent(rate) if rate is not None else str(VAT_CATEGORIES["S"])
    label = VAT_CATEGORIES.get(category.upper())
    text = str(label) if label is not None else _("VAT category %(code)s", code=category)
    return f"{text}, {percent(rate)}" if rate else text


def country_name(code: str | None) -> str:
    if not code:
        return ""
    return get_locale().territories.get(code.upper(), code.upper()) if get_locale() else code


def note_text(note: str) -> str:
    return _SUBJECT_CODE.sub("", note)


def terms_text(term: str) -> str:
    """Payment terms as written, with XRechnung's structured discount lines put into words."""
    def skonto(m: re.Match) -> str:
        return _("%(percent)s discount if paid within %(days)s days.", percent=percent(Decimal(m.group("percent"))),
                 days=m.group("days")) + " "

    return _SKONTO.sub(skonto, term).strip()


@dataclass(frozen=True)
class VatRow:
    label: str
    standard: bool  # the ordinary VAT at a rate ("VAT 19 % on …"), else a category in words
    basis: int | None  # minor units
    tax: int | None
    exemption_reason: str | None


def vat_rows(inv: einvoice.EInvoice) -> list[VatRow]:
    return [VatRow(vat_label(t.category, t.percent), (t.category or "S").upper() == "S" and t.percent is not None,
                   t.basis_minor, t.tax_minor, t.exemption_reason)
            for t in inv.taxes]


def amount(minor: int | None, currency: str) -> str:
    """An amount per locale, negative ones with a real minus sign (−100,00 €), as quantities are."""
    return "" if minor is None else format_money(Money(minor, currency)).replace("-", "\u2212")


def document_of(invoice: Invoice) -> Document:
    """The stored original, read again; NotAvailable when there is none to show."""
    if not invoice.einvoice_file:
        raise NotAvailable
    path = safe_join(current_app.config["STORAGE_DIR"], invoice.einvoice_file)
    if path is None or not Path(path).is_file():
        raise NotAvailable
    try:
        return einvoice.read(Path(path).read_bytes())
    except einvoice.EInvoiceError:
        raise NotAvailable from None


def context(document: Document) -> dict:
    """What templates/debtor/einvoice.html needs besides the invoice."""
    inv = document.invoice
    kind = DOCUMENT_TYPES.get(inv.type_code or "")
    if kind is None:
        kind = DOCUMENT_TYPES["381"] if inv.is_credit_note else DOCUMENT_TYPES["380"]
    means = PAYMENT_MEANS.get(inv.payment_means or "")
    return {
        "doc": inv,
        "doc_kind": str(kind),
        "payment_means": str(means) if means is not None else None,
        "vat_rows": vat_rows(inv),
        "amount": lambda minor: amount(minor, inv.currency),
        "qty": number,
        "unit_price": lambda value: price(value, inv.currency),
        "unit_name": unit_name,
        "vat_label": vat_label,
        "country_name": country_name,
        "note_text": note_text,
        "terms_text": terms_text,
        "first_upper": lambda value: value[:1].upper() + value[1:],
        "iban_group": lambda iban: group("".join(iban.split()).upper()),
    }
