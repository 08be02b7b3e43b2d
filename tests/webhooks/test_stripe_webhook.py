"""Stripe webhooks: verified on the raw body, stored by id, processed once, any order, any repeat."""
from __future__ import annotations

import random
import time

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import CheckoutItem, CheckoutSession, Event, Invoice, LedgerEntry, Message, StripeEvent
from tests.factories import make_invoice, make_merchant
from tests.payments.stripe_helpers import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    charge_refunded,
    deliver,
    dispute_created,
    event,
    intent_succeeded,
    session_completed,
    signed,
)


@pytest.fixture
def merchant(app):
    return make_merchant("garden", stripe_secret_key=SECRET_KEY, stripe_webhook_secret=WEBHOOK_SECRET)


def make_checkout(merchant, invoices, public_id, session_id=None):
    items = sorted(invoices, key=lambda inv: (inv.due_date, inv.id))
    checkout = CheckoutSession(
        merchant_id=merchant.id, debtor_id=items[0].debtor_id, public_id=public_id,
        stripe_session_id=session_id or f"cs_{public_id}", url="https://checkout.stripe.com/x",
        amount_minor=sum(inv.open_minor for inv in items), currency="EUR", status="open",
        items=[CheckoutItem(invoice_id=inv.id, position=n, amount_minor=inv.open_minor) for n, inv in enumerate(items)],
    )
    db.session.add(checkout)
    db.session.commit()
    return checkout


def stored_events() -> int:
    return db.session.execute(select(func.count(StripeEvent.id))).scalar_one()


def ledger_rows() -> int:
    return db.session.execute(select(func.count(LedgerEntry.id))).scalar_one()


def reload(invoice) -> Invoice:
    db.session.expire_all()
    return db.session.get(Invoice, invoice.id)


def test_unknown_merchant_answers_404_and_stores_nothing(client, merchant):
    response = deliver(client, "nobody", event("evt_1", "payment_intent.succeeded", {"id": "pi_1"}))
    assert response.status_code == 404
    assert stored_events() == 0


