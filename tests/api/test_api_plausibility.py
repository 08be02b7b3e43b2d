"""A payment far beyond what is open is refused up to a plausibility limit and flagged for staff."""
from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal.extensions import db
from portal.messaging.render import render_email
from portal.models import Event, LedgerEntry, Message
from portal.timeline import sentence
from tests.api.openapi_contract import ContractClient
from tests.factories import make_api_key, make_invoice, make_merchant


@pytest.fixture
def shop(app):
    return make_merchant("garden", name="Gartenhaus", support_email="team@garden.example")


@pytest.fixture
def api(client, shop):
    return ContractClient(client, make_api_key(shop))


def pay(api, number, amount, ref):
    return api.post(f"/api/v1/invoices/{number}/payments", json={"amount": amount, "reference": ref})


def test_paying_the_invoice_once_more_is_plausible_and_booked_as_a_credit(api, shop):
    make_invoice(shop, "RE-1", amount="119.00", lines=[])
    assert pay(api, "RE-1", "238.00", "P-1").status_code == 201


def test_a_payment_far_beyond_the_open_amount_is_not_booked_and_staff_are_told(api, shop, app):
    invoice = make_invoice(shop, "RE-1", amount="119.00", lines=[])
    response = pay(api, "RE-1", "1000000.00", "P-TYPO")
    assert response.status_code == 422
    assert "at most 238.00 EUR" in response.get_json()["fields"]["amount"][0]
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "payment")) == 0
    db.session.refresh(invoice)
    assert invoice.open_minor == 11900

    event = db.session.execute(select(Event).where(Event.kind == "payment.implausible")).scalar_one()
    assert event.data["amount_minor"] == 100_000_000
    with app.test_request_context(), force_locale("de"):
        assert sentence(event) == "Zahlung über 1.000.000,00\xa0€ nicht gebucht: weit mehr als offen (Team benachrichtigt)"
    notice = db.session.execute(select(Message).where(Message.template == "staff_implausible_payment")).scalar_one()
    assert notice.recipient == "team@garden.example"
    mail = render_email(notice)  # the shop's language: German
    assert mail.subject == "Unplausible Zahlung nicht gebucht (RE-1)"
    assert ("Zahlung über 1.000.000,00\xa0€ gemeldet (Referenz P-TYPO), weit mehr als die offenen 119,00\xa0€"
            in mail.text)
    for raw in ("amount_minor", "100000000", "open_minor", "1000000.00"):
        assert raw not in mail.text and raw not in mail.html

    # The shop retrying the same call is refused again, staff are not told twice.
    assert pay(api, "RE-1", "1000000.00", "P-TYPO").status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Message).where(Message.template == "staff_implausible_payment")) == 1


def test_the_limit_is_a_setting(api, shop, app):
    app.config["PAYMENT_PLAUSIBLE_EXCESS_PERCENT"] = 10
    make_invoice(shop, "RE-1", amount="100.00", lines=[])
    assert pay(api, "RE-1", "110.01", "P-1").status_code == 422
    assert pay(api, "RE-1", "110.00", "P-2").status_code == 201


def test_a_repeat_of_a_booked_payment_stays_a_repeat(api, shop):
    make_invoice(shop, "RE-1", amount="119.00", lines=[])
    assert pay(api, "RE-1", "238.00", "P-1").status_code == 201
    assert pay(api, "RE-1", "238.00", "P-1").status_code == 200  # open is now -119.00; still the same payment
