"""E-invoice test files: the public samples (tests/samples/einvoice, see NOTICE.md there) and
variants of them made here for the cases no public sample covers (prepaid amounts, a DTD,
a PDF without or with two invoice attachments, …)."""
from __future__ import annotations

import io
from datetime import date
from pathlib import Path

from pypdf import PdfWriter

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "einvoice"

# As NOTICE.md gives them: file → (number, currency, amount due, due date (BT-9) or None, buyer name)
EXPECTED = {
    "01.21a-INVOICE_ubl.xml": ("18383", "EUR", "233.00", date(2020, 12, 27), "DB Station&Service AG RB Mitte"),
    "03.06a-INVOICE_ubl.xml": ("112233", "EUR", "1804.00", date(2021, 4, 28), "Testkäufer"),
    "maxRechnung_creditnote.xml": ("1234567890", "EUR", "8320.00", None, "Deutsches Patent - und Markenamt"),
    "01.21a-INVOICE_uncefact.xml": ("18383", "EUR", "233.00", date(2020, 12, 27), "DB Station&Service AG RB Mitte"),
    "01.14a-INVOICE_uncefact.xml": ("1234567", "EUR", "12829.69", date(2018, 4, 13), "[Buyer name]"),
    "04.05a-INVOICE_uncefact.xml": ("2020-1", "EUR", "119.00", date(2020, 1, 17), "Rechnungsempfänger"),
    "MustangGnuaccountingBeispielRE-20170509_505.pdf": ("RE-20170509/505", "EUR", "571.04", date(2017, 5, 30), "Theodor Est"),
    "EN16931_Einfach.pdf": ("471102", "EUR", "529.87", None, "Kunden AG Mitte"),
    "zugferd_2p1_EXTENDED_PDFA-3A.pdf": ("R87654321012345", "EUR", "518.99", None, "MUSTER-KUNDE GMBH"),
}
INVOICES = [name for name in EXPECTED if name != "maxRechnung_creditnote.xml"]


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def ubl(**replace: str) -> bytes:
    """The XRechnung UBL sample 01.21a with text replaced (old=new pairs given as a dict)."""
    text = sample("01.21a-INVOICE_ubl.xml").decode()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def ubl_variant(pairs: list[tuple[str, str]]) -> bytes:
    text = sample("01.21a-INVOICE_ubl.xml").decode()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


def prepaid_invoice(number: str = "18383-P") -> bytes:
    """01.21a with 100.00 of its 233.00 already paid: BT-113 100.00, BT-115 133.00."""
    return ubl_variant([
        ("<cbc:ID>18383</cbc:ID>", f"<cbc:ID>{number}</cbc:ID>"),
        ('<cbc:PayableAmount currencyID="EUR">233.00</cbc:PayableAmount>',
         '<cbc:PrepaidAmount currencyID="EUR">100.00</cbc:PrepaidAmount>'
         '<cbc:PayableAmount currencyID="EUR">133.00</cbc:PayableAmount>'),
    ])


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:ID>&lol9;</cbc:ID></Invoice>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"><cbc:ID>&x;</cbc:ID></Invoice>
"""


def pdf(attachments: dict[str, bytes] | None = None) -> bytes:
    """A one-page PDF with these embedded files."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    for name, data in (attachments or {}).items():
        writer.add_attachment(name, data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def embedded_cii() -> bytes:
    """The XML inside the ZUGFeRD 2.3 sample EN16931_Einfach.pdf."""
    from portal.domain.einvoice.pdf import embedded_xml

    return embedded_xml(sample("EN16931_Einfach.pdf"))[1]


def cii_minimum(number: str = "2020-1-MIN") -> bytes:
    """04.05a (CII) as a Factur-X MINIMUM document: the profile carries no invoice lines."""
    text = sample("04.05a-INVOICE_uncefact.xml").decode()
    start = text.index("<ram:IncludedSupplyChainTradeLineItem>")
    end = text.rindex("</ram:IncludedSupplyChainTradeLineItem>") + len("</ram:IncludedSupplyChainTradeLineItem>")
    text = text[:start] + text[end:]
    guideline = text.index("<ram:GuidelineSpecifiedDocumentContextParameter>")
    id_start = text.index("<ram:ID>", guideline) + len("<ram:ID>")
    id_end = text.index("</ram:ID>", id_start)
    text = text[:id_start] + "urn:factur-x.eu:1p0:minimum" + text[id_end:]
    assert text.count("<ram:ID>2020-1</ram:ID>") == 1
    return text.replace("<ram:ID>2020-1</ram:ID>", f"<ram:ID>{number}</ram:ID>").encode()
