"""Company details (§ 37a HGB, § 35a GmbHG, § 80 AktG): entered by admins in the settings, required by legal
form with a clear message, printed at the foot of every email."""
from __future__ import annotations

from datetime import timedelta

import pytest

from portal.dunning.run import run
from portal.extensions import db
from portal.messaging.render import render_email
from tests.dunning.helpers import DUE, make_debtor_invoice, messages
from tests.office.test_settings import _admin, _form

GMBH = {"legal_form": "gmbh", "registered_office": "Stuttgart", "register_court": "Amtsgericht Stuttgart",
        "register_number": "HRB 123456", "managing_directors": "Anna Sonnenberg, Paul Sonnenberg", "vat_id": "de 136 695 976"}


def _save(client, **fields):
    data = _form(client)
    data.update(fields)
    return client.post("/office/settings", data=data, headers={"Accept-Language": "de"})


@pytest.mark.parametrize("legal_form,missing,message", [
    ("gmbh", "managing_directors", "Bei Ihrer Rechtsform gehören alle Geschäftsführerinnen und Geschäftsführer"),
    ("ek", "register_number", "Bei Ihrer Rechtsform gehört die Registernummer auf jeden Brief"),
    ("ag", "supervisory_chair", "Eine AG muss auf jedem Brief und jeder E-Mail den Vorsitz des Aufsichtsrats angeben."),
    ("gmbh_co_kg", "general_partner", "Eine GmbH &amp; Co. KG muss ihre persönlich haftende Gesellschafterin"),
])
def test_a_legal_form_that_needs_a_detail_refuses_to_save_without_it(client, merchant_a, legal_form, missing, message):
    _admin(client, merchant_a)
    fields = {**GMBH, "legal_form": legal_form, "general_partner": "Sonnenberg Verwaltungs GmbH, Sitz Stuttgart, AG Stuttgart HRB 1",
              "supervisory_chair": "Dr. Eva Berg", missing: ""}
    response = _save(client, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert merchant_a.legal_form is None and merchant_a.register_court is None


def test_an_invalid_vat_id_is_refused_with_an_example(client, merchant_a):
    _admin(client, merchant_a)
    response = _save(client, **{**GMBH, "vat_id": "DE123"})
    assert response.status_code == 422
    assert "keine gültige USt-IdNr. (für Deutschland: DE und 9 Ziffern" in response.get_data(as_text=True)


def test_a_sole_trader_needs_no_register_entry(client, merchant_a):
    _admin(client, merchant_a)
    assert _save(client, legal_form="sole").status_code == 303
    db.session.expire_all()
    assert merchant_a.legal_form == "sole"


def test_saved_company_details_are_audited_and_printed_at_the_foot_of_every_email(client, merchant_a, app):
    _admin(client, merchant_a)
    page = client.get("/office/settings", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Angaben zum Unternehmen" in page and "Registergericht" in page
    assert _save(client, **GMBH).status_code == 303
    db.session.expire_all()
    assert merchant_a.vat_id == "DE136695976" and merchant_a.managing_directors == "Anna Sonnenberg, Paul Sonnenberg"
    app.config["BASE_URL"] = "https://pay.example.de"
    make_debtor_invoice(merchant_a, "standard", "RE-1")
    run(today=DUE + timedelta(days=21))
    [message] = messages()
    email = render_email(message)
    expected = ("Sitz: Stuttgart · Registergericht: Amtsgericht Stuttgart, HRB 123456 · "
                "Geschäftsführung: Anna Sonnenberg, Paul Sonnenberg · USt-IdNr.: DE136695976")
    assert expected in email.text and expected in email.html


def test_an_ag_names_its_management_board_and_supervisory_chair(client, merchant_a, app):
    _admin(client, merchant_a)
    assert _save(client, **{**GMBH, "legal_form": "ag", "supervisory_chair": "Dr. Eva Berg"}).status_code == 303
    app.config["BASE_URL"] = "https://pay.example.de"
    make_debtor_invoice(merchant_a, "standard", "RE-1", language="en")
    run(today=DUE + timedelta(days=21))
    text = render_email(messages()[0]).text
    assert "Management board: Anna Sonnenberg, Paul Sonnenberg · Chair of the supervisory board: Dr. Eva Berg" in text


def test_a_registered_name_with_a_legal_form_but_none_chosen_is_pointed_out(client, merchant_a):
    merchant_a.legal_name = "Alpha Shop GmbH"
    db.session.commit()
    _admin(client, merchant_a)
    page = client.get("/office/settings", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Ihre Firma enthält eine Rechtsform: Bitte wählen Sie sie aus" in page
