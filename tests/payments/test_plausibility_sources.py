"""The plausibility limit holds for every way a payment arrives (the shop API's is in tests/api/test_api_plausibility.py):
a bank transfer far beyond what is open waits unbooked for staff, a staff member books one only after confirming it,
and a Stripe payment (the card was charged) is booked and flagged. Each is on the timeline and emailed to support."""
from __future__ import annotations

from datetime import date

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from portal import ledger
from portal.extensions import db
from portal.messaging.render import render_email
from portal.models import BankEntry, Event, Invoice, LedgerEntry, Message
from portal.payments import reconcile
from portal.payments.reconcile import assign, import_statements
from portal.timeline import sentence
from tests.factories import make_invoice, make_merchant, make_user
from tests.office.conftest import csrf_from, sign_in
from tests.payments.camt_builder import entry, statement
from tests.payments.stripe_helpers import SECRET_KEY, WEBHOOK_SECRET, deliver, intent_succeeded

TODAY = date(2026, 1, 20)


@pytest.fixture
def shop(app):
    return make_merchant("garden", name="Gartenhaus", support_email="team@garden.example",
                         stripe_secret_key=SECRET_KEY, stripe_webhook_secret=WEBHOOK_SECRET)


def payments_on(invoice) -> list[int]:
    return list(db.session.scalars(select(LedgerEntry.amount_minor).where(
        LedgerEntry.invoice_id == invoice.id, LedgerEntry.kind == "payment").order_by(LedgerEntry.id)))


def open_of(invoice) -> int:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id).open_minor


def the_flag() -> Event:
    return db.session.execute(select(Event).where(Event.kind == "payment.implausible")).scalar_one()


def the_notice() -> Message:
    return db.session.execute(select(Message).where(Message.template == "staff_implausible_payment")).scalar_one()


@pytest.mark.parametrize("bulk", [True, False], ids=["set-based", "one-by-one"])
def test_a_bank_transfer_far_beyond_the_open_amount_waits_unbooked_for_staff(app, shop, monkeypatch, bulk):
    monkeypatch.setattr(reconcile, "BULK", bulk)
    typo = make_invoice(shop, "RE-1", amount="119.00", lines=[])
    fine = make_invoice(shop, "RE-2", amount="50.00", lines=[])
    result = import_statements(shop, statement(
        entry("11900.00", ref="A1", rf=typo.rf_reference, name="Max Mustermann"),  # euros typed for cents: 100× the invoice
        entry("100.00", ref="A2", rf=fine.rf_reference),  # the invoice paid twice: plausible, booked, the rest is credit
    ), "stmt.xml", actor="import:stmt.xml", today=TODAY)
    db.session.commit()
    assert (result.total("booked"), result.total("unmatched"), result.total("implausible")) == (1, 1, 1)
    assert "1 far beyond what was open, not booked, staff notified" in result.summary()
    assert payments_on(typo) == [] and open_of(typo) == 11900
    assert payments_on(fine) == [-10000] and open_of(fine) == -5000
    held = db.session.execute(select(BankEntry).where(BankEntry.amount_minor == 1190000)).scalar_one()
    assert held.state == "unmatched"  # with its whole amount among the payments to assign

    flag = the_flag()
    assert (flag.invoice_id, flag.data["source"], flag.data["booked"], flag.data["open_minor"]) == (typo.id, "bank", False, 11900)
    with app.test_request_context(), force_locale("de"):
        assert sentence(flag) == ("Überweisung über 11.900,00\xa0€ nicht gebucht: weit mehr als offen; "
                                  "sie wartet auf die Zuordnung (Team benachrichtigt)")
    notice = the_notice()
    assert notice.recipient == "team@garden.example"
    mail = render_email(notice)
    assert mail.subject == "Unplausible Zahlung nicht gebucht (RE-1)"
    assert "Überweisung über 11.900,00\xa0€" in mail.text and "„Zuzuordnende Zahlungen“" in mail.text
    assert "_minor" not in mail.text and "1190000" not in mail.text

    # Staff decide: assigned by hand it is booked in full, what is more than open is the customer's credit.
    assign(shop, held, [db.session.get(Invoice, typo.id)], actor="user:1", today=TODAY)
    db.session.commit()
    assert payments_on(typo) == [-1190000] and open_of(typo) == 11900 - 1190000


def test_a_transfer_over_several_invoices_counts_what_they_have_open_together(app, shop):
    app.config["PAYMENT_PLAUSIBLE_EXCESS_PERCENT"] = 10
    first = make_invoice(shop, "RE-1", amount="100.00", lines=[])
    last = make_invoice(shop, "RE-2", amount="100.00", lines=[])
    both = f"{first.number} {last.number}"
    result = import_statements(shop, statement(entry("210.00", ref="A1", text=both)), "a.xml", actor="t", today=TODAY)
    assert result.total("booked") == 1  # 200 open + 10 % of the last invoice: the limit itself
    result = import_statements(shop, statement(entry("200.01", ref="B1", text=both), stmt_id="S2"), "b.xml", actor="t",
                               today=TODAY)
    assert result.total("implausible") == 1  # nothing open any more: 200.01 beyond 0 + 10.00


