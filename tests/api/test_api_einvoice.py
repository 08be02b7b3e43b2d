"""The shop API with an e-invoice as the body: the JSON API's answers (201, 200, 409, 422), keyed by business term."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Invoice, LedgerEntry
from tests.api.openapi_contract import ContractClient
from tests.factories import make_api_key, make_invoice, make_merchant, shop_today
from tests.intake import einvoice_files as files
from tests.intake.einvoice_files import sample


@pytest.fixture
def merchant(app):
    return make_merchant()


@pytest.fixture
def api(client, merchant):
    return ContractClient(client, make_api_key(merchant))


def post(api, raw: bytes, content_type: str = "application/xml"):
    return api.post("/api/v1/invoices", data=raw, content_type=content_type)


def count(model) -> int:
    return db.session.scalar(select(func.count(model.id)))


def test_an_xrechnung_body_creates_the_invoice_with_201(api, app):
    response = post(api, sample("01.21a-INVOICE_ubl.xml"))
    assert response.status_code == 201
    body = response.get_json()
    assert (body["number"], body["amount"], body["open_amount"], body["due_date"]) == ("18383", "233.00", "233.00", "2020-12-27")
    assert body["debtor"]["external_ref"] == "10099"
    assert body["einvoice"]["format"] == "XRechnung (UBL 2.1)"
    assert body["einvoice"]["due_date_from"] == "BT-9"
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert (Path(app.config["STORAGE_DIR"]) / invoice.einvoice_file).read_bytes() == sample("01.21a-INVOICE_ubl.xml")


def test_a_zugferd_pdf_body_creates_the_invoice_and_keeps_the_pdf(api, app):
    response = post(api, sample("EN16931_Einfach.pdf"), "application/pdf")
    assert response.status_code == 201
    assert response.get_json()["einvoice"]["due_date_from"] == "BT-20"
    invoice = db.session.execute(select(Invoice)).scalar_one()
    assert invoice.pdf_file == invoice.einvoice_file
    assert (Path(app.config["STORAGE_DIR"]) / invoice.pdf_file).read_bytes() == sample("EN16931_Einfach.pdf")


def test_an_identical_repeat_answers_200_with_the_same_invoice(api):
    first = post(api, sample("01.21a-INVOICE_ubl.xml")).get_json()
    second = post(api, sample("01.21a-INVOICE_ubl.xml"))
    assert second.status_code == 200
    assert second.get_json()["rf_reference"] == first["rf_reference"]
    assert count(Invoice) == 1


def test_the_same_number_with_other_content_answers_409_with_the_existing_invoice(api):
    post(api, sample("01.21a-INVOICE_ubl.xml"))
    changed = files.ubl(**{'<cbc:PayableAmount currencyID="EUR">233.00': '<cbc:PayableAmount currencyID="EUR">234.00'})
    response = post(api, changed)
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "conflict"
    assert body["invoice"]["amount"] == "233.00"
    assert count(Invoice) == 1


def test_a_json_invoice_and_the_same_number_as_an_e_invoice_conflict(api, merchant):
    make_invoice(merchant, "18383")
    assert post(api, sample("01.21a-INVOICE_ubl.xml")).status_code == 409


def test_invalid_terms_answer_422_keyed_by_business_term(api):
    bad = files.ubl(**{
        '<cbc:PayableAmount currencyID="EUR">233.00': '<cbc:PayableAmount currencyID="EUR">233,00',
        "<cbc:DueDate>2020-12-27": "<cbc:DueDate>27.12.2020",
    })
    response = post(api, bad)
    assert response.status_code == 422
    fields = response.get_json()["fields"]
    assert fields == {
        "BT-9": ["'27.12.2020' is not a date (YYYY-MM-DD)"],
        "BT-115": ["'233,00' is not an amount (XML amounts are written like 1234.56)"],
    }
    assert count(Invoice) == 0


@pytest.mark.parametrize("case, raw, content_type, expected", [
    ("dtd", files.BILLION_LAUGHS, "application/xml", "DTD or entities"),
    ("pdf without invoice", files.pdf(), "application/pdf", "no embedded e-invoice"),
    ("pdf with two", files.pdf({"factur-x.xml": b"<a/>", "zugferd-invoice.xml": b"<a/>"}), "application/pdf", "several candidate"),
    ("wrong namespace", files.ubl(**{"xsd:Invoice-2": "xsd:Invoice-3"}), "text/xml", "wrong namespace"),
    ("huge", b"<a>" + b" " * (21 * 1024 * 1024) + b"</a>", "application/xml", "larger than 20 MB"),
])
def test_bad_bodies_answer_422_naming_the_problem(api, case, raw, content_type, expected):
    response = post(api, raw, content_type)
    assert response.status_code == 422
    messages = response.get_json()["fields"][""]
    assert len(messages) == 1 and expected in messages[0]
    assert count(Invoice) == 0


def test_a_warning_about_another_iban_is_in_the_answer(api):
    body = post(api, sample("01.21a-INVOICE_ubl.xml")).get_json()
    [warning] = body["einvoice"]["warnings"]
    assert warning["term"] == "BT-84"
    assert "DE79000000001234567890" in warning["message"]


def test_a_credit_note_credits_its_invoice_201_then_200_on_a_repeat(api, merchant):
    make_invoice(merchant, "PRG1502168", amount="10000.00", lines=[])
    first = post(api, sample("maxRechnung_creditnote.xml"))
    assert first.status_code == 201
    body = first.get_json()
    assert body["credit_note"]["number"] == "1234567890"
    assert body["credit_note"]["amount"] == "8320.00"
    assert body["credit_note"]["credits"] == "PRG1502168"
    assert body["invoice"]["open_amount"] == "1680.00"
    again = post(api, sample("maxRechnung_creditnote.xml"))
    assert again.status_code == 200
    assert again.get_json()["invoice"]["open_amount"] == "1680.00"
    assert count(LedgerEntry) == 1
    assert count(Invoice) == 1


def test_a_credit_note_with_the_same_number_and_another_amount_answers_409(api, merchant):
    make_invoice(merchant, "PRG1502168", amount="10000.00", lines=[])
    post(api, sample("maxRechnung_creditnote.xml"))
    raw = sample("maxRechnung_creditnote.xml").replace(
        b'<cbc:PayableAmount currencyID="EUR">8320.00', b'<cbc:PayableAmount currencyID="EUR">8000.00'
    )
    response = post(api, raw)
    assert response.status_code == 409
    assert count(LedgerEntry) == 1


def test_a_credit_note_for_a_cancelled_invoice_answers_409(api, merchant):
    from datetime import date

    from portal import ledger

    invoice = make_invoice(merchant, "PRG1502168", amount="10000.00", lines=[])
    ledger.cancel(invoice, on=shop_today(), actor="test")
    db.session.commit()
    response = post(api, sample("maxRechnung_creditnote.xml"))
    assert response.status_code == 409
    assert "cancelled" in response.get_json()["message"]


def test_another_merchants_invoice_is_not_credited(api, merchant):
    other = make_merchant()
    make_invoice(other, "PRG1502168", amount="10000.00", lines=[])
    response = post(api, sample("maxRechnung_creditnote.xml"))
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"BG-3": ["the credited invoice PRG1502168 is not in Settle"]}
