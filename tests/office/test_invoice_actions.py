"""Invoice and customer actions in the back office: each goes through the ledger / escalation, is audited
and on the timeline; view-as-customer leaves no trace as the customer."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal import links
from portal.clock import today_for
from portal.domain import dunning as rules
from portal.dunning import escalation
from portal.dunning.run import run
from portal.extensions import db
from portal.models import Event, Invoice, LedgerEntry, Message, Policy
from tests.dunning.helpers import make_debtor_invoice
from tests.office.conftest import csrf_from


@pytest.fixture
def reminded(merchant_a):
    """An invoice whose first Mahnung went out (due 25 days ago)."""
    today = today_for(merchant_a.timezone)
    invoice = make_debtor_invoice(merchant_a, "standard", "RE-ACT-1", amount="49.90", due=today - timedelta(days=25))
    run(today=today - timedelta(days=18), merchant=merchant_a)  # the reminder first: a late import never starts with a notice
    run(today=today, merchant=merchant_a)
    db.session.commit()
    db.session.refresh(invoice)
    assert invoice.dunning_step == "notice_1"
    return invoice


def _post(client, url: str, **form):
    page = client.get("/office/").get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_from(page), **form})


def _staff_events(kind: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))


def test_a_payment_recorded_on_the_invoice_page_shows_in_the_portal_and_stops_the_next_reminder(
        app, signed_in, merchant_a, reminded):
    today = today_for(merchant_a.timezone)
    portal_url = links.url_for_debtor(reminded.debtor)
    response = _post(signed_in, f"/office/invoices/{reminded.id}/payment", amount="49,90",
                     received_on=today.isoformat(), reference="Barzahlung Laden")
    assert response.status_code == 303
    db.session.refresh(reminded)
    assert (reminded.status, reminded.open_minor, reminded.next_action_on) == ("paid", 0, None)
    entry = db.session.execute(select(LedgerEntry).where(LedgerEntry.invoice_id == reminded.id,
                                                         LedgerEntry.kind == "payment")).scalar_one()
    assert (entry.amount_minor, entry.source) == (-4990, "staff")
    assert _staff_events("staff.payment.record") == 1
    # the customer's portal: nothing open any more
    customer = app.test_client()
    overview = customer.get(customer.get(portal_url.replace("http://localhost", "")).headers["Location"]).get_data(as_text=True)
    assert "Sie haben keine offenen Rechnungen bei Alpha Shop" in overview and "RE-ACT-1" not in overview
    # and the next reminder never goes out
    messages_before = db.session.scalar(select(func.count()).select_from(Message))
    run(today=today + timedelta(days=30), merchant=merchant_a)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Message)) == messages_before
    html = signed_in.get(f"/office/invoices/{reminded.id}").get_data(as_text=True)
    assert "Zahlung über 49,90\xa0€ auf anderem Weg erhalten, von Hand erfasst – die Rechnung ist damit bezahlt" in html


def test_a_wrong_amount_answers_422_with_a_translated_message_and_books_nothing(signed_in, reminded):
    response = _post(signed_in, f"/office/invoices/{reminded.id}/payment", amount="vierzig")
    assert response.status_code == 422
    assert "Bitte geben Sie den erhaltenen Betrag und den Tag des Eingangs an." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_pause_until_a_day_and_resume_set_the_next_action_as_the_escalation_rules_say(signed_in, merchant_a, reminded):
    today = today_for(merchant_a.timezone)
    until = today + timedelta(days=14)
    assert _post(signed_in, f"/office/invoices/{reminded.id}/pause", mode="until", until=until.isoformat(),
                 note="Kunde im Urlaub").status_code == 303
    db.session.refresh(reminded)
    assert (reminded.paused_reason, reminded.next_action_on) == ("staff", until)
    html = signed_in.get(f"/office/invoices/{reminded.id}").get_data(as_text=True)
    assert f"Mahnungen bis {until.strftime('%d.%m.%Y')} angehalten: Kunde im Urlaub" in html

    assert _post(signed_in, f"/office/invoices/{reminded.id}/resume").status_code == 303
    db.session.refresh(reminded)
    policy = db.session.get(Policy, reminded.dunning_policy_id)
    expected = rules.resume_day(escalation.step_rules(policy), reminded.dunning_level, reminded.due_date,
                                reminded.dunning_last_on, today)
    assert reminded.paused_reason is None and reminded.next_action_on == expected
    assert _staff_events("staff.dunning.pause") == 1 and _staff_events("staff.dunning.resume") == 1


def test_pause_until_further_notice_needs_a_reason(signed_in, reminded):
    assert _post(signed_in, f"/office/invoices/{reminded.id}/pause", mode="indefinitely", note="").status_code == 422
    assert _post(signed_in, f"/office/invoices/{reminded.id}/pause", mode="indefinitely", note="Klärung mit Anwalt").status_code == 303
    db.session.refresh(reminded)
    assert (reminded.paused_reason, reminded.next_action_on) == ("staff", None)


def test_the_current_step_goes_out_again_on_another_channel(signed_in, reminded):
    first = db.session.execute(select(Message).where(Message.purpose == "dunning", Message.template == "first_notice")).scalar_one()
    assert first.channel == "email"
    assert _post(signed_in, f"/office/invoices/{reminded.id}/resend", channel="letter").status_code == 303
    again = db.session.execute(select(Message).where(Message.purpose == "dunning", Message.id > first.id)).scalar_one()
    assert (again.channel, again.template, again.context) == ("letter", first.template, first.context)
    html = signed_in.get(f"/office/invoices/{reminded.id}").get_data(as_text=True)
    assert "1. Mahnung erneut per Brief versandt" in html


def test_revoking_links_ends_the_old_ones_and_can_send_a_new_one_at_once(app, signed_in, reminded):
    old = links.url_for_debtor(reminded.debtor).replace("http://localhost", "")
    assert _post(signed_in, f"/office/debtors/{reminded.debtor_id}/link", mode="revoke_send", channel="email").status_code == 303
    assert app.test_client().get(old).status_code in (403, 410)  # the old link no longer opens the portal
    fresh = db.session.execute(select(Message).where(Message.purpose == "new_link")).scalar_one()
    assert fresh.channel == "email"
    new = links.url_for_debtor(db.session.get(type(reminded.debtor), reminded.debtor_id)).replace("http://localhost", "")
    assert app.test_client().get(new).status_code == 303  # the new one does
    event = db.session.execute(select(Event).where(Event.kind == "staff.links.revoke")).scalar_one()
    assert event.data["new_link_sent"] is True
    html = signed_in.get(f"/office/debtors/{reminded.debtor_id}").get_data(as_text=True)
    assert "Alle bisherigen Links zum Zahlungsportal gesperrt, ein neuer Link wurde gesendet" in html


def test_writing_off_the_remainder_closes_the_invoice_through_the_ledger(signed_in, reminded):
    assert _post(signed_in, f"/office/invoices/{reminded.id}/write-off", reason="Kleinbetrag").status_code == 303
    db.session.refresh(reminded)
    assert (reminded.status, reminded.open_minor, reminded.next_action_on) == ("written_off", 0, None)
    assert db.session.execute(select(LedgerEntry.amount_minor).where(LedgerEntry.kind == "write_off")).scalar_one() == -4990
    html = signed_in.get(f"/office/invoices/{reminded.id}").get_data(as_text=True)
    assert "Rechnung ausgebucht (Grund: Kleinbetrag)" in html
    assert _post(signed_in, f"/office/invoices/{reminded.id}/write-off").status_code == 303  # a repeat is a no-op
    assert _staff_events("staff.invoice.write_off") == 1


def test_pausing_all_open_invoices_of_a_customer_at_once(signed_in, merchant_a, reminded):
    today = today_for(merchant_a.timezone)
    second = make_debtor_invoice(merchant_a, "standard", "RE-ACT-2", amount="10.00", due=today - timedelta(days=3))
    assert _post(signed_in, f"/office/debtors/{reminded.debtor_id}/pause", mode="indefinitely",
                 note="Insolvenzverfahren").status_code == 303
    for inv in (reminded, second):
        db.session.refresh(inv)
        assert inv.paused_reason == "staff"
    assert _post(signed_in, f"/office/debtors/{reminded.debtor_id}/resume").status_code == 303
    for inv in (reminded, second):
        db.session.refresh(inv)
        assert inv.paused_reason is None


def test_view_as_customer_shows_the_portal_and_writes_no_debtor_event_or_session(signed_in, reminded):
    before = db.session.scalar(select(func.count()).select_from(Event).where(Event.actor == "debtor"))
    response = signed_in.get(f"/office/debtors/{reminded.debtor_id}/as-customer")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "RE-ACT-1" in html and "49,90" in html
    assert "Vorschau für Mitarbeiter" in html
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.actor == "debtor")) == before
    with signed_in.session_transaction() as session:
        assert "debtor_id" not in session
    assert signed_in.get("/portal/").status_code == 403  # the staff browser holds no portal session
    assert _staff_events("staff.debtor.view_as_customer") == 1