def test_bad_signature_is_rejected_and_nothing_is_stored(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    evt = session_completed("evt_1", session_id="cs_chk_a", payment_intent="pi_1", amount=11900, checkout_public_id="chk_a")
    response = deliver(client, "garden", evt, secret="whsec_someone_else")
    assert response.status_code == 400
    body, headers = signed(evt)
    tampered = body.replace(b"11900", b"99900")
    assert client.post("/webhooks/stripe/garden", data=tampered, headers=headers).status_code == 400
    assert client.post("/webhooks/stripe/garden", data=body).status_code == 400  # no signature header at all
    assert stored_events() == 0 and ledger_rows() == 0
    assert reload(invoice).open_minor == 11900


def test_a_stale_timestamp_is_rejected_and_nothing_is_stored(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    evt = session_completed("evt_1", session_id="cs_chk_a", payment_intent="pi_1", amount=11900, checkout_public_id="chk_a")
    response = deliver(client, "garden", evt, at=int(time.time()) - 301)
    assert response.status_code == 400
    assert stored_events() == 0 and ledger_rows() == 0
    assert deliver(client, "garden", evt, at=int(time.time()) - 250).status_code == 200


def test_unknown_event_types_are_acknowledged_and_kept(client, merchant):
    response = deliver(client, "garden", event("evt_x", "customer.created", {"id": "cus_1"}))
    assert response.status_code == 200
    row = db.session.execute(select(StripeEvent)).scalar_one()
    assert (row.event_id, row.status) == ("evt_x", "ignored")


def test_checkout_completed_pays_the_invoices_once_whatever_else_reports_the_same_payment(client, merchant):
    old = make_invoice(merchant, "RE-1", amount="100.00", due_date="2026-01-10", issue_date="2026-01-01")
    new = make_invoice(merchant, "RE-2", amount="50.00", due_date="2026-01-20", issue_date="2026-01-01")
    make_checkout(merchant, [old, new], "chk_a")
    completed = session_completed("evt_1", session_id="cs_chk_a", payment_intent="pi_1", amount=15000, checkout_public_id="chk_a")
    assert deliver(client, "garden", completed).status_code == 200
    assert deliver(client, "garden", completed).get_json()["duplicate"] is True
    assert deliver(client, "garden", intent_succeeded("evt_2", payment_intent="pi_1", amount=15000,
                                                      checkout_public_id="chk_a")).status_code == 200
    assert (reload(old).status, reload(old).open_minor) == ("paid", 0)
    assert (reload(new).status, reload(new).open_minor) == ("paid", 0)
    assert ledger_rows() == 2
    assert db.session.execute(select(CheckoutSession.status)).scalar_one() == "paid"


def test_an_unpaid_completion_books_nothing_until_the_delayed_payment_succeeds(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    deliver(client, "garden", session_completed("evt_1", session_id="cs_chk_a", payment_intent="pi_1", amount=11900,
                                                 checkout_public_id="chk_a", status="unpaid"))
    assert reload(invoice).open_minor == 11900
    assert db.session.execute(select(CheckoutSession.status)).scalar_one() == "processing"
    deliver(client, "garden", session_completed("evt_2", session_id="cs_chk_a", payment_intent="pi_1", amount=11900,
                                                 checkout_public_id="chk_a", type_="checkout.session.async_payment_succeeded"))
    assert reload(invoice).status == "paid"


def test_a_failed_delayed_payment_leaves_the_invoice_open_and_says_so(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    deliver(client, "garden", session_completed("evt_1", session_id="cs_chk_a", payment_intent="pi_1", amount=11900,
                                                 checkout_public_id="chk_a", status="unpaid",
                                                 type_="checkout.session.async_payment_failed"))
    assert reload(invoice).open_minor == 11900
    assert db.session.execute(select(Event.kind).where(Event.invoice_id == invoice.id, Event.kind == "payment.failed")).first()


def test_a_refund_reopens_the_invoice(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    deliver(client, "garden", intent_succeeded("evt_1", payment_intent="pi_1", amount=11900, checkout_public_id="chk_a"))
    assert reload(invoice).status == "paid"
    deliver(client, "garden", charge_refunded("evt_2", payment_intent="pi_1", amount=11900, refunded=4000,
                                              checkout_public_id="chk_a"))
    assert (reload(invoice).status, reload(invoice).open_minor) == ("open", 4000)


def test_a_dispute_before_its_payment_waits_then_books_a_chargeback_and_flags_the_invoice(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    deliver(client, "garden", dispute_created("evt_d", dispute_id="dp_1", payment_intent="pi_1", amount=11900))
    assert db.session.execute(select(StripeEvent.status).where(StripeEvent.event_id == "evt_d")).scalar_one() == "deferred"
    deliver(client, "garden", intent_succeeded("evt_1", payment_intent="pi_1", amount=11900, checkout_public_id="chk_a"))
    assert (reload(invoice).status, reload(invoice).open_minor) == ("open", 11900)
    kinds = set(db.session.execute(select(Event.kind).where(Event.invoice_id == invoice.id)).scalars())
    assert {"ledger.payment", "ledger.chargeback", "payment.disputed"} <= kinds
    assert db.session.execute(select(StripeEvent.status).where(StripeEvent.event_id == "evt_d")).scalar_one() == "processed"
    notice = db.session.execute(select(Message).where(Message.purpose == "staff_notice")).scalar_one()
    assert (notice.template, notice.recipient) == ("staff_payment_disputed", merchant.support_email)
    assert notice.context["invoice_numbers"] == ["RE-1"]
    # The same dispute delivered again notifies nobody twice.
    deliver(client, "garden", dispute_created("evt_d2", dispute_id="dp_1", payment_intent="pi_1", amount=11900))
    assert db.session.execute(select(func.count(Message.id)).where(Message.purpose == "staff_notice")).scalar_one() == 1
    assert reload(invoice).open_minor == 11900


def test_an_inquiry_flags_the_invoice_without_taking_money_back(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    deliver(client, "garden", intent_succeeded("evt_1", payment_intent="pi_1", amount=11900, checkout_public_id="chk_a"))
    deliver(client, "garden", dispute_created("evt_d", dispute_id="dp_1", payment_intent="pi_1", amount=11900,
                                              status="warning_needs_response"))
    assert reload(invoice).status == "paid"
    assert db.session.execute(select(Event.kind).where(Event.kind == "payment.disputed")).first()


def test_a_processing_failure_is_recorded_and_answered_500_so_stripe_retries(client, merchant):
    invoice = make_invoice(merchant, "RE-1")
    make_checkout(merchant, [invoice], "chk_a")
    bad = intent_succeeded("evt_1", payment_intent="pi_1", amount=11900, checkout_public_id="chk_a", currency="usd")
    assert deliver(client, "garden", bad).status_code == 500
    row = db.session.execute(select(StripeEvent)).scalar_one()
    assert row.status == "failed" and "USD" in row.error
    assert ledger_rows() == 0
    assert deliver(client, "garden", bad).status_code == 500
    db.session.expire_all()
    assert db.session.execute(select(StripeEvent.attempts)).scalar_one() == 2


def test_payments_settle_did_not_start_are_acknowledged_and_ignored(client, merchant):
    make_invoice(merchant, "RE-1")
    response = deliver(client, "garden", intent_succeeded("evt_1", payment_intent="pi_shop", amount=5000))
    assert response.status_code == 200 and response.get_json()["status"] == "ignored"
    assert ledger_rows() == 0


def test_two_thousand_events_delivered_up_to_three_times_in_random_order_leave_every_balance_exact(client, merchant):
    rng = random.Random(20260122)
    events: list[dict] = []
    expected: dict[int, int] = {}
    invoices = []
    for n in range(200):
        count = rng.choice((1, 1, 2, 3))
        group = [
            make_invoice(merchant, f"RE-{n}-{k}", amount=f"{rng.randint(10, 900)}.{rng.randint(0, 99):02d}",
                         due_date=f"2026-01-{10 + k:02d}", issue_date="2026-01-01", debtor={"external_ref": f"K-{n}"})
            for k in range(count)
        ]
        invoices += group
        checkout = make_checkout(merchant, group, f"chk_{n}")
        items = [(item.invoice_id, item.amount_minor) for item in checkout.items]
        total = checkout.amount_minor
        pi = f"pi_{n}"
        for inv_id, amount in items:
            expected[inv_id] = 0
        events.append(session_completed(f"evt_{n}_cs", session_id=f"cs_chk_{n}", payment_intent=pi, amount=total,
                                        checkout_public_id=f"chk_{n}"))
        events.append(intent_succeeded(f"evt_{n}_pi", payment_intent=pi, amount=total, checkout_public_id=f"chk_{n}"))
        fate = n % 4
        refunded = 0
        if fate == 1:  # two partial refunds; Stripe reports the running total
            first, second = total // 4, total // 2
            events.append(charge_refunded(f"evt_{n}_r1", payment_intent=pi, amount=total, refunded=first, checkout_public_id=f"chk_{n}"))
            events.append(charge_refunded(f"evt_{n}_r2", payment_intent=pi, amount=total, refunded=second, checkout_public_id=f"chk_{n}"))
            refunded = second
        elif fate == 2:  # a dispute that withdraws the money
            events.append(dispute_created(f"evt_{n}_d", dispute_id=f"dp_{n}", payment_intent=pi, amount=total))
            refunded = total
        # Refunds and chargebacks come back newest share first.
        for inv_id, amount in reversed(items):
            back = min(amount, refunded)
            expected[inv_id] += back
            refunded -= back
    for k in range(2000 - len(events)):
        events.append(event(f"evt_noise_{k}", rng.choice(["customer.created", "invoice.paid", "payout.paid"]), {"id": f"x_{k}"}))
    assert len(events) == 2000

    deliveries = [e for e in events for _ in range(rng.randint(1, 3))]
    rng.shuffle(deliveries)
    for evt in deliveries:
        assert deliver(client, "garden", evt).status_code == 200

    db.session.expire_all()
    actual = dict(db.session.execute(select(Invoice.id, Invoice.open_minor)).all())
    assert actual == expected
    assert stored_events() == 2000
    statuses = dict(db.session.execute(select(StripeEvent.status, func.count()).group_by(StripeEvent.status)).all())
    assert "failed" not in statuses and "deferred" not in statuses
