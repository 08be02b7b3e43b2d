"""The original e-invoice in the portal: an XRechnung (UBL or CII) as a readable page in German and
English, a ZUGFeRD PDF as the PDF; only the debtor's own invoices; the XML never echoed raw."""
from __future__ import annotations

import html as htmllib
import re
from datetime import date
from pathlib import Path

import pytest
from flask import g, render_template

from portal.debtor import einvoice_view
from portal.domain import einvoice
from portal.extensions import db
from portal.intake.einvoice_batch import import_files
from portal.models import Invoice
from tests.debtor.conftest import open_link, text
from tests.factories import make_invoice, make_merchant
from tests.intake import einvoice_files as files
from tests.intake.einvoice_files import EXPECTED, INVOICES, sample

TODAY = date(2026, 1, 20)
ISO_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
# The codes the samples use (units, VAT categories, payment means, document types): never shown as such.
UNIT_CODES = re.compile(r"\b(C62|H87|XPP|HUR|LTR|DAY|XBC|XPX|XBO|XCT)\b")
CATEGORY_CODES = re.compile(r"\b(S|AE|Z|E|K|G|O)\b")

# Seller name (BT-27) and amount due (BT-115) in German, as NOTICE.md and the files give them.
SELLER = {
    "01.21a-INVOICE_ubl.xml": "Mustermann GmbH",
    "03.06a-INVOICE_ubl.xml": "Testverkäufer",
    "maxRechnung_creditnote.xml": "EntServ Deutschland GmbH",
    "01.21a-INVOICE_uncefact.xml": "Mustermann GmbH",
    "01.14a-INVOICE_uncefact.xml": "[Seller name]",
    "04.05a-INVOICE_uncefact.xml": "Rechnungssteller",
    "MustangGnuaccountingBeispielRE-20170509_505.pdf": "Bei Spiel GmbH",
    "EN16931_Einfach.pdf": "Lieferant GmbH",
    "zugferd_2p1_EXTENDED_PDFA-3A.pdf": "MUSTERLIEFERANT GMBH",
}


def german_amount(amount: str) -> str:
    euros, cents = amount.split(".")
    return f"{int(euros):,}".replace(",", ".") + f",{cents} €"


def english_amount(amount: str) -> str:
    euros, cents = amount.split(".")
    return f"€{int(euros):,}.{cents}"


@pytest.fixture
def shop(app):
    return make_merchant("garden", name="Gartenhaus Sonnenberg")


def imported(app, shop, name: str, raw: bytes | None = None) -> Invoice:
    import_files([(name, raw or sample(name))], shop, today=TODAY, actor="import:test", storage_dir=app.config["STORAGE_DIR"])
    db.session.commit()
    return db.session.execute(db.select(Invoice).order_by(Invoice.id.desc())).scalars().first()


def signed_in(client, invoice: Invoice, lang: str = "de"):
    assert open_link(client, invoice.debtor).status_code == 303
    client.get(f"/portal/language/{lang}")
    return client


def regions(page: str) -> str:
    """The parts Settle writes itself (the item table and the totals), not the seller's own texts."""
    parts = re.findall(r'<table class="items">.*?</table>|<dl class="amounts totals">.*?</dl>', page, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", htmllib.unescape(p)) for p in parts)


@pytest.mark.parametrize("name", INVOICES)
def test_every_sample_invoice_renders_in_german_with_seller_number_and_amount_due(app, client, shop, name):
    number, _, amount_due, _, _ = EXPECTED[name]
    invoice = imported(app, shop, name)
    response = signed_in(client, invoice).get(f"/portal/invoices/{invoice.id}/e-invoice")
    assert response.status_code == 200
    page = text(response)
    assert SELLER[name] in page and number in page
    assert f"Zu zahlen {german_amount(amount_due)}" in page
    assert not ISO_DATE.search(page), ISO_DATE.findall(page)
    assert not UNIT_CODES.search(page), UNIT_CODES.findall(page)
    written = regions(response.get_data(as_text=True))
    assert not CATEGORY_CODES.search(written), CATEGORY_CODES.findall(written)


@pytest.mark.parametrize("name", [n for n in INVOICES if n.endswith(".xml")])
def test_every_xml_sample_renders_in_english_too(app, client, shop, name):
    number, _, amount_due, _, _ = EXPECTED[name]
    invoice = imported(app, shop, name)
    page = text(signed_in(client, invoice, "en").get(f"/portal/invoices/{invoice.id}/e-invoice"))
    assert SELLER[name] in page and number in page
    assert f"Amount due {english_amount(amount_due)}" in page
    assert not UNIT_CODES.search(page)


def test_the_credit_note_sample_renders_as_a_credit_note(app, shop):
    invoice = make_invoice(shop, "PRG1502168", amount="9000.00")
    document = einvoice.read(sample("maxRechnung_creditnote.xml"))
    with app.test_request_context():
        g.locale = "de"
        from portal.debtor.queries import invoice_of

        view = invoice_of(invoice.debtor, invoice.id, TODAY)
        page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_template("debtor/einvoice.html", view=view,
                                                                           **einvoice_view.context(document))))
    page = htmllib.unescape(page).replace("\u00a0", " ").replace("\u202f", " ")
    assert "Gutschrift 1234567890" in page and SELLER["maxRechnung_creditnote.xml"] in page
    assert "Zu zahlen 8.320,00 €" in page and "Bereits bezahlt − 500,00 €" in page
    assert "Bezieht sich auf Rechnung PRG1502168" in page
    assert "Dänemark" in page  # the seller's country in words
    assert not ISO_DATE.search(page) and not UNIT_CODES.search(page)


