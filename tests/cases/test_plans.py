"""Installment plans over time: approval inside the rules, staff counter-offers, payment, breaking."""
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal import ledger
from portal.cases import service
from portal.cases.service import CaseError
from portal.domain import rf
from portal.extensions import db
from portal.models import Event, Message
from tests.factories import make_invoice, make_merchant, staff_actor

TODAY = date(2026, 3, 2)


def _invoice(merchant, number, amount="300.00"):
    return make_invoice(merchant, number, amount=amount, lines=[], issue_date="2026-01-10", due_date="2026-01-24")


def _messages(template):
    return db.session.execute(select(Message).where(Message.template == template)).scalars().all()


@pytest.fixture
def merchant(app):
    return make_merchant(plan_max_rates=6, plan_min_rate_minor=2500, plan_max_total_minor=500000, plan_grace_days=7)


def test_a_plan_inside_the_rules_is_active_at_once_with_a_schedule_and_paused_escalation(merchant):
    inv = _invoice(merchant, "RE-1")
    case = service.request_plan(inv.debtor, [inv], rates=3, first_due=TODAY + timedelta(days=10), today=TODAY)
    db.session.commit()
    assert case.status == "active" and case.plan.status == "active" and case.plan.approved_by == "auto"
    assert [r.amount_minor for r in case.plan.rates] == [10000, 10000, 10000]
    assert [r.due_on for r in case.plan.rates] == [date(2026, 3, 12), date(2026, 4, 12), date(2026, 5, 12)]
    assert all(rf.is_valid(r.rf_reference) for r in case.plan.rates)
    assert inv.paused_reason == "plan"
    confirmed = _messages("plan_confirmed")
    assert len(confirmed) == 1 and confirmed[0].status == "pending"
    assert [r["amount_minor"] for r in confirmed[0].context["rates"]] == [10000, 10000, 10000]


def test_a_plan_outside_the_rules_waits_for_staff_who_can_counter_and_the_debtor_accepts(merchant):
    inv = _invoice(merchant, "RE-1", amount="900.00")
    case = service.request_plan(inv.debtor, [inv], rates=12, first_due=TODAY + timedelta(days=5), today=TODAY)
    db.session.commit()
    assert case.status == "open" and case.plan.status == "proposed" and not case.plan.rates
    assert inv.paused_reason == "plan"  # no reminders while staff decide
    service.counter_plan(case, actor=staff_actor(merchant), today=TODAY, rates=6, first_due=TODAY + timedelta(days=14), note="6 Raten sind möglich.")
    db.session.commit()
    assert case.status == "countered" and len(_messages("plan_countered")) == 1
    service.accept_counter(case, inv.debtor, today=TODAY + timedelta(days=1))
    db.session.commit()
    assert case.status == "active" and case.plan.rates_count == 6
    assert sum(r.amount_minor for r in case.plan.rates) == 90000


def test_paying_every_rate_completes_the_plan_and_closes_the_invoice(merchant):
    inv = _invoice(merchant, "RE-1", amount="200.00")
    case = service.request_plan(inv.debtor, [inv], rates=2, first_due=TODAY + timedelta(days=3), today=TODAY)
    for n, rate in enumerate(case.plan.rates, 1):
        ledger.book(inv, kind="payment", amount_minor=rate.amount_minor, source="bank", external_ref=f"rate-{n}",
                    booked_on=rate.due_on, actor="bank")
    db.session.commit()
    assert inv.status == "paid"
    service.daily(merchant, TODAY + timedelta(days=40))
    db.session.commit()
    assert case.status == "completed" and case.plan.status == "completed"


def test_a_rate_missed_beyond_the_grace_period_ends_the_plan_once_and_resumes_escalation(merchant):
    inv = _invoice(merchant, "RE-1", amount="300.00")
    case = service.request_plan(inv.debtor, [inv], rates=3, first_due=date(2026, 3, 10), today=TODAY)
    ledger.book(inv, kind="payment", amount_minor=10000, source="bank", external_ref="rate-1",
                booked_on=date(2026, 3, 10), actor="bank")
    db.session.commit()
    # Second rate due 10 April, grace 7 days: still fine on the 17th, broken on the 18th.
    for day in (date(2026, 4, 7), date(2026, 4, 10), date(2026, 4, 17)):
        service.daily(merchant, day)
        db.session.commit()
    assert case.status == "active"
    assert len(_messages("plan_rate_reminder")) == 1  # reminded once before the second rate
    for _ in range(2):  # the daily run may be repeated: it breaks the plan only once
        service.daily(merchant, date(2026, 4, 18))
        db.session.commit()
    assert case.status == "broken" and case.plan.status == "broken"
    assert inv.paused_reason is None and inv.next_action_on is not None
    assert len(_messages("plan_broken")) == 1
    resumed = db.session.execute(select(Event).where(Event.invoice_id == inv.id, Event.kind == "dunning.resumed")).scalars().all()
    assert len(resumed) == 1


def test_waived_charges_are_credited_when_the_plan_starts(merchant):
    merchant.plan_include_charges = False
    inv = _invoice(merchant, "RE-1", amount="100.00")
    ledger.book(inv, kind="fee", amount_minor=250, source="dunning", external_ref="fee-1", booked_on=TODAY, actor="system")
    db.session.commit()
    case = service.request_plan(inv.debtor, [inv], rates=2, first_due=TODAY + timedelta(days=5), today=TODAY)
    db.session.commit()
    assert case.plan.total_minor == 10000
    assert inv.open_minor == 10000


def test_an_invoice_with_a_standing_case_cannot_get_a_second_one(merchant):
    inv = _invoice(merchant, "RE-1")
    service.request_plan(inv.debtor, [inv], rates=3, first_due=TODAY + timedelta(days=10), today=TODAY)
    with pytest.raises(CaseError) as exc:
        service.make_promise(inv.debtor, [inv], promised_on=TODAY + timedelta(days=5), today=TODAY)
    assert exc.value.code == "case_exists"


def test_another_debtors_invoice_cannot_be_put_into_a_plan(merchant):
    mine = _invoice(merchant, "RE-1")
    theirs = make_invoice(merchant, "RE-2", debtor={"external_ref": "K-2", "name": "Erika"})
    with pytest.raises(CaseError) as exc:
        service.request_plan(mine.debtor, [mine, theirs], rates=2, first_due=TODAY + timedelta(days=3), today=TODAY)
    assert exc.value.code == "unknown_invoice"
