"""E-invoices in: every public sample becomes the invoice its XML describes; credit notes credit;
prepaid amounts are not claimed twice; another IBAN is a warning; bad files book nothing."""
from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.domain import einvoice
from portal.domain.einvoice.mapping import due_from_terms
from portal.extensions import db
from portal.intake.einvoice_batch import BatchRejected, import_files
from portal.models import Debtor, Event, Invoice, LedgerEntry
from tests.factories import make_invoice, make_merchant
from tests.intake import einvoice_files as files
from tests.intake.einvoice_files import EXPECTED, INVOICES, sample

TODAY = date(2026, 1, 20)


@pytest.fixture
def merchant(app):
    return make_merchant()


def run(app, merchant, *named: tuple[str, bytes]):
    result = import_files(list(named), merchant, today=TODAY, actor="import:test", storage_dir=app.config["STORAGE_DIR"])
    db.session.commit()
    return result


def rejected(app, merchant, *named: tuple[str, bytes]) -> list[str]:
    with pytest.raises(BatchRejected) as exc:
        import_files(list(named), merchant, today=TODAY, actor="import:test", storage_dir=app.config["STORAGE_DIR"])
    db.session.rollback()
    return [str(e) for e in exc.value.errors]


def count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def stored_files(app) -> list[Path]:
    root = Path(app.config["STORAGE_DIR"]) / "einvoices"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- the public samples ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_sample_reads_as_notice_md_describes_it(name):
    number, currency, amount_due, due, buyer = EXPECTED[name]
    inv = einvoice.read(sample(name)).invoice
    assert inv.number == number
    assert inv.currency == currency
    assert inv.money(inv.payable_minor) == amount_due
    assert inv.due_date == due
    assert inv.buyer.name == buyer


# Where the due date of the three samples without BT-9 comes from.
DUE_WITHOUT_BT9 = {
    "EN16931_Einfach.pdf": date(2024, 12, 15),  # "Zahlbar innerhalb 30 Tagen netto bis 15.12.2024, 3% Skonto …"
    "zugferd_2p1_EXTENDED_PDFA-3A.pdf": date(2018, 8, 20),  # only a discount term: issued 6.8.2018 + 14 days
}


@pytest.mark.parametrize("name", INVOICES)
def test_every_sample_invoice_becomes_an_invoice_with_those_facts(app, merchant, name):
    number, currency, amount_due, due, buyer = EXPECTED[name]
    result = run(app, merchant, (name, sample(name)))
    assert (result.created, result.unchanged) == (1, 0)
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert invoice.number == number
    assert invoice.currency == currency
    assert f"{invoice.open_minor / 100:.2f}" == f"{invoice.amount_minor / 100:.2f}" == amount_due
    assert invoice.due_date == (due or DUE_WITHOUT_BT9[name])
    assert (invoice.debtor.company or invoice.debtor.name) == buyer
    original = Path(app.config["STORAGE_DIR"]) / invoice.einvoice_file
    assert original.read_bytes() == sample(name)
    assert (invoice.pdf_file == invoice.einvoice_file) is name.endswith(".pdf")
    assert invoice.einvoice_format.startswith("ZUGFeRD" if name.endswith(".pdf") else "XRechnung")


def test_lines_reach_the_invoice_with_their_net_amounts_including_a_negative_quantity(app, merchant):
    run(app, merchant, ("03.06a.xml", sample("03.06a-INVOICE_ubl.xml")))
    lines = db.session.execute(select(Invoice)).scalar_one().lines
    assert len(lines) == 4
    assert any(line["quantity"].startswith("-") for line in lines)
    assert all(line["description"] for line in lines)


def test_importing_the_same_files_again_creates_nothing(app, merchant):
    # 01.21a in UBL and in CII are one business case: one of them
    named = [(n, sample(n)) for n in INVOICES if n != "01.21a-INVOICE_uncefact.xml"]
    first = run(app, merchant, *named)
    again = run(app, merchant, *named)
    assert first.created == len(INVOICES) - 1
    assert (again.created, again.unchanged) == (0, len(INVOICES) - 1)
    assert count(Invoice) == len(INVOICES) - 1