def test_the_view_shows_what_the_invoice_says_in_words(app, client, shop):
    invoice = imported(app, shop, "01.21a-INVOICE_ubl.xml")
    response = signed_in(client, invoice).get(f"/portal/invoices/{invoice.id}/e-invoice")
    page = text(response)
    body = response.get_data(as_text=True)
    assert '<td class="num" data-label="Menge">4</td>' in body  # phones show each value with its label
    for expected in (
        "Rechnung 18383", "Rechnungsdatum 27.11.2020", "Fällig am 27.12.2020", "Lieferdatum 23.11.2020",
        "Mustermann GmbH Musterstrasse 4 60388 Frankfurt am Main Deutschland", "USt-IdNr. DE 123456789",
        "DB Station&Service AG RB Mitte Musterweg 1 10115 Berlin", "USt-IdNr. DE152138634",
        "Artikel Menge Einheit Einzelpreis USt. Nettobetrag",
        "1 Tür Instandsetzung 4 Stunde 52,00 € Steuerschuldnerschaft des Leistungsempfängers 208,00 €",
        "Summe der Positionen 208,00 €", "Zuschlag: Lieferpauschale (USt.: Steuerschuldnerschaft des Leistungsempfängers) 25,00 €",
        "Nettosumme 233,00 €",
        "Steuerschuldnerschaft des Leistungsempfängers, Bemessungsgrundlage 233,00 € Grund: Umkehrung der Steuerschuldnerschaft 0,00 €",
        "Gesamtbetrag inkl. USt. 233,00 €",
        "Zu zahlen 233,00 €", "10 Tage 3% Skonto, 30 Tage netto", "Zahlungsart SEPA-Überweisung",
        "Kontoinhaber Mustermann GmbH", "IBAN DE79 0000 0000 1234 5678 90", "BIC DRESDEFFXXX",
    ):
        assert expected in page, expected


def test_vat_per_rate_and_a_negative_quantity_read_per_locale(app, client, shop):
    invoice = imported(app, shop, "03.06a-INVOICE_ubl.xml")
    de = text(signed_in(client, invoice).get(f"/portal/invoices/{invoice.id}/e-invoice"))
    assert "Umsatzsteuer 19 % auf 1.600,00 € 304,00 €" in de
    assert "−1 Stück 100,00 € Nullsatz −100,00 €" in de  # the line with the negative quantity
    assert "Nullsatz, Bemessungsgrundlage −100,00 € 0,00 €" in de
    assert "#ADU#" not in de and "Rechnung enthält 100 EUR" in de  # the note's subject code is not shown
    client.get("/portal/language/en")
    en = text(client.get(f"/portal/invoices/{invoice.id}/e-invoice"))
    assert "VAT 19% on €1,600.00 €304.00" in en
    assert "−1 piece €100.00 zero-rated −€100.00" in en


