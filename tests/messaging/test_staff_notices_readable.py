"""Every notice to the merchant's staff reads as prose in German and English: dates as 16.12.2026 or
Dec 16, 2026 and amounts as 12,50 € — never ISO dates, "12.50 EUR" or the context's internal keys."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from portal.dunning import handover
from portal.extensions import db
from portal.messaging import outbox
from portal.messaging.render import render_email
from portal.models import Message
from tests.factories import make_merchant
from tests.messaging.test_wording import folded, visible

DAY = date(2026, 12, 16)

# What each producer writes into the message context (portal/dunning/run.py, interest.py, handover.py,
# payments/credits.py, plausibility.py, stripe_events.py, cases/service.py, messaging/worker.py, shop_webhooks/delivery.py).
CONTEXTS = {
    "staff_handover": {"today": DAY.isoformat(), "values": ["RE-1", "RE-2"]},
    "staff_unreachable": {"today": DAY.isoformat(), "values": ["RE-1"]},
    "staff_agency_missing": {"today": DAY.isoformat(), "values": ["RE-1"]},
    "staff_base_rate": {"today": DAY.isoformat(), "values": ["2027-01-01"]},
    "staff_interest_supplement": {"today": DAY.isoformat(), "values": ["RE-1"]},
    "staff_small_remainder": {"invoice_number": "RE-1", "amount": "0.50 EUR", "tolerance": "3.00 EUR",
                              "amount_minor": 50, "tolerance_minor": 300, "currency": "EUR", "invoice_id": 1},
    "staff_credit": {"invoice_number": "RE-1", "amount": "10.00 EUR", "amount_minor": 1000, "currency": "EUR",
                     "handling": "refund", "invoice_id": 1},
    "staff_implausible_payment": {"invoice_number": "RE-1", "amount": "5000.00", "open": "50.00", "currency": "EUR",
                                  "amount_minor": 500000, "open_minor": 5000, "source": "shop", "reference": "TX-9"},
    "staff_payment_disputed": {"dispute_id": "dp_1", "reason": "fraudulent", "amount_minor": 5000, "currency": "EUR",
                               "invoice_numbers": ["RE-1"]},
    "staff_new_case": {"case_id": 1, "kind": "plan", "debtor_name": "Erika Muster", "invoices": ["RE-1"]},
    "staff_dead_letter": {"message_id": 7, "error": "mailbox unavailable", "debtor": "Erika Muster",
                          "template": "first_notice"},
    "staff_in_doubt": {"message_id": 7, "channel": "email", "debtor": "Erika Muster", "template": "first_notice",
                       "error": "in doubt: email: handed over by a worker that stopped before the answer was recorded"},
    "staff_webhook_disabled": {"endpoint_id": 1, "url": "https://shop.example/hook",
                               "failing_since": datetime(2026, 12, 16, 9, 30, tzinfo=timezone.utc).isoformat(),
                               "description": ""},
}
RAW = re.compile(r"\d{4}-\d{2}-\d{2}|_minor|notice_1|=|\bEUR\b")
DE_DAY = {"de": "16.12.2026", "en": "Dec 16, 2026"}


def test_every_staff_notice_template_is_covered():
    names = {p.stem for p in (Path(__file__).parents[2] / "templates" / "email").glob("staff_*.txt")}
    assert names == set(CONTEXTS) | {handover.STAFF_TEMPLATE}


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_staff_notice_shows_no_iso_dates_or_raw_keys(app, language, template):
    merchant = make_merchant(name="Gartenhaus", default_language=language)
    message = outbox.enqueue_staff_notice(merchant=merchant, template=template, dedupe_key=f"t:{template}",
                                          context=CONTEXTS[template])
    db.session.commit()
    email = render_email(message)
    for part in (email.subject, folded(email.text), visible(email.html)):
        assert part.strip()
        assert not RAW.search(part.replace("https://shop.example/hook", "")), (template, language, part)
    text = folded(email.text)
    if "today" in CONTEXTS[template]:
        assert DE_DAY[language] in text
    if template == "staff_payment_disputed":
        assert ("Betrugsverdacht" if language == "de" else "suspected fraud") in text and "fraudulent" not in text
    if template in ("staff_dead_letter", "staff_in_doubt"):
        assert "Erika Muster" in text  # the customer is named, not "-"
    if template in ("staff_small_remainder", "staff_credit"):
        assert ("0,50 €" if template == "staff_small_remainder" else "10,00 €") in text.replace("\u00a0", " ") \
            if language == "de" else "€" in text


@pytest.mark.parametrize("language", ["de", "en"])
def test_payment_after_handover_notice_names_the_day_readably(app, language):
    merchant = make_merchant(name="Gartenhaus", default_language=language)
    handover.payment_after_handover(merchant_id=merchant.id, invoice_id=1, debtor_id=1, number="RE-1", amount_minor=2500,
                                    currency="EUR", source="bank", external_ref="ref-1", booked_on=DAY, actor="test")
    db.session.commit()
    message = db.session.query(Message).filter_by(template=handover.STAFF_TEMPLATE).one()
    email = render_email(message)
    for part in (email.subject, folded(email.text), visible(email.html)):
        assert not RAW.search(part), (language, part)
    assert DE_DAY[language] in folded(email.text)
    assert ("25,00 €" if language == "de" else "€25.00") in folded(email.text).replace("\u00a0", " ")
