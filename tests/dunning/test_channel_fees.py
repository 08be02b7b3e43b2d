"""Fees that hold in court (§ 280, § 286 BGB; § 288 (5) BGB): a dunning fee is the actual cost of the channel
used, the notice that causes default is free, the 40 € business flat fee is a "Verzugspauschale", never a
"Mahngebühr", wherever a person reads it."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from portal.domain import charges as law
from portal.domain.dunning import StepRule
from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import render
from portal.models import LedgerEntry, Message
from tests.debtor.conftest import open_link
from tests.dunning.helpers import DUE, debtor_of, make_debtor_invoice, messages
from tests.factories import make_merchant, make_user
from tests.office.conftest import sign_in


def test_a_step_costs_per_channel_a_letter_at_most_its_postage_and_print_email_and_sms_nothing_by_default():
    step = StepRule("notice_2", 35, "due", "reminder", fee_minor=250)
    assert step.fee_for("letter", letter_cost_minor=145) == 145  # min(2,50 €, 0,95 € postage + 0,50 € print)
    assert step.fee_for("letter", letter_cost_minor=300) == 250  # never more than the step asks
    assert step.fee_for("email", letter_cost_minor=145) == 0
    assert step.fee_for("sms", letter_cost_minor=145) == 0
    sms = StepRule("notice_2", 35, "due", "reminder", fee_minor=250, fee_sms_minor=9)
    assert sms.fee_for("sms", letter_cost_minor=145) == 9  # the merchant's own SMS costs
    # ... and the cap holds on top of it.
    [fee] = law.fees_for_step(step_key="notice_2", step_fee_minor=step.fee_for("letter", 300), fee_cap_minor=200,
                              in_default=True, business=False, flat_fee_enabled=False, flat_fee_booked=False,
                              currency="EUR", channel="letter")
    assert (fee.amount_minor, fee.data["channel"]) == (200, "letter")


def test_the_notice_that_causes_default_is_free_even_by_letter(app):
    merchant = make_merchant(letter_cost_minor=145)
    invoice = make_debtor_invoice(merchant, "older", "RE-1")  # letters first
    for day in (7, 21):
        run(today=DUE + timedelta(days=day))
    assert [m.template for m in messages()] == ["payment_reminder", "first_notice"]
    assert db.session.scalars(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id)).all() == []


def test_a_letter_first_debtor_pays_the_letter_fee_for_each_notice_in_default_never_above_the_letter_costs(app):
    cheap = make_merchant(letter_cost_minor=95, dunning_fee_cap_minor=250)
    first = make_debtor_invoice(cheap, "older", "RE-0")
    for day in (7, 21, 35):
        run(today=DUE + timedelta(days=day))
    [fee] = db.session.scalars(select(LedgerEntry).where(LedgerEntry.invoice_id == first.id, LedgerEntry.kind == "fee")).all()
    assert fee.amount_minor == 95  # min(1,25 € step, 0,95 € letter costs)
    merchant = make_merchant(letter_cost_minor=145, dunning_fee_cap_minor=250)
    invoice = make_debtor_invoice(merchant, "older", "RE-1")
    for day in (7, 21, 35, 49):
        run(today=DUE + timedelta(days=day))
    fees = db.session.scalars(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "fee")
                              .order_by(LedgerEntry.id)).all()
    # second notice and final notice by letter: 2 × 1,25 € (the step's letter fee, below the letter's 1,45 €)
    assert [(f.amount_minor, f.data["channel"]) for f in fees] == [(125, "letter"), (125, "letter")]


def _flat_fee_invoice():
    merchant = make_merchant(business_flat_fee=True, name="Gartenhaus")
    invoice = make_debtor_invoice(merchant, "business", "RE-1")
    for day in (7, 21, 35):
        run(today=DUE + timedelta(days=day))
    [flat] = db.session.scalars(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "fee")).all()
    assert flat.amount_minor == 4000
    return merchant, invoice


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&nbsp;", " ").split())


def test_the_40_euro_flat_fee_reads_verzugspauschale_in_messages_portal_and_back_office_never_mahngebuehr(app, client):
    merchant, invoice = _flat_fee_invoice()
    second = [m for m in messages() if m.template == "second_notice"][0]
    email = render.render_email(second, link="https://x.example/p/t")
    letter = render.render_letter_html(second, link="https://x.example/p/t")
    for text in (email.text, _words(email.html), _words(letter)):
        assert "Verzugspauschale (§ 288 Abs. 5 BGB)" in text
        assert "Mahngebühr" not in text
    # The English message.
    second.language = "en"
    english = render.render_email(second, link="https://x.example/p/t")
    assert "Late-payment flat fee (section 288 (5) BGB)" in english.text and "Dunning fee" not in english.text
    db.session.rollback()
    # The debtor's portal: overview and invoice page.
    assert open_link(client, debtor_of(invoice)).status_code == 303
    overview = _words(client.get("/portal/").get_data(as_text=True))
    assert "Verzugspauschale (§ 288 Abs. 5 BGB) 40,00 €" in overview and "Mahngebühr" not in overview
    page = _words(client.get(f"/portal/invoices/{invoice.id}").get_data(as_text=True))
    assert "Verzugspauschale (§ 288 Abs. 5 BGB)" in page and "Mahngebühr" not in page
    # The back office: the invoice's figures and its timeline.
    client.get("/portal/logout")
    user = make_user(merchant, "staff@garten.example", role="support")
    user.language = "de"
    db.session.commit()
    assert sign_in(client, user.email).status_code == 303
    office = _words(client.get(f"/office/invoices/{invoice.id}").get_data(as_text=True))
    assert "Verzugspauschale (§ 288 Abs. 5 BGB) 40,00 €" in office
    assert "Verzugspauschale (§ 288 Abs. 5 BGB) von 40,00 € berechnet" in office
    assert "Mahngebühr" not in office