def test_the_same_business_case_in_ubl_and_cii_is_one_invoice(app, merchant):
    run(app, merchant, ("a.xml", sample("01.21a-INVOICE_ubl.xml")))
    result = run(app, merchant, ("b.xml", sample("01.21a-INVOICE_uncefact.xml")))
    assert (result.created, result.unchanged) == (0, 1)


# --- mapping --------------------------------------------------------------------------------------


def test_a_prepaid_amount_is_not_claimed_again(app, merchant):
    run(app, merchant, ("prepaid.xml", files.prepaid_invoice()))
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert invoice.amount_minor == invoice.open_minor == 13300  # BT-115, not the 233.00 total (BT-112)


def test_buyers_with_a_vat_id_or_a_company_name_are_businesses_others_persons(app, merchant):
    run(app, merchant, ("a.xml", sample("01.21a-INVOICE_ubl.xml")), ("b.xml", sample("03.06a-INVOICE_ubl.xml")),
        ("c.pdf", sample("EN16931_Einfach.pdf")))
    kinds = dict(db.session.execute(select(Debtor.name, Debtor.kind)).all())
    assert kinds["Klaus Koffer"] == "business"  # VAT ID DE152138634; the contact person is the name
    assert kinds["Testkäufer"] == "person"  # neither VAT ID nor company name
    companies = dict(db.session.execute(select(Debtor.company, Debtor.kind)).all())
    assert companies["Kunden AG Mitte"] == "business"  # no VAT ID, but a legal form in the name


def test_the_buyer_identifier_is_the_customer_number_and_the_buyer_reference_can_be_chosen(app, merchant):
    run(app, merchant, ("a.xml", sample("01.21a-INVOICE_ubl.xml")))
    assert db.session.execute(select(Debtor.external_ref)).scalar_one() == "10099"  # BT-46
    other = make_merchant(einvoice_customer_ref="BT-10")
    run(app, other, ("a.xml", sample("01.21a-INVOICE_ubl.xml")))
    ref = db.session.execute(select(Debtor.external_ref).where(Debtor.merchant_id == other.id)).scalar_one()
    assert ref == "04011000-12349-88"  # BT-10


def test_contact_details_come_from_the_buyer(app, merchant):
    run(app, merchant, ("a.xml", sample("01.21a-INVOICE_uncefact.xml")))
    debtor = db.session.execute(select(Debtor)).scalar_one()
    assert debtor.email == "buyer@info.de"  # BT-49 with scheme EM
    assert (debtor.street, debtor.postal_code, debtor.city, debtor.country) == ("Musterweg 1", "10115", "Berlin", "DE")
    assert (debtor.company, debtor.name) == ("DB Station&Service AG RB Mitte", "Klaus Koffer")


def test_without_any_due_date_the_merchants_default_term_counts_from_the_issue_date(app):
    merchant = make_merchant(payment_term_days=30)
    run(app, merchant, ("x.pdf", sample("zugferd_2p1_EXTENDED_PDFA-3A.pdf")))
    assert db.session.execute(select(Invoice.due_date)).scalar_one() == date(2018, 9, 5)


@pytest.mark.parametrize("text, expected", [
    ("Zahlbar innerhalb 30 Tagen netto bis 15.12.2024, 3% Skonto innerhalb 10 Tagen bis 25.11.2024", date(2024, 12, 15)),
    ("3 % Skonto bis 25.11.2024, netto bis 15.12.2024", date(2024, 12, 15)),
    ("10 Tage 3% Skonto, 30 Tage netto", date(2024, 12, 1)),
    ("Payable within 14 days net", date(2024, 11, 15)),
    ("Bei Zahlung innerhalb 14 Tagen gewähren wir 2,0% Skonto.", None),
    ("#SKONTO#TAGE=7#PROZENT=2.00#\n", None),
    ("", None),
])
def test_the_net_due_date_is_read_from_payment_terms(text, expected):
    assert due_from_terms(text, date(2024, 11, 1)) == expected


# --- credit notes ---------------------------------------------------------------------------------


