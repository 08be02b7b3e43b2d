"""What a bank payment leaves behind: a remainder up to the merchant's tolerance (default 1.00 EUR, bank
charges the payer's bank took) is not dunned (written off, or shown to staff); an overpayment is a credit
the debtor sees in the portal and staff refund or set against another open invoice, all through the ledger."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, Invoice, LedgerEntry, Message
from portal.payments import credits
from portal.payments.reconcile import import_statements
from tests.factories import make_invoice, make_merchant, make_user
from tests.office.conftest import PASSWORD, csrf_from, sign_in
from tests.payments.camt_builder import entry, statement

TODAY = date(2026, 1, 20)


@pytest.fixture
def merchant(app):
    merchant = make_merchant("garden")
    merchant.support_email = "team@garden.example"
    db.session.commit()
    return merchant


def pay(merchant, invoice, amount: str, ref: str):
    import_statements(merchant, statement(entry(amount, ref=ref, rf=invoice.rf_reference, value="2026-01-15")), f"{ref}.xml",
                      actor="import:test", today=TODAY)
    db.session.commit()
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


def kinds(invoice) -> list[tuple[str, int]]:
    return [(k, a) for k, a in db.session.execute(select(LedgerEntry.kind, LedgerEntry.amount_minor)
                                                  .where(LedgerEntry.invoice_id == invoice.id).order_by(LedgerEntry.id))]


def staff_notices(template: str) -> list[Message]:
    return db.session.scalars(select(Message).where(Message.template == template)).all()


def test_remainder_of_0_50_eur_within_the_default_1_eur_tolerance_is_written_off_and_not_dunned(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    after = pay(merchant, invoice, "118.50", "B1")
    assert (after.status, after.open_minor, after.next_action_on) == ("paid", 0, None)
    assert kinds(invoice) == [("payment", -11850), ("write_off", -50)]
    event = db.session.scalars(select(Event).where(Event.kind == "payment.small_remainder")).one()
    assert event.data == {"amount_minor": 50, "currency": "EUR", "tolerance_minor": 100, "action": "write_off",
                          "ref": "DE89370400440532013000:B1"}


def test_remainder_above_the_tolerance_stays_open_and_is_dunned(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    after = pay(merchant, invoice, "117.99", "B1")
    assert (after.status, after.open_minor) == ("open", 101)
    assert kinds(invoice) == [("payment", -11799)]


def test_with_the_staff_setting_the_remainder_pauses_reminders_and_tells_staff(merchant):
    merchant.remainder_action = "staff"
    merchant.remainder_tolerance_minor = 300
    db.session.commit()
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    after = pay(merchant, invoice, "116.50", "B1")
    assert (after.status, after.open_minor, after.paused_reason) == ("open", 250, "staff")
    assert kinds(invoice) == [("payment", -11650)]
    [notice] = staff_notices("staff_small_remainder")
    assert notice.recipient == "team@garden.example"
    assert notice.context["invoice_number"] == "RE-1" and notice.context["amount"] == str(after.open_amount)


def test_an_overpayment_is_a_credit_staff_are_told_about(merchant):
    invoice = make_invoice(merchant, "RE-1", amount="50.00")
    after = pay(merchant, invoice, "60.00", "B1")
    assert (after.status, after.open_minor) == ("paid", -1000)
    [notice] = staff_notices("staff_credit")
    assert notice.context["invoice_number"] == "RE-1" and notice.context["handling"] == "refund"
    assert credits.debtor_credits(after.debtor) == [after]


def test_staff_refund_a_credit_recorded_in_the_ledger_and_audited(merchant, client):
    invoice = make_invoice(merchant, "RE-1", amount="50.00")
    pay(merchant, invoice, "60.00", "B1")
    user = make_user(merchant, "support@garden.example", password=PASSWORD)
    sign_in(client, user.email)
    page = client.get(f"/office/invoices/{invoice.id}").get_data(as_text=True)
    assert "Guthaben von 10,00 €: erstatten" in page.replace("\u00a0", " ").replace("&nbsp;", " ")
    response = client.post(f"/office/invoices/{invoice.id}/credit/refund",
                           data={"csrf_token": csrf_from(page), "note": "überwiesen am 21.01.2026"})
    assert response.status_code in (302, 303)
    db.session.expire_all()
    after = db.session.get(Invoice, invoice.id)
    assert (after.status, after.open_minor) == ("paid", 0)
    assert kinds(invoice)[-1] == ("refund", 1000)
    assert db.session.scalars(select(Event).where(Event.kind == "credit.refunded")).one().data["amount_minor"] == 1000
    assert db.session.scalars(select(Event).where(Event.kind == "staff.credit.refund")).one()
    again = client.post(f"/office/invoices/{invoice.id}/credit/refund", data={"csrf_token": csrf_from(page)})
    assert again.status_code == 422 and "kein Guthaben mehr" in again.get_data(as_text=True)


def test_staff_set_a_credit_against_another_open_invoice_of_the_same_debtor(merchant, client):
    first = make_invoice(merchant, "RE-1", amount="50.00")
    second = make_invoice(merchant, "RE-2", amount="30.00", debtor={"external_ref": first.debtor.external_ref})
    other = make_invoice(merchant, "RE-3", amount="30.00", debtor={"external_ref": "K-OTHER", "name": "Someone Else"})
    pay(merchant, first, "60.00", "B1")
    user = make_user(merchant, "support@garden.example", password=PASSWORD)
    sign_in(client, user.email)
    page = client.get(f"/office/invoices/{first.id}").get_data(as_text=True)
    assert "RE-2 · 30,00 €" in page.replace("\u00a0", " ").replace("&nbsp;", " ") and "RE-3" not in page
    token = csrf_from(page)
    foreign = client.post(f"/office/invoices/{first.id}/credit/apply", data={"csrf_token": token, "target": other.id})
    assert foreign.status_code == 422
    ok = client.post(f"/office/invoices/{first.id}/credit/apply", data={"csrf_token": token, "target": second.id})
    assert ok.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(Invoice, first.id).open_minor == 0
    assert db.session.get(Invoice, second.id).open_minor == 2000
    assert kinds(first)[-1] == ("refund", 1000) and kinds(second)[-1] == ("payment", -1000)
    assert db.session.scalars(select(Event).where(Event.kind == "staff.credit.apply")).one().data["to_number"] == "RE-2"


@pytest.mark.parametrize("handling, language, expected", [
    ("refund", "de", "erstattet Ihnen dieses Guthaben auf das Konto, von dem Sie gezahlt haben"),
    ("offset", "de", "verrechnet dieses Guthaben mit einer offenen oder Ihrer nächsten Rechnung"),
    ("refund", "en", "will refund this credit to the account you paid from"),
    ("offset", "en", "will set this credit against an open or your next invoice"),
])
def test_the_debtor_sees_the_credit_and_what_happens_next_in_the_portal(merchant, client, handling, language, expected):
    from tests.debtor.conftest import open_link, text as visible

    merchant.credit_handling = handling
    db.session.commit()
    invoice = make_invoice(merchant, "RE-1", amount="50.00", debtor={"language": language})
    pay(merchant, invoice, "60.00", "B1")
    assert open_link(client, invoice.debtor).status_code == 303
    text = visible(client.get("/portal/"))
    detail = visible(client.get(f"/portal/invoices/{invoice.id}"))
    assert expected in detail
    if language == "de":
        assert "Ihr Guthaben" in text and "10,00 €" in text
        assert "Sie haben auf Rechnung RE-1 10,00 € mehr bezahlt, als offen war." in text
    else:
        assert "Your credit" in text and "€10.00" in text
    assert expected in text
    assert "amount_minor" not in text and "credit_handling" not in text and "-1000" not in text


def test_an_overpayment_the_shop_reports_through_the_api_also_tells_staff(merchant, client):
    from tests.factories import make_api_key

    invoice = make_invoice(merchant, "RE-9", amount="80.00")
    response = client.post("/api/v1/invoices/RE-9/payments", json={"amount": "95.00", "reference": "PP-1", "received_on": "2026-01-10"},
                           headers={"Authorization": f"Bearer {make_api_key(merchant)}"})
    assert response.status_code == 201
    [notice] = staff_notices("staff_credit")
    assert notice.context["invoice_number"] == "RE-9" and notice.recipient == "team@garden.example"
    db.session.expire_all()
    assert db.session.get(Invoice, invoice.id).open_minor == -1500