def test_the_invoice_page_offers_the_view_for_xml_and_the_pdf_for_zugferd(app, client, shop):
    xml_invoice = imported(app, shop, "04.05a-INVOICE_uncefact.xml")
    pdf_invoice = imported(app, shop, "EN16931_Einfach.pdf")
    portal = signed_in(client, xml_invoice)
    page = portal.get(f"/portal/invoices/{xml_invoice.id}").get_data(as_text=True)
    assert f'href="/portal/invoices/{xml_invoice.id}/e-invoice"' in page and "Rechnung ansehen" in page
    assert "/pdf" not in page
    other = signed_in(client, pdf_invoice)
    page = other.get(f"/portal/invoices/{pdf_invoice.id}").get_data(as_text=True)
    assert "Rechnung herunterladen (PDF)" in page and "/e-invoice" not in page
    with other.get(f"/portal/invoices/{pdf_invoice.id}/pdf") as response:
        assert response.status_code == 200 and response.data == sample("EN16931_Einfach.pdf")


def test_the_original_xml_downloads_as_an_attachment(app, client, shop):
    invoice = imported(app, shop, "01.21a-INVOICE_uncefact.xml")
    with signed_in(client, invoice).get(f"/portal/invoices/{invoice.id}/e-invoice.xml") as response:
        assert response.status_code == 200
        assert response.data == sample("01.21a-INVOICE_uncefact.xml")
        assert response.mimetype == "application/xml"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Cache-Control"] == "no-store"


def test_only_the_debtors_own_invoice_and_only_with_an_original(app, client, shop):
    mine = imported(app, shop, "01.21a-INVOICE_ubl.xml")
    other_shop = make_merchant("other", name="Anderer Laden")
    theirs = imported(app, other_shop, "03.06a-INVOICE_ubl.xml")
    same_shop_other_debtor = imported(app, shop, "04.05a-INVOICE_uncefact.xml")
    plain = make_invoice(shop, "RE-PLAIN", debtor={"external_ref": mine.debtor.external_ref})
    portal = signed_in(client, mine)
    assert portal.get(f"/portal/invoices/{mine.id}/e-invoice").status_code == 200
    for invoice in (theirs, same_shop_other_debtor):
        assert portal.get(f"/portal/invoices/{invoice.id}/e-invoice").status_code == 404
        assert portal.get(f"/portal/invoices/{invoice.id}/e-invoice.xml").status_code == 404
    assert portal.get(f"/portal/invoices/{plain.id}/e-invoice").status_code == 404


def test_without_a_portal_session_there_is_no_view(app, client, shop):
    invoice = imported(app, shop, "01.21a-INVOICE_ubl.xml")
    response = client.get(f"/portal/invoices/{invoice.id}/e-invoice")
    assert response.status_code in (302, 303, 401, 403)
    assert "18383" not in response.get_data(as_text=True)


def test_markup_in_the_xml_is_shown_as_text_never_as_html(app, client, shop):
    hostile = files.ubl(**{
        "<cbc:Name>Tür Instandsetzung</cbc:Name>": "<cbc:Name>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;</cbc:Name>",
        "<cbc:ID>18383</cbc:ID>": "<cbc:ID>18383-X</cbc:ID>",
    })
    invoice = imported(app, shop, "hostile.xml", hostile)
    response = signed_in(client, invoice).get(f"/portal/invoices/{invoice.id}/e-invoice")
    body = response.get_data(as_text=True)
    assert "<script>alert" not in body and "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "default-src 'self'" in csp
    assert " style=" not in body and not re.search(r"<script(?![^>]*\bsrc=)", body)  # no inline styles or scripts


def test_a_stored_file_that_went_missing_answers_404(app, client, shop):
    invoice = imported(app, shop, "01.21a-INVOICE_ubl.xml")
    (Path(app.config["STORAGE_DIR"]) / invoice.einvoice_file).unlink()
    assert signed_in(client, invoice).get(f"/portal/invoices/{invoice.id}/e-invoice").status_code == 404


def test_structured_discount_terms_read_as_a_sentence(app):
    with app.test_request_context():
        g.locale = "de"
        assert einvoice_view.terms_text("#SKONTO#TAGE=14#PROZENT=2.00#") == "2\u00a0% Skonto bei Zahlung innerhalb von 14 Tagen."
        g.locale = "en"
        from flask_babel import refresh

        refresh()
        assert einvoice_view.terms_text("#SKONTO#TAGE=14#PROZENT=2.00#") == "2% discount if paid within 14 days."