def test_a_credit_note_credits_the_invoice_it_names_instead_of_creating_a_debt(app, merchant):
    invoice = make_invoice(merchant, "PRG1502168", amount="10000.00", lines=[])
    result = run(app, merchant, ("credit.xml", sample("maxRechnung_creditnote.xml")))
    assert (result.created, result.credited) == (0, 1)
    assert count(Invoice) == 1
    db.session.refresh(invoice)
    assert invoice.open_minor == 1000000 - 832000  # BT-115 of the credit note
    entry = db.session.execute(select(LedgerEntry)).scalar_one()
    assert (entry.kind, entry.amount_minor, entry.external_ref) == ("credit", -832000, "credit-note:1234567890")
    assert (Path(app.config["STORAGE_DIR"]) / entry.data["file"]).read_bytes() == sample("maxRechnung_creditnote.xml")


def test_a_credit_note_imported_twice_credits_once(app, merchant):
    make_invoice(merchant, "PRG1502168", amount="10000.00", lines=[])
    run(app, merchant, ("credit.xml", sample("maxRechnung_creditnote.xml")))
    again = run(app, merchant, ("credit.xml", sample("maxRechnung_creditnote.xml")))
    assert (again.credited, again.unchanged) == (0, 1)
    assert count(LedgerEntry) == 1


def test_a_credit_note_for_an_unknown_invoice_is_refused(app, merchant):
    errors = rejected(app, merchant, ("credit.xml", sample("maxRechnung_creditnote.xml")))
    assert errors == ["credit.xml: BG-3: the credited invoice PRG1502168 is not in Settle"]


def test_an_invoice_and_its_credit_note_in_one_zip_work_in_any_order(app, merchant):
    invoice_xml = files.ubl_variant([
        ("<cbc:ID>18383</cbc:ID>", "<cbc:ID>PRG1502168</cbc:ID>"),
        ('<cbc:PayableAmount currencyID="EUR">233.00</cbc:PayableAmount>',
         '<cbc:PayableAmount currencyID="EUR">9000.00</cbc:PayableAmount>'),
    ])
    archive = zipped({"a-credit.xml": sample("maxRechnung_creditnote.xml"), "b-invoice.xml": invoice_xml})
    result = run(app, merchant, ("batch.zip", archive))
    assert (result.created, result.credited) == (1, 1)
    assert db.session.execute(select(Invoice.open_minor)).scalar_one() == 900000 - 832000


# --- IBAN -----------------------------------------------------------------------------------------


def test_another_iban_than_the_merchants_is_a_warning_on_the_invoice(app, merchant):
    result = run(app, merchant, ("a.xml", sample("01.21a-INVOICE_ubl.xml")))
    assert [(term, "DE79000000001234567890" in message) for _, term, message in result.warnings] == [("BT-84", True)]
    event = db.session.execute(select(Event).where(Event.kind == "einvoice.warning")).scalar_one()
    assert event.data["term"] == "BT-84"
    assert event.invoice_id == db.session.execute(select(Invoice.id)).scalar_one()


def test_the_merchants_own_iban_gives_no_warning(app):
    merchant = make_merchant(iban="DE79000000001234567890")
    result = run(app, merchant, ("a.xml", sample("01.21a-INVOICE_ubl.xml")))
    assert result.warnings == []
    assert count(Event) == 3  # debtor.created, invoice.created, import.completed


# --- bad input: clear errors, nothing booked ------------------------------------------------------

