"""The simulator page: staff see the next 120 days in their language, what a customer's action changes,
and nothing is written or sent."""
from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Policy, User
from tests.factories import make_invoice, make_merchant, shop_today
from tests.office.conftest import sign_in

RAW = re.compile(r"\b(notice_1|notice_2|pre_due|final_notice|default_notice|handover_notice|amount_minor|"
                 r"open_link|pay_half|message\.sent|ledger\.\w+|\d{4}-\d{2}-\d{2})\b")


def _counts() -> Counter:
    return Counter({t.name: db.session.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in db.metadata.sorted_tables})


def _overdue_invoice(merchant, number="RE-1001", days_overdue=10, amount="1234.56", **debtor):
    due = shop_today() - timedelta(days=days_overdue)
    person = {"external_ref": "K-77", "kind": "person", "name": "Erika Beispiel", "email": "erika@example.de",
              "language": "de", "date_of_birth": "1980-05-05",
              "address": {"street": "Hauptstraße 5", "postal_code": "70173", "city": "Stuttgart", "country": "DE"},
              **debtor}
    return make_invoice(merchant, number, issue_date=(due - timedelta(days=14)).isoformat(), due_date=due.isoformat(),
                        amount=amount, lines=[{"description": "Gartenbank", "quantity": 1, "amount": amount}], debtor=person)


def _text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_an_invoice_day_by_day_in_german_with_dates_amounts_and_step_names(signed_in, merchant_a):
    invoice = _overdue_invoice(merchant_a)
    before = _counts()
    response = signed_in.get("/office/simulator", query_string={"run": "1", "mode": "invoice", "number": "RE-1001"})
    assert response.status_code == 200
    text = _text(response)
    assert _counts() == before
    assert "Zahlungserinnerung per E-Mail" in text or "Zahlungserinnerung per E-Mail versandt" in text, text[:3000]
    assert "1. Mahnung" in text and "Letzte Mahnung" in text
    assert "1.234,56 €" in text
    assert re.search(r"Mahngebühr von \d+,\d\d\s€ berechnet", text)  # the fee of the letter (final notice)
    assert re.search(r"Im Verzug ab \d\d\.\d\d\.\d{4}", text)
    assert "Übergabe" in text
    today = shop_today()
    assert today.strftime("%d.%m.%Y") in text
    assert not RAW.findall(text), RAW.findall(text)
    assert invoice.status == "open"


def test_the_same_page_in_english(signed_in, staff_a, merchant_a):
    _overdue_invoice(merchant_a, language="en")
    db.session.get(User, staff_a.id).language = "en"
    db.session.commit()
    text = _text(signed_in.get("/office/simulator", query_string={"run": "1", "mode": "invoice", "number": "RE-1001"}))
    assert "Payment reminder sent by email" in text, text[:2000]
    assert "€1,234.56" in text
    assert "In default from" in text
    assert not RAW.findall(text), RAW.findall(text)


def test_paying_half_on_a_day_shows_what_changes(signed_in, merchant_a):
    _overdue_invoice(merchant_a, amount="100.00")
    before = _counts()
    response = signed_in.get("/office/simulator", query_string={
        "run": "1", "mode": "invoice", "number": "RE-1001", "action": "pay_half", "day": "3"})
    assert response.status_code == 200
    text = _text(response)
    assert "Wenn die Kundin oder der Kunde am Tag 3" in text or "am Tag 3" in text
    assert "50,00 €" in text  # half of it is paid, half stays open
    assert "neu" in text
    assert _counts() == before


def test_a_promise_pauses_the_reminders_until_the_promised_day(signed_in, merchant_a):
    _overdue_invoice(merchant_a)
    response = signed_in.get("/office/simulator", query_string={
        "run": "1", "mode": "invoice", "number": "RE-1001", "action": "promise", "day": "2", "promise_days": "10"})
    text = _text(response)
    assert response.status_code == 200
    assert "entfällt" in text  # steps of the baseline that no longer happen on their day
    too_far = signed_in.get("/office/simulator", query_string={
        "run": "1", "mode": "invoice", "number": "RE-1001", "action": "promise", "day": "2", "promise_days": "400"})
    assert too_far.status_code == 422
    assert "bis zu 30 Tage" in _text(too_far)


def test_opening_the_link_changes_nothing_and_says_so(signed_in, merchant_a):
    _overdue_invoice(merchant_a)
    text = _text(signed_in.get("/office/simulator", query_string={
        "run": "1", "mode": "invoice", "number": "RE-1001", "action": "open_link", "day": "1"}))
    assert "Portal-Link geöffnet" in text or "Link" in text
    assert "keine Änderung" in text.lower() or "ändert nichts" in text


def test_a_what_if_invoice_for_an_older_customer_gets_letters(signed_in, merchant_a):
    before = _counts()
    response = signed_in.get("/office/simulator", query_string={
        "run": "1", "mode": "whatif", "amount": "89,90", "kind": "person", "age": "75", "language": "de",
        "channel": "letter", "due": "-5"})
    text = _text(response)
    assert response.status_code == 200
    assert "per Brief" in text
    assert "89,90 €" in text
    assert _counts() == before


def test_a_customer_group_and_a_customer(signed_in, merchant_a):
    _overdue_invoice(merchant_a, "RE-1", days_overdue=10)
    _overdue_invoice(merchant_a, "RE-2", days_overdue=40, external_ref="K-78", name="Max Beispiel")
    standard = db.session.execute(select(Policy).where(Policy.merchant_id == merchant_a.id, Policy.name == "Standard")).scalar_one()
    text = _text(signed_in.get("/office/simulator", query_string={"run": "1", "mode": "group", "group": standard.id}))
    assert "RE-1" in text and "RE-2" in text
    text = _text(signed_in.get("/office/simulator", query_string={"run": "1", "mode": "debtor", "customer": "K-78"}))
    assert "RE-2" in text and "RE-1 " not in text


def test_another_merchants_invoice_is_not_found(signed_in, merchant_a):
    other = make_merchant("gamma", name="Gamma")
    _overdue_invoice(other, "RE-9")
    response = signed_in.get("/office/simulator", query_string={"run": "1", "mode": "invoice", "number": "RE-9"})
    assert response.status_code == 422
    assert "Keine Rechnung mit dieser Nummer" in _text(response)
    other_policy = db.session.execute(select(Policy.id).where(Policy.merchant_id == other.id)).scalars().first()
    response = signed_in.get("/office/simulator", query_string={"run": "1", "mode": "group", "group": other_policy})
    assert response.status_code == 422


def test_the_form_alone(signed_in, merchant_a):
    response = signed_in.get("/office/simulator")
    assert response.status_code == 200
    assert "Simulator" in _text(response)


def test_signed_out_staff_are_sent_to_the_login(client, app):
    assert client.get("/office/simulator").status_code in (302, 303)


def test_a_customer_without_open_invoices_is_told_so(signed_in, merchant_a):
    invoice = _overdue_invoice(merchant_a)
    from portal import ledger

    ledger.book(invoice, kind="payment", amount_minor=invoice.open_minor, source="staff", external_ref="paid-in-full",
                booked_on=shop_today(), actor="test")
    db.session.commit()
    assert invoice.status == "paid"
    text = _text(signed_in.get("/office/simulator", query_string={"run": "1", "mode": "debtor", "customer": "K-77"}))
    assert "keine offene Rechnung zum Simulieren" in text
