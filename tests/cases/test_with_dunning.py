"""Cases and the dunning run together, over time: reminders never go out for what a case pauses,
case messages do, and a broken plan or promise brings the dunning back exactly once."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import ledger
from portal.cases import service
from portal.dunning.run import run
from portal.extensions import db
from portal.messaging import worker
from portal.models import Message
from tests.dunning.helpers import DUE, make_debtor_invoice, start_smtp
from tests.factories import make_merchant, staff_actor
from tests.messaging.test_worker import soon


@pytest.fixture
def smtp(app):
    inbox, controller = start_smtp(app)
    yield inbox
    controller.stop()


def _templates():
    return [m.template for m in db.session.execute(select(Message).order_by(Message.id)).scalars()]


def test_a_disputed_invoice_gets_no_reminder_but_the_confirmation_and_the_reply_arrive(app, smtp):
    merchant = make_merchant(name="Gartenhaus")
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    case = service.open_dispute(invoice.debtor, [invoice], reason="damaged", body="Kratzer", today=DUE + timedelta(days=5))
    db.session.commit()
    for offset in range(6, 70):
        run(today=DUE + timedelta(days=offset))
    assert "payment_reminder" not in _templates() and "first_notice" not in _templates()
    service.reply(case, actor=staff_actor(merchant), body="Wir senden Ihnen Ersatz.")
    db.session.commit()
    worker.drain(now=soon())
    received = {m["To"]: [] for m in smtp.messages}
    for m in smtp.messages:
        received[m["To"]].append(m["Subject"])
    assert received[invoice.debtor.email] == ["Wir haben Ihren Einwand erhalten", "Eine Antwort auf Ihre Anfrage"]
    assert received[merchant.support_email] == ["Einwand von Test Standard wartet auf Antwort"]
    reply = [m for m in smtp.messages if m["Subject"] == "Eine Antwort auf Ihre Anfrage"][0]
    assert "Wir senden Ihnen Ersatz." in reply.get_body(("plain",)).get_content()


def test_a_broken_promise_resumes_dunning_once_with_the_right_message(app, smtp):
    merchant = make_merchant(name="Gartenhaus", promise_max_days=14)
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    day = DUE + timedelta(days=10)
    case = service.make_promise(invoice.debtor, [invoice], promised_on=day + timedelta(days=7), today=day)
    db.session.commit()
    for offset in range(11, 40):
        run(today=DUE + timedelta(days=offset))
        run(today=DUE + timedelta(days=offset))  # every day run twice: nothing doubles
    templates = _templates()
    assert templates.count("promise_broken") == 1
    assert templates.count("promise_reminder") == 1
    assert case.status == "broken"
    # Dunning picked up again after the promise broke (day 18): the next reminder followed.
    broken_at = templates.index("promise_broken")
    assert any(t in ("payment_reminder", "first_notice") for t in templates[broken_at + 1:])


def test_a_plan_paid_on_time_gets_no_reminders_and_closes_the_invoice(app, smtp):
    merchant = make_merchant(name="Gartenhaus")
    invoice = make_debtor_invoice(merchant, "standard", "RE-1")
    start = DUE + timedelta(days=8)
    case = service.request_plan(invoice.debtor, [invoice], rates=2, first_due=start + timedelta(days=5), today=start)
    db.session.commit()
    assert case.status == "active"
    for rate in case.plan.rates:
        for offset in range((rate.due_on - DUE).days - 4, (rate.due_on - DUE).days + 1):
            run(today=DUE + timedelta(days=offset))
        ledger.book(invoice, kind="payment", amount_minor=rate.amount_minor, source="bank",
                    external_ref=f"rate-{rate.number}", booked_on=rate.due_on, actor="bank")
        db.session.commit()
    run(today=case.plan.rates[-1].due_on + timedelta(days=1))
    templates = _templates()
    assert templates.count("plan_rate_reminder") == 2
    assert not {"first_notice", "second_notice", "final_notice"} & set(templates)
    db.session.expire_all()
    assert invoice.status == "paid" and case.status == "completed"
