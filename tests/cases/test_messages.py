"""Every case message renders in German and English, by email and SMS (one SMS, link included)."""
import pytest

from portal.extensions import db
from portal.messaging import gsm7
from portal.messaging.outbox import enqueue
from portal.messaging.render import render_email, render_sms
from tests.factories import make_invoice, make_merchant

RATES = [{"number": 1, "due_on": "2026-03-12", "amount_minor": 10000, "reference": "RF18539007547034"},
         {"number": 2, "due_on": "2026-04-12", "amount_minor": 10000, "reference": "RF45G72UUR"}]
CASES = {
    "plan_received": {},
    "plan_confirmed": {"rates": RATES, "currency": "EUR"},
    "plan_countered": {"rates_count": 6, "first_due": "2026-03-20", "note": "Sechs Raten sind möglich."},
    "plan_rejected": {"note": "Leider nicht möglich."},
    "plan_rate_reminder": {"rate_number": 2, "due_on": "2026-04-12", "amount_minor": 10000, "currency": "EUR", "reference": "RF45G72UUR"},
    "plan_broken": {"missed_rate": 2, "due_on": "2026-04-12", "currency": "EUR"},
    "promise_confirmed": {"promised_on": "2026-03-12"},
    "promise_reminder": {"promised_on": "2026-03-12"},
    "promise_broken": {"promised_on": "2026-03-12"},
    "dispute_received": {},
    "dispute_resolved": {"full": False, "note": "Wir schreiben 20 € gut."},
    "dispute_rejected": {"note": "Zustellung belegt.", "pay_by": "2026-03-20"},
    "case_reply": {"body": "Wir prüfen das."},
}
EXPECT = {
    "de": {"plan_confirmed": "Rate 1: 100,00\xa0€ bis 12.03.2026", "promise_confirmed": "bis zum 12.03.2026",
           "plan_rate_reminder": "RF45G72UUR", "dispute_rejected": "bis zum 20.03.2026"},
    "en": {"plan_confirmed": "Installment 1: €100.00 by Mar 12, 2026", "promise_confirmed": "by Mar 12, 2026",
           "plan_rate_reminder": "RF45G72UUR", "dispute_rejected": "by Mar 20, 2026"},
}


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("template", sorted(CASES))
def test_case_messages_render_as_email_and_single_sms(app, template, language):
    app.config["BASE_URL"] = "https://pay.example.de"  # a realistic length for the SMS budget
    merchant = make_merchant(name="Gartenhaus Sonnenberg")
    invoice = make_invoice(merchant, "RE-1", debtor={"language": language, "name": "Jürgen Weiß"})
    debtor = invoice.debtor
    debtor.consent_sms = True
    message = enqueue(debtor=debtor, purpose="case_test", template=template, channels=["email"],
                      dedupe_key=f"t:{template}:{language}", context=CASES[template], invoices=[(invoice, f"t:{template}")])
    db.session.commit()
    email = render_email(message)
    assert email.subject and "{" not in email.subject
    assert "Jürgen Weiß" in email.text and "/p/" in email.text
    assert "/p/" in email.html
    expected = EXPECT[language].get(template)
    if expected:
        assert expected in email.text
    if language == "de":
        assert "Mit freundlichen Grüßen" in email.text
    sms = render_sms(message)
    assert "/p/" in sms and gsm7.septets(sms) <= 160
