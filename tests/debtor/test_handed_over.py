"""A claim handed over to a collection agency, as the debtor sees it: handed over (with the agency's
contact and the open amount), never "Alles bezahlt"; no payment offered while the agency collects."""
from __future__ import annotations

import re
from datetime import date

import pytest

from portal.extensions import db
from portal.models import CollectionAgency, Invoice
from tests.debtor.conftest import csrf_from, html, text

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def hand_over(invoice, day=date(2026, 3, 2)):
    """The state the dunning run leaves a handed-over claim in (portal/dunning/run.py)."""
    claim = db.session.get(Invoice, invoice.id)
    claim.status, claim.closed_on, claim.next_action_on = "handed_over", day, None
    db.session.commit()
    return claim


@pytest.fixture
def agency(shop):
    agency = CollectionAgency(merchant_id=shop.id, name="Inkasso Süd GmbH", street="Königstraße 1", postal_code="70173",
                              city="Stuttgart", contact_person="Frau Weber", email="forderungen@inkasso-sued.example",
                              phone="+49 711 123456", privacy_url="https://inkasso-sued.example/datenschutz",
                              legal_basis="art6_1_f", payee="agency")
    agency = db.session.merge(agency)  # replaces the factory's default agency
    db.session.commit()
    return agency


def test_a_handed_over_claim_shows_as_handed_over_with_the_agency_and_the_open_amount_never_as_all_paid(portal, invoices, agency):
    hand_over(invoices[0])
    hand_over(invoices[1])
    page = text(portal.get("/portal/"))
    assert "Alles bezahlt" not in page and "Nothing is open" not in page
    assert "2 Forderungen von Gartenhaus Sonnenberg liegen bei einem Inkassounternehmen." in page
    assert "Noch offen 169,00 €" in page  # 119.00 + 50.00
    assert "Rechnung RE-1 : 119,00 € offen, übergeben am 02.03.2026" in page
    assert "Inkasso Süd GmbH Königstraße 1 70173 Stuttgart" in page
    assert "Ansprechperson: Frau Weber" in page and "forderungen@inkasso-sued.example" in page and "+49 711 123456" in page
    assert not ISO_DATE.search(page) and "handed_over" not in page
    detail = text(portal.get(f"/portal/invoices/{invoices[0].id}"))
    assert "Beim Inkassounternehmen" in detail
    assert "Wir haben diese Forderung am 02.03.2026 an ein Inkassounternehmen übergeben. Offen sind noch 119,00 €." in detail
    assert "Inkasso Süd GmbH" in detail and "Geschlossen" not in detail
    english = text(portal.get("/portal/?lang=en", headers={"Accept-Language": "en"}))
    assert "Nothing is open" not in english


def test_while_the_agency_collects_the_portal_offers_no_payment_for_handed_over_claims(portal, invoices, agency):
    hand_over(invoices[0])
    hand_over(invoices[1])
    overview = html(portal.get("/portal/"))
    assert 'href="/portal/pay' not in overview and "Jetzt bezahlen" not in overview
    assert "Bitte zahlen Sie ab sofort ausschließlich an Inkasso Süd GmbH" in text(portal.get("/portal/"))
    detail = html(portal.get(f"/portal/invoices/{invoices[0].id}"))
    assert "Diese Rechnung bezahlen" not in detail and "/portal/pay" not in detail
    pay = text(portal.get("/portal/pay"))
    assert "Alles bezahlt" not in pay
    assert "Ihre offenen Forderungen liegen bei einem Inkassounternehmen und können hier nicht bezahlt werden." in pay
    # A forged form for the handed-over claim starts nothing.
    token = csrf_from(html(portal.get("/portal/")))
    response = portal.post("/portal/pay", data={"csrf_token": token, "invoice": str(invoices[0].id), "method": "transfer"})
    assert response.status_code == 303 and "/portal/pay/transfer" not in response.headers["Location"]
    assert portal.get(f"/portal/pay/transfer?invoice={invoices[0].id}").status_code == 303


def test_an_open_invoice_beside_a_handed_over_claim_stays_payable_and_only_it(portal, invoices, agency):
    hand_over(invoices[0])
    page = text(portal.get("/portal/"))
    assert "Sie haben 1 offene Rechnung bei Gartenhaus Sonnenberg." in page and "Jetzt bezahlen" in page
    assert "An ein Inkassounternehmen übergeben" in page and "Rechnung RE-1 : 119,00 € offen" in page
    pay = html(portal.get("/portal/pay"))
    assert f'name="invoice" value="{invoices[1].id}"' in pay and f'name="invoice" value="{invoices[0].id}"' not in pay


def test_when_the_shop_still_collects_a_handed_over_claim_can_be_paid_in_the_portal(portal, invoices, agency):
    agency.payee = "shop"
    db.session.commit()
    hand_over(invoices[0])
    hand_over(invoices[1])
    page = text(portal.get("/portal/"))
    assert "Jetzt bezahlen" in page and "Sie können weiterhin an uns zahlen" in page
    pay = html(portal.get("/portal/pay"))
    assert f'name="invoice" value="{invoices[0].id}"' in pay
    token = csrf_from(pay)
    response = portal.post("/portal/pay", data={"csrf_token": token, "invoice": str(invoices[0].id), "method": "transfer"})
    assert "/portal/pay/transfer" in response.headers["Location"]
    transfer = text(portal.get(response.headers["Location"]))
    assert "119,00 €" in transfer and "DE89 3704 0044 0532 0130 00" in transfer


def test_without_agency_settings_a_handed_over_claim_is_still_shown_and_not_payable(portal, invoices):
    db.session.delete(db.session.get(CollectionAgency, invoices[0].merchant_id))  # handed over before it was removed
    db.session.commit()
    hand_over(invoices[0])
    hand_over(invoices[1])
    page = text(portal.get("/portal/"))
    assert "Alles bezahlt" not in page and "Das Inkassounternehmen meldet sich bei Ihnen." in page
    assert "Jetzt bezahlen" not in page
