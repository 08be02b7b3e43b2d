"""Reading e-invoices: XRechnung / EN 16931 in UBL 2.1 (Invoice, CreditNote) and UN/CEFACT
CII D16B, ZUGFeRD 2.x / Factur-X PDFs (MINIMUM … EXTENDED) and ZUGFeRD 1.0.

`read(raw)` takes the bytes as they arrived (XML or PDF) and returns a `Document`: the
business terms (`EInvoice`) and the XML they came from. Every problem raises
`EInvoiceError` with messages keyed by business term. Flask-free; `portal.intake.einvoice`
turns a Document into an invoice (or a credit) through the shared intake validator.
"""
from __future__ import annotations

from dataclasses import dataclass

from portal.domain.einvoice import cii, ubl
from portal.domain.einvoice.errors import EInvoiceError
from portal.domain.einvoice.model import EInvoice, Line, Party, TaxBreakdown
from portal.domain.einvoice.pdf import embedded_xml
from portal.domain.einvoice.xml import MAX_BYTES, parse

__all__ = ["Document", "EInvoice", "EInvoiceError", "Line", "Party", "TaxBreakdown", "MAX_BYTES", "read", "read_xml"]

_ROOTS = {
    f"{{{ubl.INVOICE_NS}}}Invoice": lambda root: ubl.read(root, credit_note=False),
    f"{{{ubl.CREDIT_NOTE_NS}}}CreditNote": lambda root: ubl.read(root, credit_note=True),
    f"{{{cii.D16B_NS}}}CrossIndustryInvoice": lambda root: cii.read(root, cii.D16B),
    f"{{{cii.ZUGFERD1_NS}}}CrossIndustryDocument": lambda root: cii.read(root, cii.ZUGFERD1),
}
_EXPECTED = {
    "Invoice": ubl.INVOICE_NS, "CreditNote": ubl.CREDIT_NOTE_NS,
    "CrossIndustryInvoice": cii.D16B_NS, "CrossIndustryDocument": cii.ZUGFERD1_NS,
}


@dataclass(frozen=True)
class Document:
    invoice: EInvoice
    xml: bytes
    container: str  # "xml" or "pdf"
    attachment: str | None = None  # name of the XML inside the PDF

    @property
    def format(self) -> str:
        """What a person calls it: "XRechnung (UBL 2.1)", "ZUGFeRD / Factur-X PDF (CII D16B)" …"""
        syntax = self.invoice.syntax
        if self.container == "pdf":
            return f"ZUGFeRD PDF ({syntax})" if syntax == "ZUGFeRD 1.0" else f"ZUGFeRD / Factur-X PDF ({syntax})"
        profile = self.invoice.profile or ""
        return f"XRechnung ({syntax})" if "xrechnung" in profile.lower() else f"EN 16931 ({syntax})"


def is_pdf(raw: bytes) -> bool:
    return raw[:1024].lstrip().startswith(b"%PDF-")


def read_xml(raw: bytes) -> EInvoice:
    root = parse(raw)
    reader = _ROOTS.get(root.tag)
    if reader is None:
        ns, _, local = root.tag[1:].rpartition("}") if root.tag.startswith("{") else ("", "", root.tag)
        if local in _EXPECTED:
            raise EInvoiceError.document(
                f"wrong namespace: the root element {local} is in {ns or 'no namespace'!r}, "
                f"an e-invoice has it in {_EXPECTED[local]!r}"
            )
        raise EInvoiceError.document(
            f"not an e-invoice: the root element is {local!r} in {ns or 'no namespace'!r} "
            "(expected a UBL Invoice or CreditNote, or a CII CrossIndustryInvoice)"
        )
    return reader(root)


def read(raw: bytes) -> Document:
    """The e-invoice in `raw` (an XML file or a PDF with the XML embedded)."""
    if not raw.strip():
        raise EInvoiceError.document("the file is empty")
    if is_pdf(raw):
        name, xml = embedded_xml(raw)
        return Document(read_xml(xml), xml, "pdf", name)
    return Document(read_xml(raw), raw, "xml")
