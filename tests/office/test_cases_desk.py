"""The support desk: the queue by service level, decisions, and the audit trail."""
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from portal.cases import service
from portal.extensions import db
from portal.models import Event
from tests.factories import make_invoice
from tests.office.conftest import csrf_from

TODAY = date.today()


def _dispute(merchant, number, reason="damaged", body="kaputt"):
    inv = make_invoice(merchant, number, debtor={"external_ref": f"K-{number}", "name": f"Kunde {number}"})
    case = service.open_dispute(inv.debtor, [inv], reason=reason, body=body, today=TODAY)
    db.session.commit()
    return case


def test_the_queue_lists_the_most_urgent_case_first_and_marks_overdue_ones(signed_in, merchant_a):
    later = _dispute(merchant_a, "RE-1")
    overdue = _dispute(merchant_a, "RE-2")
    overdue.sla_due_at = datetime.now(timezone.utc) - timedelta(hours=3)
    db.session.commit()
    html = signed_in.get("/office/cases").get_data(as_text=True)
    assert html.index(f"#{overdue.id}") < html.index(f"#{later.id}")
    assert html.count('class="overdue"') == 1


def test_staff_resolve_a_dispute_with_a_partial_credit_and_the_action_is_audited(signed_in, merchant_a, staff_a):
    case = _dispute(merchant_a, "RE-1")
    inv = case.invoices[0]
    page = signed_in.get(f"/office/cases/{case.id}").get_data(as_text=True)
    response = signed_in.post(f"/office/cases/{case.id}/dispute/resolve", data={
        "csrf_token": csrf_from(page), "mode": "partial", f"credit_{inv.id}": "19,00", "note": "Kulanz",
    })
    assert response.status_code == 303
    db.session.expire_all()
    assert inv.open_minor == 10000
    audit = db.session.execute(select(Event).where(Event.kind == "staff.dispute.resolve")).scalar_one()
    assert audit.actor == f"user:{staff_a.id}" and audit.invoice_id == inv.id


def test_a_credit_larger_than_the_open_amount_is_refused_with_the_page_again(signed_in, merchant_a):
    case = _dispute(merchant_a, "RE-1")
    inv = case.invoices[0]
    page = signed_in.get(f"/office/cases/{case.id}").get_data(as_text=True)
    response = signed_in.post(f"/office/cases/{case.id}/dispute/resolve", data={
        "csrf_token": csrf_from(page), "mode": "partial", f"credit_{inv.id}": "500,00",
    })
    assert response.status_code == 422
    assert "höchstens so hoch wie der offene Betrag" in response.get_data(as_text=True)
    db.session.expire_all()
    assert inv.open_minor == 11900 and case.status == "open"


def test_staff_counter_a_plan_request_outside_the_rules(signed_in, merchant_a):
    inv = make_invoice(merchant_a, "RE-9", amount="900.00", lines=[])
    case = service.request_plan(inv.debtor, [inv], rates=12, first_due=TODAY + timedelta(days=5), today=TODAY)
    db.session.commit()
    page = signed_in.get(f"/office/cases/{case.id}").get_data(as_text=True)
    response = signed_in.post(f"/office/cases/{case.id}/plan/counter", data={
        "csrf_token": csrf_from(page), "rates": "6", "first_due": (TODAY + timedelta(days=10)).isoformat(), "note": "Sechs Raten",
    })
    assert response.status_code == 303
    db.session.expire_all()
    assert case.status == "countered" and case.plan.rates_count == 6


def test_internal_notes_stay_internal(signed_in, merchant_a):
    case = _dispute(merchant_a, "RE-1")
    page = signed_in.get(f"/office/cases/{case.id}").get_data(as_text=True)
    signed_in.post(f"/office/cases/{case.id}/reply", data={"csrf_token": csrf_from(page), "body": "Lager fragen", "internal": "1"})
    db.session.expire_all()
    assert case.notes[-1].internal is True


def test_decisions_need_the_csrf_token(signed_in, merchant_a):
    case = _dispute(merchant_a, "RE-1")
    response = signed_in.post(f"/office/cases/{case.id}/dispute/resolve", data={"mode": "full"})
    assert response.status_code == 400
    db.session.expire_all()
    assert case.status == "open"
