"""The "new link" message in both languages: email with subject, and an SMS that fits one GSM-7 message."""
from __future__ import annotations

import pytest

from portal.messaging import gsm7
from portal.messaging.outbox import enqueue
from portal.messaging.render import render_email, render_sms
from tests.factories import make_invoice, make_merchant

SHORT_BASE = "https://pay.ex.de"


@pytest.mark.parametrize("language,subject,greeting", [
    ("de", "Ihr neuer Link zu Ihren Rechnungen von", "Guten Tag Max Mustermann,"),
    ("en", "Your new link to your invoices from", "Hello Max Mustermann,"),
])
def test_new_link_email_has_subject_link_and_no_subject_in_the_body(app, language, subject, greeting):
    app.config["BASE_URL"] = SHORT_BASE
    merchant = make_merchant(name="Gartenhaus Sonnenberg")
    debtor = make_invoice(merchant, debtor={"language": language}).debtor
    message = enqueue(debtor=debtor, purpose="new_link", template="new_link", channels=["email"], dedupe_key="t")
    email = render_email(message)
    assert email.subject.startswith(subject) and "Gartenhaus Sonnenberg" in email.subject
    assert email.text.lstrip().startswith(greeting)
    assert f"{SHORT_BASE}/p/" in email.text and f'href="{SHORT_BASE}/p/' in email.html
    assert subject not in email.text.split("\n", 1)[0] or language == "x"
    assert "<script" not in email.html and "<img" not in email.html  # no tracking pixels


@pytest.mark.parametrize("language", ["de", "en"])
def test_new_link_sms_fits_one_gsm7_message_even_for_a_long_shop_name(app, language):
    app.config["BASE_URL"] = SHORT_BASE
    merchant = make_merchant(name="Großhandel für Gartenbedarf und Terrassenmöbel Sonnenberg GmbH & Co. KG")
    debtor = make_invoice(merchant, debtor={"language": language, "email": None, "phone": "+49 170 1234567"}).debtor
    debtor.consent_sms = True
    message = enqueue(debtor=debtor, purpose="new_link", template="new_link", channels=["sms"], dedupe_key="s")
    body = render_sms(message)
    link = body[body.index(SHORT_BASE):].split()[0]
    assert len(link) <= 60
    assert gsm7.septets(body) is not None and gsm7.septets(body) <= 160
    assert ("neuer Link" in body) if language == "de" else ("new link" in body)
