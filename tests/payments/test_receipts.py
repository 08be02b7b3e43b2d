"""Receipts: after a bank statement, a card payment or a shop-reported payment, the debtor is told what arrived."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.messaging import worker
from portal.models import Message
from portal.payments.reconcile import import_statements
from tests.dunning.helpers import start_smtp
from tests.factories import make_api_key, make_invoice, make_merchant
from tests.payments.camt_builder import entry, statement

TODAY = date(2026, 1, 20)


@pytest.fixture
def smtp(app):
    inbox, controller = start_smtp(app)
    yield inbox
    controller.stop()


@pytest.fixture
def merchant(app):
    return make_merchant("garden", name="Gartenhaus Sonnenberg")


def _send():
    return worker.drain(now=datetime.now(timezone.utc) + timedelta(minutes=1))


def _text(mail) -> str:
    return re.sub(r"\s+", " ", mail.get_body(("plain",)).get_content().replace("\u00a0", " "))


def test_a_bank_statement_that_pays_an_invoice_sends_one_receipt_through_smtp(merchant, smtp):
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    data = statement(entry("119.00", ref="A1", rf=invoice.rf_reference, booked="2026-01-15"))
    import_statements(merchant, data, "stmt.xml", actor="test", today=TODAY)
    db.session.commit()
    assert _send().sent == 1
    (mail,) = smtp.messages
    assert mail["To"] == "max@example.de" and mail["Subject"] == "Zahlung erhalten – vielen Dank"
    text = _text(mail)
    assert "Am 15.01.2026 haben wir 119,00 € per Überweisung für die Rechnung RE-1 erhalten." in text
    assert "nichts mehr offen" in text and "/p/" in text
    import_statements(merchant, statement(entry("119.00", ref="A1", rf=invoice.rf_reference)), "again.xml", actor="test", today=TODAY)
    db.session.commit()
    assert _send().sent == 0  # the same entry again books nothing and tells nobody twice


def test_a_partial_payment_says_what_remains_and_an_overpayment_says_what_happens_to_the_credit(merchant, smtp):
    partly = make_invoice(merchant, "RE-1", amount="100.00")
    over = make_invoice(merchant, "RE-2", amount="50.00", debtor={"external_ref": "K-2", "email": "k2@example.de", "language": "en"})
    import_statements(merchant, statement(entry("40.00", ref="P1", rf=partly.rf_reference),
                                          entry("60.00", ref="P2", rf=over.rf_reference)), "s.xml", actor="test", today=TODAY)
    db.session.commit()
    assert _send().sent == 2 + bool(merchant.support_email)  # the receipts, and staff are told about the credit
    texts = {m["To"]: _text(m) for m in smtp.messages}
    assert "Offen sind noch 60,00 €" in texts["max@example.de"]
    english = texts["k2@example.de"]
    assert "we received €60.00 by bank transfer for invoice RE-2" in english
    assert "You paid €10.00 more than was due. We will refund this amount to you." in english


def test_the_receipt_says_what_happens_to_an_overpayment_as_the_merchant_set_it(merchant, smtp):
    """Refund or offset (Settings → Overpayments): the receipt promises exactly what the shop will do."""
    merchant.credit_handling = "offset"
    db.session.commit()
    over = make_invoice(merchant, "RE-3", amount="50.00")
    import_statements(merchant, statement(entry("62.50", ref="O1", rf=over.rf_reference)), "o.xml", actor="test", today=TODAY)
    db.session.commit()
    _send()
    text = " ".join(_text(next(m for m in smtp.messages if m["To"] == "max@example.de")).split())
    assert ("Sie haben 12,50 € mehr bezahlt als fällig war. Diesen Betrag verrechnen wir mit einer offenen oder Ihrer "
            "nächsten Rechnung; Ihre persönliche Seite zeigt ihn als Guthaben.") in text
    assert "erstatten" not in text


def test_a_payment_the_shop_reports_through_the_api_sends_a_receipt(merchant, client, smtp):
    invoice = make_invoice(merchant, "RE-9", amount="80.00")
    key = make_api_key(merchant)
    response = client.post("/api/v1/invoices/RE-9/payments", json={"amount": "80.00", "reference": "PP-1", "received_on": "2026-01-10"},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201
    again = client.post("/api/v1/invoices/RE-9/payments", json={"amount": "80.00", "reference": "PP-1", "received_on": "2026-01-10"},
                        headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 200
    receipts = db.session.scalars(select(Message).where(Message.purpose == "receipt")).all()
    assert len(receipts) == 1 and receipts[0].debtor_id == invoice.debtor_id
    _send()
    assert "über den Shop" in _text(smtp.messages[0])


def test_a_receipt_by_sms_fits_one_message(merchant, app):
    from portal.messaging.render import render_sms

    invoice = make_invoice(merchant, "RE-2026-000017", amount="1234.56")
    invoice.debtor.consent_sms, invoice.debtor.preferred_channel = True, "sms"
    db.session.commit()
    import_statements(merchant, statement(entry("1000.00", ref="S1", rf=invoice.rf_reference)), "s.xml", actor="test", today=TODAY)
    db.session.commit()
    message = db.session.scalars(select(Message).where(Message.purpose == "receipt")).one()
    assert message.channel == "sms"
    body = render_sms(message)
    assert "1.000,00" in body and "234,56" in body