def _record(client, invoice, **form):
    page = client.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    return client.post(f"/office/invoices/{invoice.id}/payment",
                       data={"csrf_token": csrf_from(page), "received_on": TODAY.isoformat(), **form})


def test_staff_book_a_payment_far_beyond_the_open_amount_only_after_confirming_it(app, client, shop):
    make_user(shop, "kasse@garden.example", role="support")
    assert sign_in(client, "kasse@garden.example").status_code == 303
    invoice = make_invoice(shop, "RE-1", amount="119.00", lines=[])

    response = _record(client, invoice, amount="11900", reference="Kasse 7")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "11.900,00\xa0€ ist weit mehr, als auf dieser Rechnung offen ist (bis 238,00\xa0€ wird ohne Rückfrage gebucht)" in html
    assert 'name="confirm_excess"' in html and 'value="11900"' in html and 'value="Kasse 7"' in html  # typed again for them
    assert payments_on(invoice) == [] and db.session.scalar(select(func.count()).select_from(Message)) == 0

    response = _record(client, invoice, amount="11900", reference="Kasse 7", confirm_excess="1")
    assert response.status_code == 303
    assert payments_on(invoice) == [-1190000] and open_of(invoice) == 11900 - 1190000
    flag = the_flag()
    assert (flag.data["source"], flag.data["booked"], flag.data["open_minor"], flag.actor.startswith("user:")) == (
        "staff", True, 11900, True)
    with app.test_request_context(), force_locale("de"):
        assert sentence(flag) == "Zahlung über 11.900,00\xa0€ gebucht, obwohl weit mehr als offen war (Team benachrichtigt)"
    mail = render_email(the_notice())
    assert mail.subject == "Unplausible Zahlung gebucht (RE-1)"
    assert "wurde im Backoffice für die Rechnung RE-1 erfasst (Referenz Kasse 7)" in mail.text and "Guthaben" in mail.text
    audit = db.session.execute(select(Event).where(Event.kind == "staff.payment.record")
                               .order_by(Event.id.desc())).scalars().first()
    assert audit.data["confirmed_beyond_limit"] is True

    other = make_invoice(shop, "RE-2", amount="119.00", lines=[])
    assert _record(client, other, amount="238,00", reference="Kasse 8").status_code == 303  # up to the limit: no question
    assert payments_on(other) == [-23800]


def test_a_stripe_payment_beyond_the_limit_is_booked_because_the_card_was_charged_and_flagged(app, client, shop):
    app.config["PAYMENT_PLAUSIBLE_EXCESS_PERCENT"] = 10
    invoice = make_invoice(shop, "RE-1", amount="100.00", lines=[])
    # Paid by bank while the debtor still had Stripe's payment page open.
    ledger.book(invoice, kind="payment", amount_minor=10000, source="bank", external_ref="A1", booked_on=TODAY, actor="t")
    db.session.commit()
    event = intent_succeeded("evt_1", payment_intent="pi_1", amount=10000, invoices=invoice.number)
    assert deliver(client, shop.slug, event).status_code == 200
    assert payments_on(invoice) == [-10000, -10000] and open_of(invoice) == -10000
    flag = the_flag()
    assert (flag.data["source"], flag.data["booked"], flag.data["ref"], flag.data["open_minor"]) == ("stripe", True, "pi_1", 0)
    mail = render_email(the_notice())
    assert mail.subject == "Unplausible Zahlung gebucht (RE-1)"
    assert "Kartenzahlung über 100,00\xa0€ (Stripe, pi_1)" in mail.text and "in Stripe" in mail.text
    assert deliver(client, shop.slug, event).status_code == 200  # Stripe's retry: booked and flagged once
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.kind == "payment.implausible")) == 1


def test_a_stripe_payment_within_the_limit_is_booked_without_a_flag(app, client, shop):
    invoice = make_invoice(shop, "RE-1", amount="100.00", lines=[])
    ledger.book(invoice, kind="payment", amount_minor=10000, source="bank", external_ref="A1", booked_on=TODAY, actor="t")
    db.session.commit()
    assert deliver(client, shop.slug, intent_succeeded("evt_1", payment_intent="pi_1", amount=10000,
                                                       invoices=invoice.number)).status_code == 200
    assert open_of(invoice) == -10000  # paid twice: the double payment that happens, a credit as usual
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.kind == "payment.implausible")) == 0
