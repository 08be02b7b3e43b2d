"""The support desk: the queue by service level, decisions, and the audit trail."""
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from portal.cases import service
from portal.extensions import db
from portal.models import Event
from tests.factories import make_invoice, shop_today
from tests.office.conftest import csrf_from

TODAY = shop_today()


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


def _walk(client, url: str) -> tuple[list[int], int]:
    """Every case id the queue shows, following "Next page" to the end; and how many pages that took."""
    import re

    seen, pages = [], 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += [int(n) for n in re.findall(r'href="/office/cases/(\d+)"', html)]
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        pages += 1
    return seen, pages


def test_the_queue_comes_in_pages_that_keep_the_urgency_order_and_show_every_case_once(signed_in, merchant_a, merchant_b, monkeypatch):
    from portal.office import cases as desk

    monkeypatch.setattr(desk, "QUEUE_PAGE", 2)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    made = [_dispute(merchant_a, f"RE-{n}") for n in range(1, 8)]
    deadlines = [now + timedelta(hours=5), None, now - timedelta(hours=1), now + timedelta(hours=5), None,
                 now + timedelta(hours=2), now + timedelta(hours=5)]
    for case, due in zip(made, deadlines):
        case.sla_due_at = due
    _dispute(merchant_b, "RE-9")  # another merchant's case never shows
    closings = {made[5]: now - timedelta(days=2), made[6]: None, made[1]: now - timedelta(days=1)}
    for case, at in closings.items():
        case.status, case.resolution, case.closed_at = "resolved", "credited", at
    db.session.commit()
    waiting = [c for c in made if c.status == "open"]
    expected = [c.id for c in sorted(waiting, key=lambda c: (c.sla_due_at is None, c.sla_due_at or now, c.id))]
    seen, pages = _walk(signed_in, "/office/cases")
    assert seen == expected
    assert pages == (len(expected) + 1) // 2
    newest_first = [made[1].id, made[5].id, made[6].id]  # closed without a time: last
    assert _walk(signed_in, "/office/cases?queue=closed") == (newest_first, 2)
    first = signed_in.get("/office/cases?after=%%%")  # a hand-edited cursor answers with the first page
    assert first.status_code == 200 and f"#{expected[0]}<" in first.get_data(as_text=True)


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
