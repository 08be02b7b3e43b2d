"""A card payment and a bank transfer for the same invoice at the same moment (PostgreSQL row locks)."""
from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import CheckoutItem, CheckoutSession, Event, Invoice, LedgerEntry, Merchant
from portal.payments.reconcile import import_statements
from tests.conftest import is_postgres
from tests.factories import make_invoice, make_merchant
from tests.payments.camt_builder import entry, statement
from tests.payments.stripe_helpers import SECRET_KEY, WEBHOOK_SECRET, deliver, intent_succeeded

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(not is_postgres(), reason="needs PostgreSQL (row locks between two connections); "
                       "set SETTLE_TEST_DATABASE_URL to a postgresql+psycopg URL"),
]


@pytest.mark.parametrize("round_", range(5))
def test_webhook_and_bank_import_at_once_leave_one_paid_invoice_and_a_recorded_overpayment(app, round_):
    merchant = make_merchant("garden", stripe_secret_key=SECRET_KEY, stripe_webhook_secret=WEBHOOK_SECRET)
    invoice = make_invoice(merchant, "RE-1", amount="119.00")
    db.session.add(CheckoutSession(
        merchant_id=merchant.id, debtor_id=invoice.debtor_id, public_id="chk_a", stripe_session_id="cs_a",
        url="https://checkout.stripe.com/x", amount_minor=11900, currency="EUR", status="open",
        items=[CheckoutItem(invoice_id=invoice.id, position=0, amount_minor=11900)],
    ))
    db.session.commit()
    camt = statement(entry("119.00", ref="BANK-1", rf=invoice.rf_reference))
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def webhook():
        with app.app_context():
            client = app.test_client()
            start.wait()
            outcomes["webhook"] = deliver(client, "garden", intent_succeeded("evt_1", payment_intent="pi_1", amount=11900,
                                                                             checkout_public_id="chk_a")).status_code

    def bank():
        with app.app_context():
            shop = db.session.get(Merchant, merchant.id)
            start.wait()
            result = import_statements(shop, camt, "s.xml", actor="test", today=date(2026, 1, 20))
            db.session.commit()
            outcomes["bank"] = result.total("booked")

    threads = [threading.Thread(target=webhook), threading.Thread(target=bank)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes == {"webhook": 200, "bank": 1}

    db.session.expire_all()
    paid = db.session.get(Invoice, invoice.id)
    assert (paid.status, paid.open_minor) == ("paid", -11900)
    payments = db.session.execute(select(LedgerEntry.source, LedgerEntry.amount_minor).where(LedgerEntry.kind == "payment")).all()
    assert sorted(payments) == [("bank", -11900), ("stripe", -11900)]
    overpaid = db.session.execute(select(func.count(Event.id)).where(Event.kind == "payment.overpaid")).scalar_one()
    assert overpaid == 1