BAD = {
    "billion laughs": (files.BILLION_LAUGHS, "DTD or entities"),
    "external entity": (files.EXTERNAL_ENTITY, "DTD or entities"),
    "pdf without invoice": (files.pdf(), "no embedded e-invoice"),
    "pdf with other attachments": (files.pdf({"terms.txt": b"AGB"}), "no embedded e-invoice"),
    "pdf with two invoices": (
        files.pdf({"factur-x.xml": b"<a/>", "ZUGFeRD-invoice.xml": b"<a/>"}), "several candidate invoice attachments"
    ),
    "wrong namespace": (
        files.ubl(**{"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "urn:example:invoice"}), "wrong namespace"
    ),
    "not an invoice": (b"<?xml version='1.0'?><order/>", "not an e-invoice"),
    "not xml": (b"number;amount\n1;2\n", "not well-formed XML"),
    "huge": (b"<a>" + b" " * (20 * 1024 * 1024) + b"</a>", "accepted up to 20 MB"),
    "malformed amount": (
        files.ubl(**{'<cbc:PayableAmount currencyID="EUR">233.00': '<cbc:PayableAmount currencyID="EUR">233,00'}),
        "BT-115: '233,00' is not an amount",
    ),
    "too precise amount": (
        files.ubl(**{'<cbc:PayableAmount currencyID="EUR">233.00': '<cbc:PayableAmount currencyID="EUR">233.001'}),
        "BT-115: 233.001 has more than 2 decimal places for EUR",
    ),
    "nothing due": (
        files.ubl(**{'<cbc:PayableAmount currencyID="EUR">233.00': '<cbc:PayableAmount currencyID="EUR">0.00'}),
        "BT-115: is 0.00 EUR",
    ),
    "no number": (files.ubl(**{"<cbc:ID>18383</cbc:ID>": ""}), "BT-1: is missing"),
    "bad date": (files.ubl(**{"<cbc:DueDate>2020-12-27": "<cbc:DueDate>27.12.2020"}), "BT-9: '27.12.2020' is not a date"),
    "due before issue": (files.ubl(**{"<cbc:DueDate>2020-12-27": "<cbc:DueDate>2020-01-27"}), "BT-9: must not be before"),
    "unknown currency": (files.ubl(**{"<cbc:DocumentCurrencyCode>EUR": "<cbc:DocumentCurrencyCode>EUX"}), "BT-5: 'EUX'"),
    "empty": (b"", "the file is empty"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_refused_with_a_clear_message_and_nothing_is_booked(app, merchant, case):
    raw, expected = BAD[case]
    errors = rejected(app, merchant, ("bad.xml", raw))
    assert len(errors) == 1 and expected in errors[0], errors
    assert "Traceback" not in errors[0]
    assert count(Invoice) == count(Debtor) == count(Event) == 0
    assert stored_files(app) == []


def test_an_entity_is_never_expanded(app, merchant):
    with pytest.raises(einvoice.EInvoiceError) as exc:
        einvoice.read(files.EXTERNAL_ENTITY)
    assert "root:" not in str(exc.value)


def test_one_bad_file_in_a_zip_rejects_the_whole_zip(app, merchant):
    archive = zipped({"good.xml": sample("01.21a-INVOICE_ubl.xml"), "bad.xml": files.BILLION_LAUGHS,
                      "notes.txt": b"hello", "__MACOSX/._good.xml": b"junk"})
    errors = rejected(app, merchant, ("batch.zip", archive))
    assert errors == [
        "batch.zip/notes.txt: is not an .xml or .pdf file",
        "batch.zip/bad.xml: refused: the XML declares a DTD or entities (DOCTYPE is not allowed in an e-invoice)",
    ]
    assert count(Invoice) == 0 and stored_files(app) == []


def test_a_conflict_found_while_booking_rejects_everything_and_removes_stored_files(app, merchant):
    make_invoice(merchant, "112233")  # same number as 03.06a, other content
    archive = zipped({"a.xml": sample("01.21a-INVOICE_ubl.xml"), "b.xml": sample("03.06a-INVOICE_ubl.xml")})
    errors = rejected(app, merchant, ("batch.zip", archive))
    assert errors == ["batch.zip/b.xml: invoice 112233 already exists with different content"]
    assert count(Invoice) == 1 and stored_files(app) == []


def test_a_zip_member_that_unpacks_beyond_the_limit_is_refused_without_unpacking_it(app, merchant):
    archive = zipped({"bomb.xml": b"<a>" + b"0" * (21 * 1024 * 1024) + b"</a>"})
    assert len(archive) < 100_000
    errors = rejected(app, merchant, ("bomb.zip", archive))
    assert errors == ["bomb.zip/bomb.xml: is larger than 20 MiB unpacked"]


def test_a_damaged_zip_is_refused(app, merchant):
    errors = rejected(app, merchant, ("x.zip", b"PK\x03\x04 not really a zip"))
    assert len(errors) == 1 and errors[0].startswith("x.zip: not a readable ZIP file")


# --- the command line -----------------------------------------------------------------------------


def test_flask_invoices_import_takes_xml_pdf_and_zip(app, runner, merchant, tmp_path):
    (tmp_path / "a.xml").write_bytes(sample("01.21a-INVOICE_ubl.xml"))
    (tmp_path / "b.pdf").write_bytes(sample("EN16931_Einfach.pdf"))
    (tmp_path / "c.zip").write_bytes(zipped({"c.xml": sample("03.06a-INVOICE_ubl.xml")}))
    outputs = []
    for name in ("a.xml", "b.pdf", "c.zip"):
        result = runner.invoke(args=["invoices", "import", str(tmp_path / name), "--merchant", merchant.slug])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "1 invoice(s) created" in outputs[0]
    assert "warning: a.xml: BT-84: the invoice asks for payment to DE79000000001234567890" in outputs[0]
    assert count(Invoice) == 3


def test_flask_invoices_import_names_the_problem_and_books_nothing(app, runner, merchant, tmp_path):
    (tmp_path / "bad.pdf").write_bytes(files.pdf())
    result = runner.invoke(args=["invoices", "import", str(tmp_path / "bad.pdf"), "--merchant", merchant.slug])
    assert result.exit_code == 1
    assert "nothing imported, 1 bad file(s)" in result.output
    assert "bad.pdf: the PDF contains no embedded e-invoice" in result.output
    assert "Traceback" not in result.output
    assert count(Invoice) == 0


def test_flask_merchants_einvoice_settings_sets_term_and_customer_number(app, runner, merchant):
    result = runner.invoke(args=["merchants", "einvoice-settings", merchant.slug, "--payment-term-days", "30",
                                 "--customer-ref", "BT-10"])
    assert result.exit_code == 0, result.output
    db.session.refresh(merchant)
    assert (merchant.payment_term_days, merchant.einvoice_customer_ref) == (30, "BT-10")


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_minimum_profile_without_lines_is_still_an_invoice(app, merchant):
    result = run(app, merchant, ("minimum.xml", files.cii_minimum()))
    assert result.created == 1
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert (invoice.number, invoice.amount_minor, invoice.lines) == ("2020-1-MIN", 11900, None)


def test_the_same_file_twice_in_one_zip_is_one_invoice(app, merchant):
    raw = sample("03.06a-INVOICE_ubl.xml")
    result = run(app, merchant, ("batch.zip", zipped({"a.xml": raw, "copy/a.xml": raw})))
    assert (result.files, result.created, result.unchanged) == (2, 1, 1)
    assert count(Invoice) == 1 and len(stored_files(app)) == 1


def test_one_number_with_two_contents_in_one_zip_books_nothing(app, merchant):
    other = files.ubl(**{'<cbc:PayableAmount currencyID="EUR">233.00': '<cbc:PayableAmount currencyID="EUR">234.00'})
    errors = rejected(app, merchant, ("batch.zip", zipped({"a.xml": sample("01.21a-INVOICE_ubl.xml"), "b.xml": other})))
    assert errors == ["batch.zip/b.xml: invoice 18383 already exists with different content"]
    assert count(Invoice) == count(Debtor) == count(Event) == 0 and stored_files(app) == []


def test_a_repeat_in_a_batch_still_updates_the_debtor_and_its_events_carry_the_invoice(app, merchant):
    run(app, merchant, ("a.xml", sample("01.21a-INVOICE_ubl.xml")))
    moved = files.ubl(**{"<cbc:StreetName>Musterweg 1</cbc:StreetName>": "<cbc:StreetName>Neuer Weg 2</cbc:StreetName>"})
    again = run(app, merchant, ("a.xml", moved))
    assert (again.created, again.unchanged) == (0, 1)
    assert db.session.execute(select(Debtor.street)).scalar_one() == "Neuer Weg 2"
    created = db.session.execute(select(Event).where(Event.kind == "invoice.created")).scalar_one()
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert (created.invoice_id, created.debtor_id, created.data["amount_minor"]) == (invoice.id, invoice.debtor_id, 23300)
    assert invoice.next_action_on == invoice.issue_date  # as the API plans it
